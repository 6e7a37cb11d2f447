{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        engine=lms_engine('MergeTree'),
        order_by='(assignment_id, event_id)',
        partition_by='toYYYYMM(submitted_at)',
        settings={'index_granularity': 8192},
    )
}}
{#- AssignmentSubmitted: one row per event_id (the first copy ingested). -#}
{{ staging_from_raw(
    source('raw', 'assignment_submitted'),
    columns=['user_id', 'course_id', 'assignment_id', 'submitted_at'],
) }}
