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

  The learner counters are sums over int_learner_course_items (one row per course, learner and
  lesson started, with the learner's part of every counter: completion, dropoff, views, time);
  the video figures come from VideoWatched.

  Incremental replace unit: the lesson, recomputed from all its rows there and all its videos
  when a row newer than this model's watermark touches it:
    - int_learner_course_items rows written since (its computed_at: the pairs of learners and
      courses that run recomputed),
    - every lesson of a course whose structure may have changed (lms_restructured_courses),
    - VideoWatched on the lesson.
  So a run costs what its changed learners and lessons cost, not every learner of every course
  touched (1% new events touch every course).

  Definitions used (int_learner_course_items applies them per learner):
    - started lesson: any UserActivity (resource_type lesson) or ProgressUpdated on it;
      completed lesson: a ProgressUpdated at PercentComplete = 100;
    - dropped off: did not complete the course and started nothing later in it (a lesson after
      it by (module Position, lesson Position), or a module with a greater Position);
    - videos count for the lesson the VideoWatched event names; the weighted playback rate is
      computed exactly from micro-units of PlaybackRate (an integer sum divided once).
-#}
{#- tables read only by the incremental branch -#}
-- depends_on: {{ ref('stg_lms__content_published') }}

{%- if is_incremental() %}
{%- set changed_lessons_sql %}
    select item_id as lesson_id
    from {{ ref('int_learner_course_items') }}
    where item_type = 'lesson' and {{ lms_fresh(ref('int_learner_course_items')) }}
    union all
    select item_id
    from {{ ref('int_course_structure') }}
    where item_type = 'lesson' and course_id in ({{ lms_restructured_courses() }})
    union all
    select lesson_id
    from {{ ref('stg_lms__video_watched') }}
    where {{ lms_fresh(ref('stg_lms__video_watched')) }}
{% endset %}
{#- the changed lessons, resolved once (macros/changed_sets.sql) -#}
{%- set changed_lessons = lms_changed_set(changed_lessons_sql) %}
{{ lms_skip_when_unchanged([changed_lessons]) }}
{%- endif %}

with

-- The (changed) lessons, from the latest structure.
lessons as (
    select item_id as lesson_id, course_id, module_id
    from {{ ref('int_course_structure') }}
    where item_type = 'lesson'
    {%- if is_incremental() %}
      and {{ lms_in('item_id', changed_lessons) }}
    {%- endif %}
),

lesson_stats as (
    {{ lms_learner_item_stats('lesson', changed_lessons if is_incremental() else none) }}
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
    left join lesson_stats as r on r.stats_item_id = l.lesson_id and r.stats_course_id = l.course_id
    left join video_stats as v on v.video_lesson_id = l.lesson_id
)

{{ lms_bookkeeping('computed', 'lesson_id', previous_filter=lms_in('lesson_id', changed_lessons) if is_incremental() else none) }}
