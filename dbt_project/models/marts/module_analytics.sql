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

  Incremental replace unit: the course. dropoff_rate of a module depends on what its learners
  started later in the course, so every module of a course is recomputed together when a
  staging row newer than this model's watermark touches the course:
    - ContentPublished (every course the item was ever published in),
    - UserActivity on a module or lesson, ProgressUpdated (the course holding the module /
      lesson in the structure), CourseCompleted (its course).

  Learner facts come from int_learner_items (one row per learner and module / lesson, shared
  with lesson_analytics), placed in the latest structure here.

  Definitions used:
    - the module's lessons: lessons whose resolved module_id is the module (int_course_structure);
    - started module: any UserActivity on it or on one of its lessons, or ProgressUpdated on
      one of its lessons;
    - completed module: every one of its lessons has a ProgressUpdated at 100 by the learner
      (a module without lessons is never completed, as a course without lessons has progress 0);
    - average_time_spent: per learner with activity on the module or its lessons, the sum of
      those activities' Duration; the mean over those learners;
    - later in the course: a started module with a greater Position.
-#}
{#- tables read only by the incremental branch -#}
-- depends_on: {{ ref('stg_lms__content_published') }} {{ ref('stg_lms__user_activity') }} {{ ref('stg_lms__progress_updated') }}

{%- if is_incremental() %}
{%- set changed_courses_sql %}
    select key as course_id
    from (
        {{ lms_changed_keys([(ref('stg_lms__course_completed'), 'course_id')]) }}
    )
    union all
    -- a (re)published item changes every course it was ever published in
    select course_id
    from {{ ref('stg_lms__content_published') }}
    where item_id in (
        select item_id from {{ ref('stg_lms__content_published') }}
        where {{ lms_fresh(ref('stg_lms__content_published')) }}
    )
    union all
    -- the courses holding the modules and lessons that new events are about
    select course_id
    from {{ ref('int_course_structure') }}
    where (item_type, item_id) in (
        select resource_type, resource_id from {{ ref('stg_lms__user_activity') }}
        where {{ lms_fresh(ref('stg_lms__user_activity')) }}
          and resource_type in ('module', 'lesson')
        union all
        select 'lesson', lesson_id from {{ ref('stg_lms__progress_updated') }}
        where {{ lms_fresh(ref('stg_lms__progress_updated')) }}
    )
{% endset %}
{#- the changed courses, resolved once (macros/changed_sets.sql) -#}
{%- set changed_courses = lms_changed_set(changed_courses_sql) %}
{{ lms_skip_when_unchanged([changed_courses]) }}
{%- endif %}

with

-- The modules and lessons of the (changed) courses, from the latest structure (small);
-- every item carries its module (a module itself, a lesson its resolved module).
structure as (
    select
        item_type,
        item_id,
        course_id,
        if(item_type = 'module', item_id, ifNull(module_id, '')) as item_module_id,
        toInt64(ifNull(module_position, 0)) as item_module_position
    from {{ ref('int_course_structure') }}
    where item_type in ('module', 'lesson')
    {%- if is_incremental() %}
      and {{ lms_in('course_id', changed_courses) }}
    {%- endif %}
),

modules as (
    select item_id as module_id, course_id
    from structure
    where item_type = 'module'
),

lesson_counts as (
    select item_module_id as counted_module_id, count() as module_lessons
    from structure
    where item_type = 'lesson'
    group by item_module_id
),

-- The learner's items (int_learner_items) placed in the latest structure: one row per
-- (course, learner, module or lesson started); a lesson counts for its resolved module.
learner_items as (
    select
        s.course_id as course_id,
        i.user_id as user_id,
        s.item_module_id as fact_module_id,
        s.item_module_position as module_position,
        if(i.item_type = 'module', i.views, toUInt64(0)) as module_views,
        i.activity_seconds as seconds,
        i.has_activity as has_activity,
        toUInt8(i.item_type = 'lesson' and i.completed = 1) as completed_lesson
    from {{ ref('int_learner_items') }} as i
    inner join structure as s on s.item_type = i.item_type and s.item_id = i.item_id
    where (i.item_type, i.item_id) in (select item_type, item_id from structure)
),

-- One row per (course, learner, module started), plus one per completed course (module '').
learner_modules as (
    select
        course_id,
        user_id,
        fact_module_id,
        any(module_position) as learner_module_position,
        sum(module_views) as views,
        sum(seconds) as seconds_sum,
        max(has_activity) as has_activity,
        -- one row per lesson: completed lessons of the module, each counted once
        toUInt64(sum(completed_lesson)) as lessons_completed,
        toUInt8(0) as course_completion
    from learner_items
    group by course_id, user_id, fact_module_id
    union all
    select
        course_id,
        user_id,
        '',
        toInt64(-1),
        toUInt64(0),
        toInt64(0),
        toUInt8(0),
        toUInt64(0),
        toUInt8(1)
    from {{ ref('stg_lms__course_completed') }}
    where course_id in (select course_id from structure)
    group by course_id, user_id
),

-- Each row with the greatest module Position its learner started and the course completion.
learner_context as (
    select
        *,
        max(if(fact_module_id = '', toInt64(-1), learner_module_position)) over learner
            as furthest_module_position,
        max(course_completion) over learner as completed_course
    from learner_modules
    window learner as (partition by course_id, user_id)
),

module_stats as (
    select
        c.fact_module_id as stats_module_id,
        count() as started,
        countIf(n.module_lessons > 0 and c.lessons_completed = n.module_lessons) as completers,
        countIf(c.completed_course = 0 and c.furthest_module_position <= c.learner_module_position)
            as dropped_off,
        sum(c.views) as total_views,
        countIf(c.views > 0) as unique_views,
        countIf(c.has_activity = 1) as learners_with_activity,
        sumIf(c.seconds_sum, c.has_activity = 1) as activity_seconds
    from learner_context as c
    left join lesson_counts as n on n.counted_module_id = c.fact_module_id
    where c.fact_module_id != ''
    group by c.fact_module_id
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
    left join module_stats as r on r.stats_module_id = m.module_id
)

{{ lms_bookkeeping('computed', 'module_id', previous_filter=lms_in('course_id', changed_courses) if is_incremental() else none) }}
