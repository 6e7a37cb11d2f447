{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='lesson_id',
        engine=lms_engine('ReplacingMergeTree(updated_at)'),
        order_by='lesson_id',
    )
}}
{#-
  lesson_analytics: one row per lesson of the course structure (metrics.md
  "module_analytics / lesson_analytics").

  Incremental replace unit: the course. dropoff_rate of a lesson depends on what its learners
  started later in the course, so every lesson of a course is recomputed together when a
  staging row newer than this model's watermark touches the course:
    - ContentPublished (every course the item was ever published in),
    - UserActivity on a module or lesson, ProgressUpdated, VideoWatched (the course holding the
      module / lesson in the structure), CourseCompleted (its course).

  Learner facts come from int_learner_items (one row per learner and module / lesson, shared
  with module_analytics), placed in the latest structure here.

  Definitions used:
    - started lesson: any UserActivity (resource_type lesson) or ProgressUpdated on it;
      completed lesson: a ProgressUpdated at PercentComplete = 100;
    - started module: any UserActivity on it or on one of its lessons, or ProgressUpdated on
      one of its lessons;
    - later in the course: a started lesson after it by (module Position, lesson Position), or a
      started module with a greater Position;
    - videos count for the lesson the VideoWatched event names; the weighted playback rate is
      computed exactly from micro-units of PlaybackRate (an integer sum divided once).
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
    -- the courses holding the modules, lessons and videos that new events are about
    select course_id
    from {{ ref('int_course_structure') }}
    where (item_type, item_id) in (
        select resource_type, resource_id from {{ ref('stg_lms__user_activity') }}
        where {{ lms_fresh(ref('stg_lms__user_activity')) }}
          and resource_type in ('module', 'lesson')
        union all
        select 'lesson', lesson_id from {{ ref('stg_lms__progress_updated') }}
        where {{ lms_fresh(ref('stg_lms__progress_updated')) }}
        union all
        select 'lesson', lesson_id from {{ ref('stg_lms__video_watched') }}
        where {{ lms_fresh(ref('stg_lms__video_watched')) }}
    )
{% endset %}
{#- the changed courses, resolved once (macros/changed_sets.sql) -#}
{%- set changed_courses = lms_changed_set(changed_courses_sql) %}
{{ lms_skip_when_unchanged([changed_courses]) }}
{%- endif %}

with

-- The modules and lessons of the (changed) courses, from the latest structure (small).
structure as (
    select
        item_type,
        item_id,
        course_id,
        module_id as structure_module_id,
        toInt64(ifNull(module_position, 0)) as item_module_position,
        toInt64(if(item_type = 'lesson', ifNull(lesson_position, position), -1)) as item_lesson_position
    from {{ ref('int_course_structure') }}
    where item_type in ('module', 'lesson')
    {%- if is_incremental() %}
      and {{ lms_in('course_id', changed_courses) }}
    {%- endif %}
),

lessons as (
    select item_id as lesson_id, course_id, structure_module_id as module_id
    from structure
    where item_type = 'lesson'
),

-- One row per (course, learner, module / lesson started, or the course if completed): the
-- learner's items (int_learner_items) placed in the latest structure, plus CourseCompleted.
learner_items as (
    select
        s.course_id as course_id,
        i.user_id as user_id,
        s.item_type as kind,
        s.item_id as item_id,
        s.item_module_position as item_module_position,
        s.item_lesson_position as item_lesson_position,
        i.views as views,
        i.activity_seconds as seconds_sum,
        i.has_activity as has_activity,
        i.completed as done
    from {{ ref('int_learner_items') }} as i
    inner join structure as s on s.item_type = i.item_type and s.item_id = i.item_id
    where (i.item_type, i.item_id) in (select item_type, item_id from structure)
    union all
    select
        course_id,
        user_id,
        'course',
        course_id,
        toInt64(-1),
        toInt64(-1),
        toUInt64(0),
        toInt64(0),
        toUInt8(0),
        toUInt8(1)
    from {{ ref('stg_lms__course_completed') }}
    where course_id in (select course_id from structure)
    group by course_id, user_id
),

{#- (module Position, lesson Position) as one Int128 with the same order: a tuple max over
    340,000 learner items cost a fifth more CPU at 5M events -#}
{%- set position_key = 'bitShiftLeft(toInt128({m}), 64) + (toInt128({l}) + 9223372036854775808)' %}
-- Per (course, learner): how far they got in the course, whether they completed it, and the
-- lessons they started (grouped once instead of window functions over every item).
learner_lessons as (
    select
        course_id,
        user_id,
        max(if(kind = 'course', toInt64(-1), item_module_position)) as furthest_module_position,
        max(if(
            kind = 'lesson',
            {{ position_key | replace('{m}', 'item_module_position') | replace('{l}', 'item_lesson_position') }},
            {{ position_key | replace('{m}', '-1') | replace('{l}', '-1') }}
        )) as furthest_lesson_key,
        max(if(kind = 'course', done, toUInt8(0))) as completed_course,
        groupArrayIf(
            (item_id, item_module_position, item_lesson_position, views, seconds_sum, has_activity, done),
            kind = 'lesson'
        ) as lessons
    from learner_items
    group by course_id, user_id
),

lesson_stats as (
    select
        lesson.1 as stats_lesson_id,
        count() as started,
        countIf(lesson.7 = 1) as completers,
        countIf(
            completed_course = 0
            and furthest_module_position <= lesson.2
            and furthest_lesson_key <= {{ position_key | replace('{m}', 'lesson.2') | replace('{l}', 'lesson.3') }}
        ) as dropped_off,
        sum(lesson.4) as total_views,
        countIf(lesson.4 > 0) as unique_views,
        countIf(lesson.6 = 1) as learners_with_activity,
        sumIf(lesson.5, lesson.6 = 1) as activity_seconds
    from learner_lessons
    array join lessons as lesson
    group by stats_lesson_id
),

-- VideoWatched of these lessons (one scan): per (lesson, user, video), then per lesson.
video_stats as (
    select
        lesson_id as video_lesson_id,
        sum(pair_weighted_micro_rate) as weighted_micro_rate,
        sum(pair_watched_seconds) as watched_seconds_sum,
        count() as watched_pairs,
        countIf(pair_completed = 1) as completed_pairs
    from (
        select
            lesson_id,
            user_id,
            video_id,
            sum(toInt128(round(playback_rate * 1000000)) * watched_seconds) as pair_weighted_micro_rate,
            sum(toInt64(watched_seconds)) as pair_watched_seconds,
            max(toUInt8(completed)) as pair_completed
        from {{ ref('stg_lms__video_watched') }}
        where lesson_id in (select lesson_id from lessons)
        group by lesson_id, user_id, video_id
    )
    group by lesson_id
),

computed as (
    select
        {{ lms_id('lesson_analytics', ['l.lesson_id']) }} as id,
        l.course_id as course_id,
        l.module_id as module_id,
        l.lesson_id as lesson_id,
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
        ) as dropoff_rate,
        if(
            coalesce(v.watched_seconds_sum, 0) = 0,
            cast(null as Nullable(Float64)),
            toFloat64(v.weighted_micro_rate) / (1000000 * v.watched_seconds_sum)
        ) as average_video_playback_rate,
        if(
            coalesce(v.watched_pairs, 0) = 0,
            cast(null as Nullable(Float64)),
            v.completed_pairs / v.watched_pairs
        ) as video_completion_rate
    from lessons as l
    left join lesson_stats as r on r.stats_lesson_id = l.lesson_id
    left join video_stats as v on v.video_lesson_id = l.lesson_id
)

{{ lms_bookkeeping('computed', 'lesson_id', previous_filter=lms_in('course_id', changed_courses) if is_incremental() else none) }}
