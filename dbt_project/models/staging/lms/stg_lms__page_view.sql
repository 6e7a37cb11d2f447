{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        engine=lms_engine('MergeTree'),
        order_by='(user_id, event_id)',
        partition_by='toYYYYMM(created_at)',
        settings={'index_granularity': 8192},
    )
}}
{#- PageView: one row per event_id (the first copy ingested). -#}
{{ staging_from_raw(
    source('raw', 'page_view'),
    columns=['id', 'user_id', 'session_id', 'url', 'path', 'title', 'referrer', 'time_on_page', 'entry_page', 'exit_page', 'client_device_type', 'client_browser', 'client_operating_system', 'client_user_agent', 'client_ip_address', 'created_at'],
) }}
