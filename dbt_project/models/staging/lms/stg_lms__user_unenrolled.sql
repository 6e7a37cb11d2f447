{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        engine=lms_engine('MergeTree'),
        order_by='(course_id, event_id)',
        partition_by='toYYYYMM(unenrolled_at)',
        settings={'index_granularity': 8192},
    )
}}
{#- UserUnenrolled: one row per event_id (the first copy ingested). -#}
{{ staging_from_raw(
    source('raw', 'user_unenrolled'),
    columns=['id', 'course_id', 'user_id', 'unenrolled_at'],
) }}
