{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        engine=lms_engine('MergeTree'),
        order_by='(course_id, event_id)',
        partition_by='toYYYYMM(completed_at)',
        settings={'index_granularity': 8192},
    )
}}
{#- CourseCompleted: one row per event_id (the first copy ingested). -#}
{{ staging_from_raw(
    source('raw', 'course_completed'),
    columns=['user_id', 'course_id', 'completed_at'],
) }}
