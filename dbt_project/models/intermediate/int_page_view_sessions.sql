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

  The gap users' page views are re-sessionised on narrow columns when the model compiles
  (rewritten_gap_rows: the (user_id, event_id, session_key) of the rows to write, resolved once
  by lms_changed_set), and the wide columns (URL, title, user agent, ...) are read only for
  those rows and for the new page views with a SessionID. Reading the wide columns of the gap
  users' whole history and dropping the rows whose key did not change cost 0.9 s of CPU at 5M
  events (+1%): the primary key (user_id, event_id) finds the rows written, the users' history
  spans most granules.
-#}
{%- set page_view_columns = [
    'created_at', 'time_on_page', 'url', 'path', 'title', 'referrer', 'client_device_type',
    'client_browser', 'client_operating_system', 'client_user_agent', 'client_ip_address',
    'ingested_at',
] %}
{%- set page_views = ref('stg_lms__page_view') %}

{%- if is_incremental() %}
{%- set fresh = lms_fresh(page_views) %}
{#- the users with new page views without SessionID, resolved once (macros/changed_sets.sql) -#}
{%- set gap_users = lms_changed_set('select user_id from ' ~ page_views ~ ' where ' ~ fresh ~ " and session_id = ''") %}
{#- whether any new page view has a SessionID: with none, and no gap user, the run has nothing
    to write and issues no statement for this model (a run with nothing new at 5M events spent
    0.3-0.9 s here creating, filling and dropping an empty temp table) -#}
{%- set new_keyed_page_views = lms_changed_set('select 1 as found from ' ~ page_views ~ ' where ' ~ fresh ~ " and session_id != '' limit 1") %}
{#- (also learns whether gap_users is empty) -#}
{{ lms_skip_when_unchanged([gap_users, new_keyed_page_views]) }}
{#- their page views without SessionID whose key is new or changed, in two steps:
    1. the gap users' page views without SessionID sessionised again, kept for the sessions that
       hold a new page view (with their created_at): a page view can only extend, bridge or
       start earlier the session it joins, so the rows of any other session keep their key;
    2. the stored key of each of those rows compared with its key now, read from the earliest
       of them on (the model is sorted by day first: the read skips the older days; reading
       the gap users' whole history cost ~140 ms of CPU at 5M events, +1%). -#}
{%- set touched_gap_rows_sql %}
    select user_id, event_id, session_key, created_at
    from (
        select *, max(is_new) over (partition by user_id, session_key) as session_is_touched
        from (
            {{ lms_gap_sessions('select user_id, event_id, id, created_at, toUInt8(' ~ fresh ~ ') as is_new from ' ~ page_views ~ ' where ' ~ lms_in('user_id', gap_users) ~ " and session_id = ''", carry=['created_at', 'is_new']) }}
        )
    )
    where session_is_touched = 1
{%- endset %}
{%- set touched_gap_rows = gap_users if gap_users.empty else lms_changed_set(touched_gap_rows_sql) %}
{%- set rewritten_gap_rows_sql %}
    select touched.user_id as user_id, touched.event_id as event_id, touched.session_key as session_key
    from {{ touched_gap_rows.sql }} as touched
    left join (
        select user_id, event_id, session_key as stored_session_key, toUInt8(1) as stored
        from {{ this }}
        where {{ lms_in('user_id', gap_users) }}
          and {{ lms_since('created_at', '(select min(created_at) from ' ~ touched_gap_rows.sql ~ ')') }}
    ) as stored
        on stored.user_id = touched.user_id and stored.event_id = touched.event_id
    where stored.stored = 0 or stored.stored_session_key != touched.session_key
{%- endset %}
{%- set rewritten_gap_rows = gap_users if gap_users.empty else lms_changed_set(rewritten_gap_rows_sql) %}
{%- endif %}

{%- set row -%}
    pv.id as page_view_id,
    pv.event_id as event_id,
    pv.user_id as user_id,
    {session_key} as session_key,
    {%- for column in page_view_columns %}
    pv.{{ column }} as {{ column }},
    {%- endfor %}
    {{ lms_run_started_at() }} as sessionised_at
{%- endset %}

{%- if is_incremental() %}
-- new page views with a SessionID (staged since the watermark: the newest parts)
select {{ row | replace('{session_key}', 'pv.session_id') }}
from {{ page_views }} as pv
where {{ fresh }} and session_id != ''
{%- if not rewritten_gap_rows.empty %}
union all
-- page views without SessionID whose key is new or changed (resolved above): found by key
select {{ row | replace('{session_key}', 'rewritten.session_key') }}
from {{ page_views }} as pv
inner join {{ rewritten_gap_rows.sql }} as rewritten
    on pv.user_id = rewritten.user_id and pv.event_id = rewritten.event_id
where (pv.user_id, pv.event_id) in (select user_id, event_id from {{ rewritten_gap_rows.sql }})
{%- endif %}
{%- else %}
select {{ row | replace('{session_key}', "if(pv.session_id != '', pv.session_id, gap.session_key)") }}
from {{ page_views }} as pv
left join (
    {{ lms_gap_sessions('select user_id, event_id, id, created_at from ' ~ page_views ~ " where session_id = ''") }}
) as gap
    on pv.event_id = gap.event_id
{%- endif %}
