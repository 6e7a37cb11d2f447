{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        engine=lms_engine('MergeTree'),
        order_by='(course_id, event_id)',
        partition_by='toYYYYMM(updated_at)',
        settings={'index_granularity': 8192},
    )
}}
{#- ProgressUpdated: one row per event_id (the first copy ingested). -#}
{{ staging_from_raw(
    source('raw', 'progress_updated'),
    columns=['user_id', 'course_id', 'module_id', 'lesson_id', 'percent_complete', 'updated_at'],
) }}
