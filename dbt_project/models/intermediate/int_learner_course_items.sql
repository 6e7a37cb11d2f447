{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='pair_key',
        engine=lms_engine('MergeTree'),
        order_by='(item_type, item_id, user_id)',
        pre_hook=["{{ lms_delete_replaced('course_id', lms_restructured_courses()) }}"],
        meta={'lms_watermark_column': 'computed_at'},
        post_hook=["{{ lms_record_watermark() }}"],
    )
}}
{#-
  What each learner contributes to module_analytics and lesson_analytics: one row per
  (course, learner, module or lesson the learner started), the learner's items
  (int_learner_items) placed in the latest course structure, with the learner's own part of
  every counter of those marts:
    views, activity_seconds, has_activity   the learner's facts on the item (a module: views
                                            on the module itself; time and activity on the
                                            module and its lessons)
    completed                               lesson: a ProgressUpdated at 100; module: every
                                            lesson of the module completed (a module without
                                            lessons never is)
    dropped_off                             the learner did not complete the course and started
                                            nothing later in it (a module: no started module
                                            with a greater Position; a lesson: no started
                                            lesson after it by (module Position, lesson
                                            Position), no started module with a greater
                                            Position)
  A mart row is then a sum over these rows of its module or lesson. Every value depends only
  on the learner's items in the course, the learner's CourseCompleted and the structure.

  Incremental replace unit: the (course, learner) pair (pair_key, a 128-bit hash), recomputed
  from the pair's whole history (its int_learner_items rows and completion) when a staging row
  newer than this model's watermark touches it:
    - UserActivity on a module or lesson, ProgressUpdated on a lesson (the course holding the
      item in the latest structure), CourseCompleted;
    - ContentPublished: every learner of every course the item was ever published in. The
      pre-hook first deletes those courses' rows (lms_restructured_courses): an item that left
      a course takes its learners' rows with it, also when the learner has nothing else there.
  So a course mart reads the few pairs a run changed here and sums per item, instead of
  regrouping every learner of every touched course (1% new events touch every course):
  computed_at (the start of the run that wrote the row) tells the marts which items changed.
