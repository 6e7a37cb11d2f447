{{
    config(
        materialized='table',
        engine=lms_engine('MergeTree'),
        order_by='(course_id, user_id, enrollment_id)',
    )
}}
{#-
  Learner progress per enrolment: 1.0 if completed; else distinct lessons of the course (latest
  structure) with a ProgressUpdated at PercentComplete = 100 by the user, over the course's
  lessons, capped at 1; 0 when the course has no lessons.
-#}
with course_lessons as (
    select course_id, count() as course_lessons
    from {{ ref('int_course_structure') }}
    where item_type = 'lesson'
    group by course_id
),

lessons_completed as (
    select
        progress.user_id as user_id,
        structure.course_id as course_id,
        uniqExact(progress.lesson_id) as lessons_completed
    from {{ ref('stg_lms__progress_updated') }} as progress
    inner join (
        select item_id as lesson_id, course_id
        from {{ ref('int_course_structure') }}
        where item_type = 'lesson'
    ) as structure on progress.lesson_id = structure.lesson_id
    where progress.percent_complete >= 100
    group by progress.user_id, structure.course_id
)

select
    enrollments.enrollment_id as enrollment_id,
    enrollments.user_id as user_id,
    enrollments.course_id as course_id,
    toUInt64(coalesce(lessons_completed.lessons_completed, 0)) as lessons_completed,
    toUInt64(coalesce(course_lessons.course_lessons, 0)) as course_lessons,
    toFloat64(multiIf(
        enrollments.completed_at is not null, 1.0,
        coalesce(course_lessons.course_lessons, 0) = 0, 0.0,
        least(1.0, coalesce(lessons_completed.lessons_completed, 0) / course_lessons.course_lessons)
    )) as progress
from {{ ref('int_enrollments') }} as enrollments
left join course_lessons on enrollments.course_id = course_lessons.course_id
left join lessons_completed
    on enrollments.user_id = lessons_completed.user_id
    and enrollments.course_id = lessons_completed.course_id
