{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='id',
        engine=lms_engine('ReplacingMergeTree(updated_at)'),
        order_by='(user_id, start_time, id)',
        pre_hook=["
            {%- set users = lms_changed_set(lms_changed_keys([(ref('stg_lms__page_view'), 'user_id')])) if is_incremental() else none -%}
            {%- if is_incremental() and not users.empty -%}
            delete from {{ this }}
            where {{ lms_in('user_id', users) }}
              and id not in (
                select session_key
                from {{ ref('int_page_view_sessions') }}
                where {{ lms_in('user_id', users) }}
              )
            {%- else -%}
            select 1
            {%- endif -%}
        "],
    )
}}
{#-
  sessions: one row per session (metrics.md "sessions"), from int_page_view_sessions.

  id = the session key: the page views' SessionID, or for page views without one
  concat('gap-', md5(user_id | id of the first page view)) (30-minute inactivity rule).
  user_id / referrer / client metadata = the first page view's (by created_at, then id);
  start_time = min created_at; end_time = max(created_at + TimeOnPage) (the client's value);
  duration = end_time - start_time in whole seconds (rounded half up); page_views = count;
  entry_page / exit_page = URL of the first / last page view; utm_source / utm_medium /
  utm_campaign = the entry URL's query parameters (URL-decoded; '' when absent).
  created_at / updated_at are bookkeeping (when the row was first built / last changed).

  Incremental (replace unit: the session, unique_key id): a run recomputes every session that
  holds a page view of a user with page views ingested since the watermark (so a session shared
  by several users is recomputed whole). A late page view may merge or re-key that user's
  30-minute-gap sessions: the pre-hook deletes that user's stored sessions whose key no longer
  exists (nothing to do, and no delete issued, when no page view is new); every other changed
  session is replaced by id.
-#}


-- refs used only in incremental runs
-- depends_on: {{ ref('stg_lms__page_view') }}

{%- if is_incremental() %}
{#- the users with new page views, the sessions holding their page views and every user of those
    sessions, each resolved once (macros/changed_sets.sql) -#}
{%- set changed = lms_changed_page_view_sessions() %}
{%- endif %}

with

session_page_views as (
    select
        session_key,
        user_id,
        page_view_id,
        event_id,
        created_at,
        time_on_page,
        url,
        referrer,
        client_device_type,
        client_browser,
        client_operating_system,
        client_user_agent,
        client_ip_address
    from {{ ref('int_page_view_sessions') }}
    {%- if is_incremental() %}
    {#- by user first (int_page_view_sessions is sorted by user_id), then by session: exactly the
        rows of the changed sessions -#}
    where {{ lms_in('user_id', changed.session_users) }}
      and {{ lms_in('session_key', changed.sessions) }}
    {%- endif %}
),

{%- set first = 'tuple(created_at, page_view_id, event_id)' %}

per_session as (
    select
        session_key as id,
        argMin(user_id, {{ first }}) as user_id,
        min(created_at) as start_time,
        max(created_at + toIntervalSecond(time_on_page)) as end_time,
        count() as page_views,
        argMin(url, {{ first }}) as entry_page,
        argMax(url, {{ first }}) as exit_page,
        argMin(referrer, {{ first }}) as referrer,
        argMin(client_device_type, {{ first }}) as client_device_type,
        argMin(client_browser, {{ first }}) as client_browser,
        argMin(client_operating_system, {{ first }}) as client_operating_system,
        argMin(client_user_agent, {{ first }}) as client_user_agent,
        argMin(client_ip_address, {{ first }}) as client_ip_address
    from session_page_views
    group by session_key
),

sessions as (
    select
        id,
        user_id,
        start_time,
        end_time,
        toInt64(intDiv(toUnixTimestamp64Milli(end_time) - toUnixTimestamp64Milli(start_time) + 500, 1000)) as duration,
        toInt64(page_views) as page_views,
        entry_page,
        exit_page,
        referrer,
        decodeURLFormComponent(extractURLParameter(entry_page, 'utm_source')) as utm_source,
        decodeURLFormComponent(extractURLParameter(entry_page, 'utm_medium')) as utm_medium,
        decodeURLFormComponent(extractURLParameter(entry_page, 'utm_campaign')) as utm_campaign,
        client_device_type,
        client_browser,
        client_operating_system,
        client_user_agent,
        client_ip_address
    from per_session
)

{#- The stored rows of the recomputed sessions, found from the cheap input CTE (by user_id, the
    front of this table's ORDER BY): a stored session's page views are among its page views now
    (SessionID keys only gain page views; a gap key belongs to one user), so its user_id is one
    of the users in session_page_views. The key lists are not repeated in the query text
    (each is up to 2,000 literals; max_query_size). #}
{%- set previous_filter = none %}
{%- if is_incremental() %}
{%- set previous_filter = 'user_id in (select user_id from session_page_views) and id in (select session_key from session_page_views)' %}
{%- endif %}
{# Incremental runs write only new or changed rows (lms_bookkeeping gives them the run start
    as updated_at); a row recomputed unchanged keeps its stored copy. #}
select *
from (
    {{ lms_bookkeeping('sessions', key='id', previous_filter=previous_filter) }}
)
{%- if is_incremental() %}
where updated_at = {{ lms_run_started_at() }}
{%- endif %}
