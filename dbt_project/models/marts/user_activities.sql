{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='id',
        engine=lms_engine('ReplacingMergeTree(updated_at)'),
        order_by='(user_id, created_at, id)',
        partition_by='toYYYYMM(created_at)',
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

  Incremental: every row depends on its own source event only. A run reads the staging rows
  ingested after this model's per-table watermark (minus the lookback) and replaces their ids;
  tracked ids are recomputed from every copy of that id (the representative may change).
  Only new or changed rows are written: a row recomputed unchanged keeps its stored copy and
  its updated_at (bookkeeping: the last run that changed it).
  Sorted by (user_id, created_at, id): per-user reads (user_analytics) hit a key range;
  partitions by month prune time ranges.
-#}
{%- set lookback = ' - interval ' ~ var('ingest_lookback_minutes') ~ ' minute' -%}
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

with
{%- if is_incremental() %}
fresh_tracked as (
    select id
    from {{ ref('stg_lms__user_activity') }}
    where ingested_at > {{ lms_watermark(ref('stg_lms__user_activity')) }}{{ lookback }}
),
{%- endif %}

tracked as (
    select
        id,
        user_id,
        activity_type,
        resource_type,
        resource_id,
        action,
        duration,
        client_device_type,
        client_browser,
        client_operating_system,
        client_user_agent,
        client_ip_address,
        created_at
    from {{ ref('stg_lms__user_activity') }}
    {%- if is_incremental() %}
    where id in (select id from fresh_tracked)
    {%- endif %}
    order by id, event_id
    limit 1 by id
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
    where ingested_at > {{ lms_watermark(ref(model_name)) }}{{ lookback }}
    {%- endif %}
    {%- endfor %}
)

{% if is_incremental() -%}
{#- Only new or changed rows are written (delete+insert by id): a row recomputed unchanged keeps
    its stored copy and updated_at. Unchanged = same hash of every column but updated_at. -#}
{%- set value_columns = [] -%}
{%- for column in adapter.get_columns_in_relation(this) -%}
    {%- if column.name != 'updated_at' -%}{%- do value_columns.append(adapter.quote(column.name)) -%}{%- endif -%}
{%- endfor %}
select recomputed.*, {{ lms_run_started_at() }} as updated_at
from activities as recomputed
left join (
    select id, argMax(cityHash64(tuple({{ value_columns | join(', ') }})), updated_at) as row_hash, toUInt8(1) as present
    from {{ this }}
    -- by id alone: the recomputed users are spread over the whole table, so a user_id filter
    -- prunes little and costs one more evaluation of the `activities` union (CTEs are inlined)
    where id in (select id from activities)
    group by id
) as previous on recomputed.id = previous.id
where previous.present = 0
   or previous.row_hash != cityHash64(tuple({% for name in value_columns %}recomputed.{{ name }}{% if not loop.last %}, {% endif %}{% endfor %}))
{%- else -%}
select *, {{ lms_run_started_at() }} as updated_at
from activities
{%- endif %}
