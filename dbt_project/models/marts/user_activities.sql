{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        engine=lms_engine('ReplacingMergeTree(updated_at)'),
        order_by='(user_id, created_at, id)',
        partition_by='toYYYYMM(created_at)',
        pre_hook=["{{ lms_delete_replaced('id', lms_replaced_tracked_activities()) }}"],
        projections=[
            {
                'name': 'user_days',
                'query': 'select user_id, toDate(created_at), min(created_at), max(created_at) group by user_id, toDate(created_at)',
            },
            {
                'name': 'user_types',
                'query': 'select user_id, activity_type, created_at order by activity_type, user_id, created_at',
            },
        ],
        settings={
            'deduplicate_merge_projection_mode': 'rebuild',
            'lightweight_mutation_projection_mode': 'rebuild',
        },
    )
}}
{#-
  user_activities: one row per activity (metrics.md "user_activities").

  The tracked UserActivity events (id = the activity's ID; a second event with the same ID is
  the same activity: the copy with the smallest event_id is kept) plus one derived row per
  domain event (id = the source event_id), with the source's client metadata when it carries
  any (PageView: all of it; UserLoggedIn: user agent and IP), else ''. created_at is the event
  time. duration (whole seconds): QuizCompleted CompletedAt - StartedAt rounded half up (0
  without StartedAt or when StartedAt is after CompletedAt), VideoWatched WatchedSeconds, the
  tracked value for UserActivity, 0 otherwise.

  Incremental, append-only: every row depends on its own source event only, and a run reads
  exactly the staging rows staged since this model's last run (lms_fresh), so
    - a derived row is new (its id is an event_id staging never held before): appended;
    - a tracked id is recomputed from every copy of that id; when its representative (the copy
      with the smallest event_id) is one of the new copies, the row is appended, and when that
      replaces a stored representative (a late copy with a smaller event_id), the pre-hook first
      deletes the stored row (lms_replaced_tracked_activities). A new copy that does not win
      changes nothing.
  No DELETE, no lookup of stored rows in the usual run: the earlier copies of the new ids are
  found with one read of the staged activities' id column (lms_tracked_old_copies, shared with
  the pre-hook), and every other column is read for the new rows only. Should a run fail after its insert but before its watermark is recorded, the next run
  appends the same rows again: exact duplicates in every column of the sorting key, which the
  ReplacingMergeTree collapses when it merges.
  Sorted by (user_id, created_at, id): per-user reads (user_analytics) hit a key range;
  partitions by month prune time ranges. The projection user_days keeps each user's first and
  last activity per day (about 1 row for 24 at 5M events): user_analytics' active days read it
  instead of every activity. The projection user_types, (user_id, activity_type, created_at)
  sorted by activity type, serves user_analytics' forum posts and comments (1% of the rows) of
  the users it recomputes: a +1% run's users touch every granule of the table's user-first
  order (at 5M events that branch read 0.16 s of CPU, 0.02 s from the projection; the whole
  query 0.43-0.47 -> 0.28-0.30 s). ClickHouse maintains both on insert, merge (the
  ReplacingMergeTree's deduplication) and the pre-hook's DELETE ('rebuild' settings). A
  warehouse built before them needs `--full-refresh --select user_activities` to have them
  (queries are exact without them).
  The low-cardinality columns are stored as LowCardinality(String) (reports group and filter
  by activity_type; user_analytics reads it from the projection user_types).
-#}
{%- set no_client = ["''", "''", "''", "''", "''"] -%}
{#- one derived row per domain event: (staging model, activity_type, user_id, resource_type,
    resource_id, action, duration, [device, browser, os, user agent, ip], event time) -#}
{%- set derived = [
    ('stg_lms__user_logged_in', 'login', 'id', "''", "''", "'login'", '0', ["''", "''", "''", 'user_agent', 'ip'], 'login_at'),
    ('stg_lms__page_view', 'page_view', 'user_id', "'page'", "if(path != '', path, path(url))", "'view'", '0',
        ['client_device_type', 'client_browser', 'client_operating_system', 'client_user_agent', 'client_ip_address'], 'created_at'),
    ('stg_lms__user_enrolled', 'enrol', 'user_id', "'course'", 'course_id', "'enroll'", '0', no_client, 'enrolled_at'),
    ('stg_lms__user_unenrolled', 'unenrol', 'user_id', "'course'", 'course_id', "'unenroll'", '0', no_client, 'unenrolled_at'),
    ('stg_lms__course_completed', 'course_completion', 'user_id', "'course'", 'course_id', "'complete'", '0', no_client, 'completed_at'),
    ('stg_lms__progress_updated', 'progress', 'user_id', "'lesson'", 'lesson_id', "'progress'", '0', no_client, 'updated_at'),
    ('stg_lms__quiz_completed', 'quiz_attempt', 'user_id', "'quiz'", 'quiz_id', "'complete'",
        'if(started_at is null or started_at > completed_at, 0, intDiv(toUnixTimestamp64Milli(completed_at) - toUnixTimestamp64Milli(assumeNotNull(started_at)) + 500, 1000))',
        no_client, 'completed_at'),
    ('stg_lms__question_answered', 'question_answer', 'user_id', "'question'", 'question_id', "'answer'", '0', no_client, 'answered_at'),
    ('stg_lms__assignment_submitted', 'assignment_submission', 'user_id', "'assignment'", 'assignment_id', "'submit'", '0', no_client, 'submitted_at'),
    ('stg_lms__assignment_graded', 'assignment_grade', 'user_id', "'assignment'", 'assignment_id', "'grade'", '0', no_client, 'graded_at'),
    ('stg_lms__course_reviewed', 'review', 'user_id', "'course'", 'course_id', "'review'", '0', no_client, 'reviewed_at'),
    ('stg_lms__video_watched', 'video', 'user_id', "'video'", 'video_id', "'watch'", 'watched_seconds', no_client, 'watched_at'),
    ('stg_lms__payment_completed', 'payment', 'user_id', "'course'", 'course_id', "'pay'", '0', no_client, 'completed_at'),
] -%}

{%- set tracked_columns = [
    'id', 'user_id', 'activity_type', 'resource_type', 'resource_id', 'action', 'duration',
    'client_device_type', 'client_browser', 'client_operating_system', 'client_user_agent',
    'client_ip_address', 'created_at', 'staged_at',
] -%}
{%- if is_incremental() %}
{#- the new ids with copies staged before (resolved once, shared with the pre-hook) -#}
{%- set old_copies = lms_tracked_old_copies() %}
{%- endif %}

with

tracked as (
    {%- if is_incremental() %}
    -- the representative of each new id among its new copies, kept when no earlier copy has a
    -- smaller event_id (else the stored row stands)
    select {% for column in tracked_columns %}new.{{ column }} as {{ column }}{{ ', ' if not loop.last }}{% endfor %}
    from (
        select {{ tracked_columns | join(', ') }}, event_id
        from {{ ref('stg_lms__user_activity') }}
        where {{ lms_fresh(ref('stg_lms__user_activity')) }}
        order by id, event_id
        limit 1 by id
    ) as new
    left join (
        select id, old_event_id, toUInt8(1) as has_old_copy from {{ old_copies.sql }}
    ) as old on old.id = new.id
    where old.has_old_copy = 0 or new.event_id < old.old_event_id
    {%- else %}
    select {{ tracked_columns | join(', ') }}
    from {{ ref('stg_lms__user_activity') }}
    order by id, event_id
    limit 1 by id
    {%- endif %}
),

activities as (
    select
        toString(id) as id,
        toString(user_id) as user_id,
        toLowCardinality(toString(activity_type)) as activity_type,
        toLowCardinality(toString(resource_type)) as resource_type,
        toString(resource_id) as resource_id,
        toLowCardinality(toString(action)) as action,
        toInt64(duration) as duration,
        toLowCardinality(toString(client_device_type)) as client_device_type,
        toLowCardinality(toString(client_browser)) as client_browser,
        toLowCardinality(toString(client_operating_system)) as client_operating_system,
        toString(client_user_agent) as client_user_agent,
        toString(client_ip_address) as client_ip_address,
        created_at
    from tracked
    {%- for model_name, activity_type, user_id, resource_type, resource_id, action, duration, client, event_time in derived %}
    union all
    select
        event_id,
        {{ user_id }},
        '{{ activity_type }}',
        {{ resource_type }},
        {{ resource_id }},
        {{ action }},
        toInt64({{ duration }}),
        {{ client | join(', ') }},
        {{ event_time }}
    from {{ ref(model_name) }}
    {%- if is_incremental() %}
    where {{ lms_fresh(ref(model_name)) }}
    {%- endif %}
    {%- endfor %}
)

-- the union's common type of a LowCardinality column and a literal is String: back to LowCardinality
select
    * replace (
        toLowCardinality(activity_type) as activity_type,
        toLowCardinality(resource_type) as resource_type,
        toLowCardinality(action) as action,
        toLowCardinality(client_device_type) as client_device_type,
        toLowCardinality(client_browser) as client_browser,
        toLowCardinality(client_operating_system) as client_operating_system
    ),
    {{ lms_run_started_at() }} as updated_at
from activities
