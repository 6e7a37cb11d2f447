{#
  Pieces shared by the enrolment and learner-progress models and the marts built on them.
#}

{#- The enrolment ids whose int_enrollments row a staging row newer than the calling model's
    watermark changes: a UserEnrolled or UserUnenrolled with the id, a CourseCompleted of a
    (user, course) the id was ever enrolled with. -#}
{% macro lms_changed_enrollment_ids() -%}
    select id
    from {{ ref('stg_lms__user_enrolled') }}
    where {{ lms_fresh(ref('stg_lms__user_enrolled')) }}
    union all
    select id
    from {{ ref('stg_lms__user_unenrolled') }}
    where {{ lms_fresh(ref('stg_lms__user_unenrolled')) }}
    union all
    select id
    from {{ ref('stg_lms__user_enrolled') }}
    where (user_id, course_id) in (
        select user_id, course_id
        from {{ ref('stg_lms__course_completed') }}
        where {{ lms_fresh(ref('stg_lms__course_completed')) }}
    )
{%- endmacro %}

{#- The lessons learners completed (a ProgressUpdated at PercentComplete >= 100), placed in the
    course holding the lesson in the latest structure, whatever CourseID the event carries:
    (user_id, course_id, lesson_id) rows, one per such event; `condition` filters the events
    (`progress` is ProgressUpdated). -#}
{% macro lms_completed_lessons(condition='1') -%}
    select progress.user_id as user_id, structure.course_id as course_id, progress.lesson_id as lesson_id
    from {{ ref('stg_lms__progress_updated') }} as progress
    inner join (
        select item_id as lesson_id, course_id
        from {{ ref('int_course_structure') }}
        where item_type = 'lesson'
    ) as structure on progress.lesson_id = structure.lesson_id
    where progress.percent_complete >= 100 and ({{ condition }})
{%- endmacro %}

{#- module_analytics / lesson_analytics: the sums of int_learner_course_items rows per
    (course_id, item_id) of `item_type` ('module' or 'lesson'), in an incremental run only for
    the items of `changed` (a lms_changed_set): learners who started, completed and dropped off,
    views, learners with views, learners with activity and their activity seconds. -#}
{% macro lms_learner_item_stats(item_type, changed=none) -%}
    select
        course_id as stats_course_id,
        item_id as stats_item_id,
        count() as started,
        countIf(completed = 1) as completers,
        countIf(dropped_off = 1) as dropped_off,
        sum(views) as total_views,
        countIf(views > 0) as unique_views,
        countIf(has_activity = 1) as learners_with_activity,
        sumIf(activity_seconds, has_activity = 1) as activity_seconds
    from {{ ref('int_learner_course_items') }}
    where item_type = '{{ item_type }}'
    {%- if is_incremental() %}
      and {{ lms_in('item_id', changed) }}
    {%- endif %}
    group by course_id, item_id
{%- endmacro %}
