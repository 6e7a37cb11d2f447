{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='id',
        engine=lms_engine('ReplacingMergeTree(updated_at)'),
        order_by='(user_id, start_time, id)',
        pre_hook=["
            {%- set users = lms_changed_sessions(key='user_id', gap_only=true, inline=true) if is_incremental() else none -%}
            {%- if is_incremental() and not users.empty -%}
            {%- set rewritten_from = '(select min(created_at) from ' ~ ref('int_page_view_sessions')
                ~ ' where ' ~ lms_fresh(ref('int_page_view_sessions')) ~ \" and startsWith(session_key, 'gap-'))\" -%}
            {%- set vanished = lms_changed_set(
                'select id from ' ~ this ~ ' where ' ~ lms_in('user_id', users)
                ~ ' and start_time >= ' ~ rewritten_from
                ~ ' and id not in (select session_key from ' ~ ref('int_page_view_sessions')
                ~ ' where ' ~ lms_in('user_id', users) ~ ' and ' ~ lms_since('created_at', rewritten_from) ~ ')',
                inline=true
            ) -%}
            {%- if not vanished.empty -%}
            delete from {{ this }}
            where {{ lms_in('user_id', users) }} and {{ lms_in('id', vanished) }}
            {%- endif -%}
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

  The pre-hook deletes the sessions that vanished: gap sessions of the users whose gap rows
  int_page_view_sessions rewrote, whose key no row holds any more (a late page view bridged
  them into an earlier session). Their rows were all rewritten since this model's last run, so
  such a session starts no earlier than the earliest rewritten gap row: both reads start there
  (sessions by its sort key, int_page_view_sessions by day), not at the users' first day.

  Incremental (replace unit: the session, unique_key id): a run recomputes the sessions of the
  int_page_view_sessions rows (re)written since this model's last run (lms_changed_sessions;
  all page views of such a session, whichever users they belong to). A late page view may
  merge or re-key its user's 30-minute-gap sessions: the pre-hook deletes, for the users of
  the rewritten gap-keyed rows, the stored sessions whose key no longer exists. Those keys are
  looked up first, so the DELETE (a mutation: 0.2-0.3 s at 5M events) is issued only when a
  session did vanish, which a late page view bridging two sessions causes, new ones seldom do;
  every other changed session is replaced by id.
-#}


{%- if is_incremental() %}
{#- the sessions to recompute, resolved once (macros/changed_sets.sql) -#}
{%- set changed_sessions = lms_changed_sessions() %}
{{ lms_skip_when_unchanged([changed_sessions]) }}
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
    where {{ lms_session_rows(changed_sessions) }}
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

{%- set previous_filter = lms_in('id', changed_sessions) if is_incremental() else none %}
{# Incremental runs write only new or changed rows (lms_bookkeeping gives them the run start
    as updated_at); a row recomputed unchanged keeps its stored copy. #}
select *
from (
    {{ lms_bookkeeping('sessions', key='id', previous_filter=previous_filter) }}
)
{%- if is_incremental() %}
where updated_at = {{ lms_run_started_at() }}
{%- endif %}
