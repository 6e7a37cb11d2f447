{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='assignment_id',
        engine=lms_engine('ReplacingMergeTree(updated_at)'),
        order_by='assignment_id',
    )
}}
{#-
  assignment_analytics: one row per assignment of the course structure (metrics.md
  "assignment_analytics"); course / module / lesson and DueAt from int_course_structure.

  Incremental replace unit: the assignment. An assignment is recomputed from its whole history
  when a staging row newer than this model's watermark touches it:
    - AssignmentSubmitted / AssignmentGraded (its AssignmentID),
    - UserActivity on it (resource_type assignment),
    - UserEnrolled / UserUnenrolled / CourseCompleted (enrolment states: every assignment of
      the course, for submission_rate),
    - ContentPublished (every assignment of every course the item was ever published in).

  Definitions used:
    - average_score: mean over users of their latest AssignmentGraded Score (latest GradedAt,
      ties by event_id desc), exact (micro-units summed as integers);
    - submission_rate: unique submitters / enrolments of the course whose state is not
      'dropped' (NULL when there are none), counting in the numerator the submitters who hold
      such an enrolment (a learner who submitted and then dropped is in neither), so the rate
      stays a fraction in [0, 1] as metrics.md's ground rules require;
    - late_submission_rate: submissions with SubmittedAt > DueAt / submissions; 0 when the
      assignment has no DueAt; NULL when there are no submissions;
    - average_time_to_submit: per user with a submission and a UserActivity on the assignment,
      first SubmittedAt - first activity CreatedAt; mean over those users.
-#}
{#- tables read only by the incremental branch -#}
-- depends_on: {{ ref('stg_lms__user_enrolled') }} {{ ref('stg_lms__user_unenrolled') }} {{ ref('stg_lms__course_completed') }} {{ ref('stg_lms__content_published') }} {{ ref('stg_lms__user_activity') }}

{%- if is_incremental() %}
{%- set changed_courses_sql %}
    select key as course_id
    from (
        {{ lms_changed_keys([
            (ref('stg_lms__user_unenrolled'), 'course_id'),
            (ref('stg_lms__course_completed'), 'course_id'),
        ]) }}
    )
    union all
    -- every course an enrolment id was ever enrolled in
    select course_id
    from {{ ref('stg_lms__user_enrolled') }}
    where id in (
        select id from {{ ref('stg_lms__user_enrolled') }}
        where {{ lms_fresh(ref('stg_lms__user_enrolled')) }}
    )
    union all
    -- an unenrolment folds into its enrolment (by id)
    select course_id
    from {{ ref('int_enrollments') }}
    where enrollment_id in (
        select id from {{ ref('stg_lms__user_unenrolled') }}
        where {{ lms_fresh(ref('stg_lms__user_unenrolled')) }}
    )
    union all
    -- a (re)published item changes every course it was ever published in
    select course_id
    from {{ ref('stg_lms__content_published') }}
    where item_id in (
        select item_id from {{ ref('stg_lms__content_published') }}
        where {{ lms_fresh(ref('stg_lms__content_published')) }}
    )
{% endset %}
{#- the changed courses and assignments, each resolved once (macros/changed_sets.sql) -#}
{%- set changed_courses = lms_changed_set(changed_courses_sql) %}
{%- set changed_assignments_sql %}
    select key as assignment_id
    from (
        {{ lms_changed_keys([
            (ref('stg_lms__assignment_submitted'), 'assignment_id'),
            (ref('stg_lms__assignment_graded'), 'assignment_id'),
        ]) }}
    )
    union all
    select resource_id
    from {{ ref('stg_lms__user_activity') }}
    where {{ lms_fresh(ref('stg_lms__user_activity')) }}
      and resource_type = 'assignment'
    union all
    select item_id
    from {{ ref('int_course_structure') }}
    where item_type = 'assignment'
      and {{ lms_in('course_id', changed_courses) }}
{% endset %}
{%- set changed_assignments = lms_changed_set(changed_assignments_sql) %}
{{ lms_skip_when_unchanged([changed_assignments]) }}
{%- endif %}

with

assignments as (
    select
        item_id as assignment_id,
        course_id,
        module_id,
        lesson_id,
        due_at
    from {{ ref('int_course_structure') }}
    where item_type = 'assignment'
    {%- if is_incremental() %}
      and {{ lms_in('item_id', changed_assignments) }}
    {%- endif %}
),

-- Submissions per (assignment, user).
submitters as (
    select
        s.assignment_id as assignment_id,
        s.user_id as user_id,
        any(a.course_id) as submitter_course_id,
        count() as submission_count,
        countIf(a.due_at is not null and s.submitted_at > assumeNotNull(a.due_at)) as late_count,
        min(s.submitted_at) as first_submitted_at
    from {{ ref('stg_lms__assignment_submitted') }} as s
    inner join assignments as a on a.assignment_id = s.assignment_id
    where s.assignment_id in (select assignment_id from assignments)
    group by s.assignment_id, s.user_id
),

-- Each user's first UserActivity on the assignment (int_learner_items: one row per learner
-- with activity on it, so the time is never NULL there).
first_activity as (
    select
        item_id as assignment_id,
        user_id,
        assumeNotNull(first_activity_at) as first_activity_at,
        has_activity
    from {{ ref('int_learner_items') }}
    where item_type = 'assignment'
      and item_id in (select assignment_id from assignments)
),

submission_stats as (
    select
        s.assignment_id as assignment_id,
        sum(s.submission_count) as submission_total,
        count() as submitter_count,
        countIf(e.enrolled = 1) as enrolled_submitter_count,
        sum(s.late_count) as late_total,
        countIf(f.has_activity = 1) as timed_users,
        sumIf(dateDiff('millisecond', f.first_activity_at, s.first_submitted_at), f.has_activity = 1)
            as timed_ms
    from submitters as s
    left join first_activity as f on f.assignment_id = s.assignment_id and f.user_id = s.user_id
    left join enrolled_learners as e
        on e.course_id = s.submitter_course_id and e.user_id = s.user_id
    group by s.assignment_id
),

-- Each user's latest grade.
grade_stats as (
    select assignment_id, count() as graded_users, sum(toInt64(round(latest_score * 1000000))) as score_micro_sum
    from (
        select assignment_id, user_id, argMax(score, (graded_at, event_id)) as latest_score
        from {{ ref('stg_lms__assignment_graded') }}
        where assignment_id in (select assignment_id from assignments)
        group by assignment_id, user_id
    )
    group by assignment_id
),

-- Enrolments of each course not dropped (the submission_rate denominator), and the learners
-- holding one (a submitter counts in the numerator only if they hold one).
open_enrollments as (
    select course_id, countIf(state != 'dropped') as enrollment_count
    from {{ ref('int_enrollments') }}
    where course_id in (select course_id from assignments)
    group by course_id
),

enrolled_learners as (
    select distinct course_id, user_id, toUInt8(1) as enrolled
    from {{ ref('int_enrollments') }}
    where state != 'dropped'
      and course_id in (select course_id from assignments)
),

computed as (
    select
        {{ lms_id('assignment_analytics', ['a.assignment_id']) }} as id,
        a.course_id as course_id,
        a.module_id as module_id,
        a.lesson_id as lesson_id,
        a.assignment_id as assignment_id,
        coalesce(s.submission_total, 0) as total_submissions,
        coalesce(s.submitter_count, 0) as unique_submissions,
        if(
            coalesce(g.graded_users, 0) = 0,
            cast(null as Nullable(Float64)),
            g.score_micro_sum / (1000000 * g.graded_users)
        ) as average_score,
        if(
            coalesce(e.enrollment_count, 0) = 0,
            cast(null as Nullable(Float64)),
            coalesce(s.enrolled_submitter_count, 0) / e.enrollment_count
        ) as submission_rate,
        multiIf(
            coalesce(s.submission_total, 0) = 0, cast(null as Nullable(Float64)),
            a.due_at is null, 0.0,
            s.late_total / s.submission_total
        ) as late_submission_rate,
        if(
            coalesce(s.timed_users, 0) = 0,
            cast(null as Nullable(Int64)),
            toInt64(floor(s.timed_ms / (1000 * s.timed_users) + 0.5))
        ) as average_time_to_submit
    from assignments as a
    left join submission_stats as s on s.assignment_id = a.assignment_id
    left join grade_stats as g on g.assignment_id = a.assignment_id
    left join open_enrollments as e on e.course_id = a.course_id
)

{{ lms_bookkeeping('computed', 'assignment_id', previous_filter=lms_in('assignment_id', changed_assignments) if is_incremental() else none) }}