-#}
{#- tables read only by the incremental branch -#}
-- depends_on: {{ ref('stg_lms__user_activity') }} {{ ref('stg_lms__progress_updated') }} {{ ref('stg_lms__content_published') }}

{%- if is_incremental() %}
{%- set changed_pairs_sql %}
    -- the learners of the modules and lessons that new events are about
    select structure.course_id as course_id, fresh.user_id as user_id
    from (
        select user_id, toString(resource_type) as item_type, resource_id as item_id
        from {{ ref('stg_lms__user_activity') }}
        where {{ lms_fresh(ref('stg_lms__user_activity')) }}
          and resource_type in ('module', 'lesson')
        union all
        select user_id, 'lesson', lesson_id
        from {{ ref('stg_lms__progress_updated') }}
        where {{ lms_fresh(ref('stg_lms__progress_updated')) }}
    ) as fresh
    inner join (
        select item_type, item_id, course_id
        from {{ ref('int_course_structure') }}
        where item_type in ('module', 'lesson')
    ) as structure on structure.item_type = fresh.item_type and structure.item_id = fresh.item_id
    union all
    select course_id, user_id
    from {{ ref('stg_lms__course_completed') }}
    where {{ lms_fresh(ref('stg_lms__course_completed')) }}
    union all
    -- every learner of a course whose structure changed: its items' learners and completers
    select structure.course_id, items.user_id
    from {{ ref('int_learner_items') }} as items
    inner join (
        select item_type, item_id, course_id
        from {{ ref('int_course_structure') }}
        where course_id in ({{ lms_restructured_courses() }})
          and item_type in ('module', 'lesson')
    ) as structure on structure.item_type = items.item_type and structure.item_id = items.item_id
    where (items.item_type, items.item_id) in (
        select item_type, item_id
        from {{ ref('int_course_structure') }}
        where course_id in ({{ lms_restructured_courses() }})
    )
    union all
    select course_id, user_id
    from {{ ref('stg_lms__course_completed') }}
    where course_id in ({{ lms_restructured_courses() }})
{% endset %}
{#- the changed (course, learner) pairs, resolved once (macros/changed_sets.sql) -#}
{%- set changed_pairs = lms_changed_set(changed_pairs_sql) %}
{{ lms_skip_when_unchanged([changed_pairs]) }}
{%- endif %}

{#- (module Position, lesson Position) as one Int128 with the same order -#}
{%- set position_key = 'bitShiftLeft(toInt128({m}), 64) + (toInt128({l}) + 9223372036854775808)' %}

with

-- The modules and lessons of the latest structure (small: not filtered by the changed pairs,
-- whose set ClickHouse would build again at every use of this CTE); every item
-- carries its module (a module itself, a lesson its resolved module).
structure as (
    select
        item_type,
        item_id,
        course_id,
        if(item_type = 'module', item_id, ifNull(module_id, '')) as item_module_id,
        toInt64(ifNull(module_position, 0)) as item_module_position,
        toInt64(if(item_type = 'lesson', ifNull(lesson_position, position), -1)) as item_lesson_position
    from {{ ref('int_course_structure') }}
    where item_type in ('module', 'lesson')
),

module_lessons as (
    select item_module_id as counted_module_id, count() as module_lessons
    from structure
    where item_type = 'lesson'
    group by item_module_id
),

-- The (changed) learners' items placed in the structure.
items as (
    select
        s.course_id as course_id,
        i.user_id as user_id,
        i.item_type as item_type,
        i.item_id as item_id,
        s.item_module_id as item_module_id,
        s.item_module_position as item_module_position,
        {{ position_key | replace('{m}', 's.item_module_position') | replace('{l}', 's.item_lesson_position') }} as lesson_key,
        i.views as views,
        i.activity_seconds as activity_seconds,
        i.has_activity as has_activity,
        i.completed as completed
    from {{ ref('int_learner_items') }} as i
    inner join structure as s on s.item_type = i.item_type and s.item_id = i.item_id
    -- (the join keeps the structure's items; this skips course and assignment items by the
    -- sorting key, cheaper than testing every (item_type, item_id) against the structure)
    where i.item_type in ('module', 'lesson')
    {%- if is_incremental() %}
      and i.user_id in (select user_id from {{ changed_pairs.sql }})
      and {{ lms_in('s.course_id, i.user_id', changed_pairs) }}
    {%- endif %}
),

-- Per (course, learner, module started): the module's own row and its lessons' rows as one
-- array of (item_type, item_id, views, activity_seconds, has_activity, completed, module
-- Position, lesson key), emitted below by one ARRAY JOIN (so the items are read once); the
-- furthest positions of the learner in the course are windows over the pair.
learner_modules as (
    select
        course_id,
        user_id,
        item_module_id,
        any(item_module_position) as module_position,
        max(if(item_type = 'lesson', lesson_key, {{ position_key | replace('{m}', '-1') | replace('{l}', '-1') }})) as module_furthest_lesson_key,
        arrayPushFront(
            groupArrayIf(
                ('lesson', item_id, views, activity_seconds, has_activity, completed, item_module_position, lesson_key),
                item_type = 'lesson'
            ),
            (
                'module',
                item_module_id,
                toUInt64(sumIf(views, item_type = 'module')),
                toInt64(sum(activity_seconds)),
                toUInt8(max(has_activity)),
                toUInt8(coalesce(any(n.module_lessons), 0) > 0
                    and countIf(item_type = 'lesson' and completed = 1) = any(n.module_lessons)),
                any(item_module_position),
                toInt128(0)
            )
        ) as facts
    from items
    left join module_lessons as n on n.counted_module_id = items.item_module_id
    group by course_id, user_id, item_module_id
),

learner_context as (
    select
        *,
        max(module_position) over learner as furthest_module_position,
        max(module_furthest_lesson_key) over learner as furthest_lesson_key
    from learner_modules
    window learner as (partition by course_id, user_id)
),

completions as (
    select course_id, user_id, toUInt8(1) as completed_course
    from {{ ref('stg_lms__course_completed') }}
    {%- if is_incremental() %}
    where {{ lms_in('course_id, user_id', changed_pairs) }}
    {%- endif %}
    group by course_id, user_id
)

select
    {{ lms_row_key(['c.course_id', 'c.user_id']) }} as pair_key,
    c.course_id as course_id,
    c.user_id as user_id,
    fact.1 as item_type,
    fact.2 as item_id,
    fact.3 as views,
    fact.4 as activity_seconds,
    fact.5 as has_activity,
    fact.6 as completed,
    toUInt8(
        coalesce(done.completed_course, 0) = 0
        and c.furthest_module_position <= fact.7
        and (fact.1 = 'module' or c.furthest_lesson_key <= fact.8)
    ) as dropped_off,
    {{ lms_run_started_at() }} as computed_at
from learner_context as c
array join c.facts as fact
left join completions as done on done.course_id = c.course_id and done.user_id = c.user_id
-- a lesson without a module counts for no module
where fact.1 = 'lesson' or c.item_module_id != ''
