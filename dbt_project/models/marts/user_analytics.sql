{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='user_id',
        engine=lms_engine('ReplacingMergeTree(updated_at)'),
        order_by='user_id',
    )
}}
{#-
  user_analytics: one row per user seen in any event (metrics.md "user_analytics"); the empty
  user id of anonymous page views is not a user.

  Metrics over the user's whole history; "_30d" = (as_of - 30 days, as_of], as_of = int_as_of.
  Besides the seed's columns the row carries the sums and counts behind its averages
  (total_sessions, course_progress_sum, quiz_score_sum, graded_assignments,
  assignment_score_sum) and active_days_30d, so organization_analytics can average over the
  underlying rows (sessions, enrolments, attempts, latest grades) without re-reading them.

  One pass: every fact of a user (login, session, page view, enrolment, completion, attempt,
  submission, latest grade, activity) is a row of one UNION ALL, filtered once by the users to
  recompute (a single IN set, pushed down to every source's primary key), then aggregated per
  user.

  Incremental (replace unit: the user, unique_key user_id). A run recomputes the users that
    - own a staging row ingested since the watermark (any event type naming a user),
    - are enrolled in a course holding an item (re)published since the watermark (learner
      progress depends on the course's lesson count), or own an enrolment id that a new
      UserEnrolled / UserUnenrolled names,
    - have a page view in a session whose rows int_page_view_sessions rewrote since the
      watermark (a session may be shared by users),
    - have a user_activities row or a session whose time entered or left the 30-day window
      since the previous run: time in (previous_as_of - 30 days, previous_as_of] xor in
      (as_of - 30 days, as_of]. Nothing else depends on as_of, so the other users' rows are
      unchanged by a moving as_of.
-#}
{%- set as_of = lms_as_of() -%}
{#- a fact's time t in the last 30 days -#}
{%- set window = '(t > ' ~ as_of ~ ' - interval 30 day and t <= ' ~ as_of ~ ')' -%}
{%- if is_incremental() %}
{%- set previous_as_of = lms_previous_as_of() %}
{#- Whether as_of moved (an unchanged as_of moves no row in or out of the window: no need to
    look; at parse time the refs are rendered), and the two spans of time that entered or left
    the window since the previous run: (least - 30 days, greatest - 30 days] and (least,
    greatest] of the two as_of (their union holds every time that did, however far as_of
    moved). In epoch milliseconds: numbers come through dbt's result table unchanged, and the
    bounds become literals, with which ClickHouse can answer from a projection (a scalar
    subquery in the WHERE rules it out); clamped to the epoch, before which a Date does not go. -#}
{%- set window_spans = [
    ('left_from', 'least(previous, current) - interval 30 day'),
    ('left_to', 'greatest(previous, current) - interval 30 day'),
    ('entered_from', 'least(previous, current)'),
    ('entered_to', 'greatest(previous, current)'),
] %}
{%- set window_moves_sql -%}
    select
        toUInt8(coalesce(previous != current, 0)) as moved,
        {%- for name, bound in window_spans %}
        greatest(coalesce(toUnixTimestamp64Milli({{ bound }}), 0), 0) as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from (select {{ previous_as_of }} as previous, {{ as_of }} as current)
{%- endset -%}
{%- set window_moves = run_query(window_moves_sql).rows[0] if execute else none %}
{%- set as_of_moved = (not execute) or (window_moves[0] | int) == 1 %}
{#- the spans' bounds as DateTime64 literals, by name -#}
{%- set bound = {} %}
{%- for name, _ in window_spans %}
    {%- do bound.update({name: "fromUnixTimestamp64Milli(toInt64(" ~ (window_moves[loop.index] | int if execute else 0) ~ "), 'UTC')"}) %}
{%- endfor %}
{#- "{t} entered or left the window since the previous run": `window_changed | replace('{t}', column)` -#}
{%- set window_changed = '{t} > least(' ~ previous_as_of ~ ', ' ~ as_of ~ ') - interval 30 day'
    ~ ' and {t} <= greatest(' ~ previous_as_of ~ ', ' ~ as_of ~ ')'
    ~ ' and ({t} > ' ~ previous_as_of ~ ' - interval 30 day and {t} <= ' ~ previous_as_of ~ ')'
    ~ ' != ({t} > ' ~ as_of ~ ' - interval 30 day and {t} <= ' ~ as_of ~ ')' %}
{%- endif %}

-- refs used only in incremental runs
-- depends_on: {{ ref('stg_lms__user_enrolled') }} {{ ref('stg_lms__user_unenrolled') }} {{ ref('stg_lms__progress_updated') }} {{ ref('stg_lms__question_answered') }} {{ ref('stg_lms__course_reviewed') }} {{ ref('stg_lms__video_watched') }} {{ ref('stg_lms__payment_completed') }} {{ ref('stg_lms__user_activity') }} {{ ref('stg_lms__content_published') }} {{ ref('int_enrollments') }} {{ ref('int_page_view_sessions') }}

{%- if is_incremental() %}
{%- set changed_users_sql %}
    select key as user_id
    from (
    {{ lms_changed_keys([
        (ref('stg_lms__user_created'), 'id'),
        (ref('stg_lms__user_logged_in'), 'id'),
        (ref('stg_lms__user_enrolled'), 'user_id'),
        (ref('stg_lms__user_unenrolled'), 'user_id'),
        (ref('stg_lms__course_completed'), 'user_id'),
        (ref('stg_lms__progress_updated'), 'user_id'),
        (ref('stg_lms__quiz_completed'), 'user_id'),
        (ref('stg_lms__question_answered'), 'user_id'),
        (ref('stg_lms__assignment_submitted'), 'user_id'),
        (ref('stg_lms__assignment_graded'), 'user_id'),
        (ref('stg_lms__course_reviewed'), 'user_id'),
        (ref('stg_lms__video_watched'), 'user_id'),
        (ref('stg_lms__payment_completed'), 'user_id'),
        (ref('stg_lms__page_view'), 'user_id'),
        (ref('stg_lms__user_activity'), 'user_id'),
    ]) }}
    )
    union all
    -- learner progress: a (re)published item changes every course it was ever published in
    select user_id
    from {{ ref('int_enrollments') }}
    where course_id in (
        select course_id from {{ ref('stg_lms__content_published') }}
        where item_id in (
            select item_id from {{ ref('stg_lms__content_published') }}
            where {{ lms_fresh(ref('stg_lms__content_published')) }}
        )
    )
    union all
    -- an enrolment id belongs to the user of its first UserEnrolled: every user it ever named
    select user_id
    from {{ ref('stg_lms__user_enrolled') }}
    where id in (
        select id from {{ ref('stg_lms__user_enrolled') }}
        where {{ lms_fresh(ref('stg_lms__user_enrolled')) }}
    )
    union all
    -- an unenrolment folds into its enrolment (by id), whoever it names
    select user_id
    from {{ ref('int_enrollments') }}
    where enrollment_id in (
        select id from {{ ref('stg_lms__user_unenrolled') }}
        where {{ lms_fresh(ref('stg_lms__user_unenrolled')) }}
    )
    union all
    -- a session is counted for the user of its first page view: every user of a changed session
    select user_id
    from {{ ref('int_page_view_sessions') }}
    where session_key in (
        {{ lms_changed_keys([(ref('int_page_view_sessions'), 'session_key', 'sessionised_at')]) }}
    )
    {%- if as_of_moved %}
    union all
    -- windowed metrics: rows that entered or left the last 30 days since the previous run
    -- activities: the users with a day (first to last activity) overlapping either span, from
    -- user_activities' projection user_days. A superset of the users with an activity in a
    -- span (that activity's day overlaps it), and one more user recomputed is only work. A scan
    -- of every activity's created_at cost 256 ms of CPU at 5M events, the projection 68 ms.
    select user_id
    from (
        select user_id, toDate(created_at) as day, min(created_at) as first_at, max(created_at) as last_at
        from {{ ref('user_activities') }}
        where (day >= toDate({{ bound.left_from }}) and day <= toDate({{ bound.left_to }}))
           or (day >= toDate({{ bound.entered_from }}) and day <= toDate({{ bound.entered_to }}))
        group by user_id, day
    )
    where (last_at > {{ bound.left_from }} and first_at <= {{ bound.left_to }})
       or (last_at > {{ bound.entered_from }} and first_at <= {{ bound.entered_to }})
    union all
    select user_id from {{ ref('sessions') }} where {{ window_changed | replace('{t}', 'start_time') }}
    {%- endif %}
{% endset %}
{#- the changed users, resolved once (macros/changed_sets.sql) -#}
{%- set changed_users = lms_changed_set(changed_users_sql) %}
{{ lms_skip_when_unchanged([changed_users]) }}
{%- endif %}

with

-- one row per fact: (user_id, kind, t = its time, value, key)
facts as (
    select id as user_id, 'login' as kind, login_at as t, 0.0 as value, '' as key
    from {{ ref('stg_lms__user_logged_in') }}
    union all
    select user_id, 'session', start_time, toFloat64(duration), ''
    from {{ ref('sessions') }}
    union all
    select user_id, 'page_view', created_at, 0.0, ''
    from {{ ref('stg_lms__page_view') }}
    union all
    select user_id, 'enrolment', toDateTime64(0, 3, 'UTC'), progress, enrollment_id
    from {{ ref('int_learner_progress') }}
    union all
    select user_id, 'completion', completed_at, 0.0, course_id
    from {{ ref('stg_lms__course_completed') }}
    union all
    select user_id, 'quiz', completed_at, score, ''
    from {{ ref('stg_lms__quiz_completed') }}
    union all
    select user_id, 'submission', submitted_at, 0.0, ''
    from {{ ref('stg_lms__assignment_submitted') }}
    union all
    -- the latest grade per (user, assignment), by GradedAt (ties: the greater event_id)
    select user_id, 'grade', max(graded_at), argMax(score, tuple(graded_at, event_id)), assignment_id
    from {{ ref('stg_lms__assignment_graded') }}
    group by user_id, assignment_id
    union all
    -- forum posts and comments (about 1% of activities: user_activities' projection user_types)
    select user_id, 'activity', created_at, 0.0, toString(activity_type)
    from {{ ref('user_activities') }}
    where activity_type in ('forum_post', 'comment')
    union all
    -- one row per day with activity (user_activities' projection user_days), value 1 when the
    -- day holds an activity in the last 30 days: exactly when its last activity is after the
    -- window's start and its first is not after as_of (a day, shorter than the window, holds
    -- at most one of the window's ends)
    select
        user_id,
        'active_day',
        last_at,
        -- (as_of may be Nullable: a NULL would make every value column Nullable)
        toFloat64(coalesce(last_at > {{ as_of }} - interval 30 day and first_at <= {{ as_of }}, 0)),
        ''
    from (
        select user_id, toDate(created_at) as day, min(created_at) as first_at, max(created_at) as last_at
        from {{ ref('user_activities') }}
        group by user_id, day
    )
    union all
    -- a user seen only in UserCreated still has a row
    select id, 'created', created_at, 0.0, ''
    from {{ ref('stg_lms__user_created') }}
),

per_user as (
    select
        user_id,
        countIf(kind = 'login') as total_logins,
        maxIf(t, kind = 'login') as latest_login,
        countIf(kind = 'session') as total_sessions,
        toInt64(sumIf(value, kind = 'session')) as total_session_time,
        toInt64(sumIf(value, kind = 'session' and {{ window }})) as session_seconds_30d,
        countIf(kind = 'page_view') as total_page_views,
        uniqExactIf(key, kind = 'enrolment') as total_course_enrollments,
        sumIf(value, kind = 'enrolment') as course_progress_sum,
        uniqExactIf(key, kind = 'completion') as completed_courses,
        countIf(kind = 'quiz') as total_quiz_attempts,
        sumIf(value, kind = 'quiz') as quiz_score_sum,
        countIf(kind = 'quiz' and {{ window }}) as quiz_attempts_30d,
        countIf(kind = 'submission') as total_assignment_submissions,
        countIf(kind = 'grade') as graded_assignments,
        sumIf(value, kind = 'grade') as assignment_score_sum,
        countIf(kind = 'activity' and key = 'forum_post') as total_forum_posts,
        countIf(kind = 'activity' and key = 'comment') as total_comments,
        toUInt64(sumIf(value, kind = 'active_day')) as active_days_30d,
        countIf(kind = 'activity' and key in ('forum_post', 'comment') and {{ window }}) as forum_posts_comments_30d
    from facts
    where user_id != ''
    {%- if is_incremental() %}
      and {{ lms_in('user_id', changed_users) }}
    {%- endif %}
    group by user_id
),

averaged as (
    select
        *,
        if(total_sessions = 0, NULL,
           toNullable(intDiv(2 * total_session_time + total_sessions, 2 * total_sessions))) as average_session_time,
        if(total_course_enrollments = 0, NULL,
           toNullable(course_progress_sum / total_course_enrollments)) as average_course_completion_rate,
        if(total_quiz_attempts = 0, NULL, toNullable(quiz_score_sum / total_quiz_attempts)) as average_quiz_score,
        if(graded_assignments = 0, NULL, toNullable(assignment_score_sum / graded_assignments)) as average_assignment_score
    from per_user
),

final as (
    select
        {{ lms_id('user_analytics', ['user_id']) }} as id,
        user_id,
        toUInt64(total_logins) as total_logins,
        if(total_logins > 0, toNullable(latest_login), NULL) as last_login,
        total_session_time,
        toNullable(toInt64(average_session_time)) as average_session_time,
        toUInt64(total_page_views) as total_page_views,
        toUInt64(total_course_enrollments) as total_course_enrollments,
        toUInt64(completed_courses) as completed_courses,
        average_course_completion_rate,
        toUInt64(total_quiz_attempts) as total_quiz_attempts,
        average_quiz_score,
        toUInt64(total_assignment_submissions) as total_assignment_submissions,
        average_assignment_score,
        toUInt64(total_forum_posts) as total_forum_posts,
        toUInt64(total_comments) as total_comments,
        round(100 * (
            0.25 * least(active_days_30d / 20, 1)
            + 0.20 * least(session_seconds_30d / 36000, 1)
            + 0.25 * coalesce(average_course_completion_rate, 0)
            + 0.15 * least(quiz_attempts_30d / 10, 1)
            + 0.15 * least(forum_posts_comments_30d / 10, 1)
        ), 2) as engagement_score,
        toUInt64(total_sessions) as total_sessions,
        toFloat64(course_progress_sum) as course_progress_sum,
        toFloat64(quiz_score_sum) as quiz_score_sum,
        toUInt64(graded_assignments) as graded_assignments,
        toFloat64(assignment_score_sum) as assignment_score_sum,
        toUInt64(active_days_30d) as active_days_30d
    from averaged
)

{# Incremental runs write only new or changed rows (lms_bookkeeping gives them the run start
    as updated_at); a row recomputed unchanged keeps its stored copy. #}
select *
from (
    {{ lms_bookkeeping('final', key='user_id', previous_filter=lms_in('user_id', changed_users) if is_incremental() else none) }}
)
{%- if is_incremental() %}
where updated_at = {{ lms_run_started_at() }}
{%- endif %}
