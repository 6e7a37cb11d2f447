{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='organization_id',
        engine=lms_engine('ReplacingMergeTree(updated_at)'),
        order_by='organization_id',
    )
}}
{#-
  organization_analytics: one row per OrganizationID (metrics.md "organization_analytics").

  Members: users whose UserCreated carries the organisation (a user whose UserCreated events
  name several organisations is a member of each). total_users = members; active_users =
  members with any user_activities row in the last 30 days (user_analytics.active_days_30d > 0).
  Totals are sums over members of their user_analytics totals; averages are over the
  underlying rows, from the sums and counts user_analytics carries: completion rate over the
  members' enrolments, session time over their sessions (whole seconds, rounded half up), quiz
  score over their attempts, assignment score over their latest grades. engagement_score =
  mean of the members' engagement_score.

  Incremental (replace unit: the organisation). Every value comes from the members'
  user_analytics rows, and user_analytics keeps updated_at when a row is recomputed unchanged,
  so a run recomputes the organisations of members whose user_analytics row changed since this
  model's previous run (updated_at > its last run_at, minus the ingest lookback for clock skew),
  plus the organisations named by UserCreated rows ingested since the watermark (new members).
-#}
{%- set lookback = ' - interval ' ~ var('ingest_lookback_minutes') ~ ' minute' -%}

{%- if is_incremental() %}
{%- set changed_organizations_sql %}
    select key as organization_id
    from ({{ lms_changed_keys([(ref('stg_lms__user_created'), "ifNull(organization_id, '')")]) }})
    union all
    select organization_id
    from (
    select distinct
        assumeNotNull(organization_id) as organization_id,
        id as user_id
    from {{ ref('stg_lms__user_created') }}
    where organization_id is not null and organization_id != ''
    )
    where user_id in (
        select user_id
        from {{ ref('user_analytics') }}
        where updated_at > (
            select coalesce(max(run_at), toDateTime64(0, 3, 'UTC'))
            from {{ lms_watermarks_relation() }}
            where model = '{{ this.identifier }}'
        ){{ lookback }}
    )
{% endset %}
{#- the changed organisations, resolved once (macros/changed_sets.sql) -#}
{%- set changed_organizations = lms_changed_set(changed_organizations_sql) %}
{{ lms_skip_when_unchanged([changed_organizations]) }}
{%- endif %}

with memberships as (
    select distinct
        assumeNotNull(organization_id) as organization_id,
        id as user_id
    from {{ ref('stg_lms__user_created') }}
    where organization_id is not null and organization_id != ''
),


members as (
    select organization_id, user_id
    from memberships
    {%- if is_incremental() %}
    where {{ lms_in('organization_id', changed_organizations) }}
    {%- endif %}
),

member_rows as (
    select
        members.organization_id as organization_id,
        users.active_days_30d as active_days_30d,
        users.total_course_enrollments as total_course_enrollments,
        users.completed_courses as completed_courses,
        users.course_progress_sum as course_progress_sum,
        users.total_session_time as total_session_time,
        users.total_sessions as total_sessions,
        users.total_page_views as total_page_views,
        users.total_quiz_attempts as total_quiz_attempts,
        users.quiz_score_sum as quiz_score_sum,
        users.total_assignment_submissions as total_assignment_submissions,
        users.graded_assignments as graded_assignments,
        users.assignment_score_sum as assignment_score_sum,
        users.engagement_score as engagement_score
    from members
    left join (
        select *
        from {{ ref('user_analytics') }}
        where user_id in (select user_id from members)
    ) as users on members.user_id = users.user_id
),

per_organization as (
    select
        organization_id,
        count() as total_users,
        countIf(active_days_30d > 0) as active_users,
        sum(total_course_enrollments) as total_course_enrollments,
        sum(completed_courses) as completed_courses,
        sum(course_progress_sum) as course_progress_sum,
        sum(total_session_time) as total_session_time,
        sum(total_sessions) as total_sessions,
        sum(total_page_views) as total_page_views,
        sum(total_quiz_attempts) as total_quiz_attempts,
        sum(quiz_score_sum) as quiz_score_sum,
        sum(total_assignment_submissions) as total_assignment_submissions,
        sum(graded_assignments) as graded_assignments,
        sum(assignment_score_sum) as assignment_score_sum,
        avg(engagement_score) as engagement_score
    from member_rows
    group by organization_id
),

final as (
    select
        {{ lms_id('organization_analytics', ['organization_id']) }} as id,
        organization_id,
        toUInt64(total_users) as total_users,
        toUInt64(active_users) as active_users,
        toUInt64(total_course_enrollments) as total_course_enrollments,
        toUInt64(completed_courses) as completed_courses,
        if(total_course_enrollments = 0, NULL,
           toNullable(course_progress_sum / total_course_enrollments)) as average_course_completion_rate,
        toInt64(total_session_time) as total_session_time,
        if(total_sessions = 0, NULL,
           toNullable(toInt64(intDiv(2 * total_session_time + total_sessions, 2 * total_sessions)))) as average_session_time,
        toUInt64(total_page_views) as total_page_views,
        toUInt64(total_quiz_attempts) as total_quiz_attempts,
        if(total_quiz_attempts = 0, NULL, toNullable(quiz_score_sum / total_quiz_attempts)) as average_quiz_score,
        toUInt64(total_assignment_submissions) as total_assignment_submissions,
        if(graded_assignments = 0, NULL,
           toNullable(assignment_score_sum / graded_assignments)) as average_assignment_score,
        toFloat64(engagement_score) as engagement_score
    from per_organization
)

{# Incremental runs write only new or changed rows (lms_bookkeeping gives them the run start
    as updated_at); a row recomputed unchanged keeps its stored copy. #}
select *
from (
    {{ lms_bookkeeping('final', key='organization_id', previous_filter=lms_in('organization_id', changed_organizations) if is_incremental() else none) }}
)
{%- if is_incremental() %}
where updated_at = {{ lms_run_started_at() }}
{%- endif %}
