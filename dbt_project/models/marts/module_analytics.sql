{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='module_id',
        engine=lms_engine('ReplacingMergeTree(updated_at)'),
        order_by='module_id',
    )
}}
{#-
  module_analytics: one row per module of the course structure (metrics.md
  "module_analytics / lesson_analytics").

  The counters are sums over int_learner_course_items (one row per course, learner and module
  started, with the learner's part of every counter: completion, dropoff, views, time).

  Incremental replace unit: the module, recomputed from all its rows there when a row newer
  than this model's watermark touches it:
    - int_learner_course_items rows written since (its computed_at: the pairs of learners and
      courses that run recomputed),
    - every module of a course whose structure may have changed (lms_restructured_courses).

  Definitions used (int_learner_course_items applies them per learner):
    - the module's lessons: lessons whose resolved module_id is the module (int_course_structure);
    - started module: any UserActivity on it or on one of its lessons, or ProgressUpdated on
      one of its lessons;
    - completed module: every one of its lessons has a ProgressUpdated at 100 by the learner
      (a module without lessons is never completed, as a course without lessons has progress 0);
    - average_time_spent: per learner with activity on the module or its lessons, the sum of
      those activities' Duration; the mean over those learners;
    - dropped off: did not complete the course and started no module with a greater Position.
-#}
{#- tables read only by the incremental branch -#}
-- depends_on: {{ ref('stg_lms__content_published') }}

{%- if is_incremental() %}
{%- set changed_modules_sql %}
    select item_id as module_id
    from {{ ref('int_learner_course_items') }}
    where item_type = 'module' and {{ lms_fresh(ref('int_learner_course_items')) }}
    union all
    select item_id
    from {{ ref('int_course_structure') }}
    where item_type = 'module' and course_id in ({{ lms_restructured_courses() }})
{% endset %}
{#- the changed modules, resolved once (macros/changed_sets.sql) -#}
{%- set changed_modules = lms_changed_set(changed_modules_sql) %}
{{ lms_skip_when_unchanged([changed_modules]) }}
{%- endif %}

with

-- The (changed) modules, from the latest structure.
modules as (
    select item_id as module_id, course_id
    from {{ ref('int_course_structure') }}
    where item_type = 'module'
    {%- if is_incremental() %}
      and {{ lms_in('item_id', changed_modules) }}
    {%- endif %}
),

module_stats as (
    {{ lms_learner_item_stats('module', changed_modules if is_incremental() else none) }}
),

computed as (
    select
        {{ lms_id('module_analytics', ['m.module_id']) }} as id,
        m.course_id as course_id,
        m.module_id as module_id,
        coalesce(r.total_views, 0) as total_views,
        coalesce(r.unique_views, 0) as unique_views,
        if(
            coalesce(r.learners_with_activity, 0) = 0,
            cast(null as Nullable(Int64)),
            toInt64(floor(r.activity_seconds / r.learners_with_activity + 0.5))
        ) as average_time_spent,
        if(
            coalesce(r.started, 0) = 0,
            cast(null as Nullable(Float64)),
            r.completers / r.started
        ) as completion_rate,
        if(
            coalesce(r.started, 0) = 0,
            cast(null as Nullable(Float64)),
            r.dropped_off / r.started
        ) as dropoff_rate
    from modules as m
    left join module_stats as r on r.stats_item_id = m.module_id and r.stats_course_id = m.course_id
)

{{ lms_bookkeeping('computed', 'module_id', previous_filter=lms_in('module_id', changed_modules) if is_incremental() else none) }}
