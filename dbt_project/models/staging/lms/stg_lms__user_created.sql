{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        engine=lms_engine('MergeTree'),
        order_by='(id, event_id)',
        partition_by='toYYYYMM(created_at)',
        settings={'index_granularity': 8192},
    )
}}
{#- UserCreated: one row per event_id (the first copy ingested). -#}
{{ staging_from_raw(
    source('raw', 'user_created'),
    columns=['id', 'email', 'first_name', 'last_name', 'created_at', 'organization_id'],
) }}
