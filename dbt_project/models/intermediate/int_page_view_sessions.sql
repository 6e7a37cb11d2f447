{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['user_id', 'event_id'],
        engine=lms_engine('MergeTree'),
        order_by='(toDate(created_at), session_key, created_at, page_view_id)',
        partition_by='toYYYYMM(created_at)',
        meta={'lms_watermark_column': 'sessionised_at', 'lms_delete_bound': 'created_at'},
        post_hook=["{{ lms_record_watermark() }}"],
    )
}}
{#-
  Every PageView with its session key: the SessionID when not empty; else the user's page views
  without SessionID, ordered by (created_at, id), start a new session when created_at is more
  than 30 minutes after the previous one; such a session's key is
  concat('gap-', lower(hex(MD5(concat(user_id, '|', <id of its first page view>))))).
  sessionised_at = the start of the run that (re)wrote the row.

  Incremental, by what can change:
    - a page view with a SessionID keys itself: only the page views staged since the watermark
      are written;
    - a late page view without SessionID may bridge or split its user's gap sessions: every
      page view without SessionID of the users with such new page views is sessionised again,
      and of those only the rows whose key changed are written (with the new ones).
  So a run writes the new page views and the ones re-keyed next to them, all close in time to
  the new events; the rows are replaced by (user_id, event_id). page_views and sessions read the
  sessions of the rows (re)written since their own run: this model is their watermark source
  (meta lms_watermark_column, macros/watermarks.sql). Sorted by day first: a session's page
  views sit together in time, so those readers bound their read by the earliest page view of
  the changed sessions (lms_session_rows) and skip the older days.
-#}
{%- if is_incremental() %}
{%- set fresh = lms_fresh(ref('stg_lms__page_view')) %}
{#- the users with new page views without SessionID, resolved once (macros/changed_sets.sql) -#}
{%- set gap_users = lms_changed_set('select user_id from ' ~ ref('stg_lms__page_view') ~ ' where ' ~ fresh ~ " and session_id = ''") %}
{%- endif %}
with page_views as (
    select
        event_id,
        id,
        user_id,
        session_id,
        created_at,
        time_on_page,
        url,
        path,
        title,
        referrer,
        client_device_type,
        client_browser,
        client_operating_system,
        client_user_agent,
        client_ip_address,
        ingested_at
    from {{ ref('stg_lms__page_view') }}
    {%- if is_incremental() %}
    where ({{ fresh }} and session_id != '')
       or ({{ lms_in('user_id', gap_users) }} and session_id = '')
    {%- endif %}
),

without_session as (
    select
        event_id,
        user_id,
        id,
        created_at,
        (row_number() over by_time) = 1
            or created_at > (lagInFrame(created_at) over by_time) + interval 30 minute as starts_session
    from page_views
    where session_id = ''
    window by_time as (
        partition by user_id order by created_at, id, event_id
        rows between unbounded preceding and current row
    )
),

numbered as (
    select
        event_id,
        user_id,
        id,
        created_at,
        sum(toUInt64(starts_session)) over (
            partition by user_id order by created_at, id, event_id
            rows between unbounded preceding and current row
        ) as session_number
    from without_session
),

gap_sessions as (
    select
        event_id,
        {{ lms_gap_session_key('user_id', 'first_value(id) over (partition by user_id, session_number order by created_at, id, event_id rows between unbounded preceding and unbounded following)') }} as gap_session_key,
        toUInt8(1) as is_gap
    from numbered
),

{%- if is_incremental() %}
-- the stored key of every page view of the gap users: a re-sessionised row whose key did not
-- change is not written again
stored as (
    select user_id, event_id, session_key as stored_session_key, toUInt8(1) as stored
    from {{ this }}
    where {{ lms_in('user_id', gap_users) }}
),
{%- endif %}

sessionised as (
select
    page_views.id as page_view_id,
    page_views.event_id as event_id,
    page_views.user_id as user_id,
    if(gap_sessions.is_gap = 1, gap_sessions.gap_session_key, page_views.session_id) as session_key,
    page_views.created_at as created_at,
    page_views.time_on_page as time_on_page,
    page_views.url as url,
    page_views.path as path,
    page_views.title as title,
    page_views.referrer as referrer,
    page_views.client_device_type as client_device_type,
    page_views.client_browser as client_browser,
    page_views.client_operating_system as client_operating_system,
    page_views.client_user_agent as client_user_agent,
    page_views.client_ip_address as client_ip_address,
    page_views.ingested_at as ingested_at,
    {{ lms_run_started_at() }} as sessionised_at
from page_views
left join gap_sessions on page_views.event_id = gap_sessions.event_id
)

select sessionised.*
from sessionised
{%- if is_incremental() %}
left join stored
    on stored.user_id = sessionised.user_id and stored.event_id = sessionised.event_id
where stored.stored = 0 or stored.stored_session_key != sessionised.session_key
{%- endif %}
