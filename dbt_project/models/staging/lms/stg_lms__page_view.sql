{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        engine=lms_engine('MergeTree'),
        order_by='(empty(session_id), user_id, event_id)',
        partition_by='toYYYYMM(created_at)',
        settings={'index_granularity': 8192},
    )
}}
{#- PageView: one row per event_id (the first copy ingested).
    Sorted by user within two groups: page views with a SessionID, then those without (5% at
    5M events), which int_page_view_sessions sessionises by the 30-minute rule, reading a
    changed user's whole history of them. Together, a +1% run's 131 such users hold them in
    ~12 granules instead of ~107 interleaved with their other page views: ClickHouse reads the
    remaining columns only where the PREWHERE kept rows (90 -> 55 ms of CPU for that read). -#}
{{ staging_from_raw(
    source('raw', 'page_view'),
    columns=['id', 'user_id', 'session_id', 'url', 'path', 'title', 'referrer', 'time_on_page', 'entry_page', 'exit_page', 'client_device_type', 'client_browser', 'client_operating_system', 'client_user_agent', 'client_ip_address', 'created_at'],
) }}
