{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        engine=lms_engine('MergeTree'),
        order_by='(id, event_id)',
        partition_by='toYYYYMM(login_at)',
        settings={'index_granularity': 8192},
    )
}}
{#- UserLoggedIn: one row per event_id (the first copy ingested). -#}
{{ staging_from_raw(
    source('raw', 'user_logged_in'),
    columns=['id', 'email', 'ip', 'user_agent', 'login_at'],
) }}
