{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        engine=lms_engine('MergeTree'),
        order_by='(quiz_id, event_id)',
        partition_by='toYYYYMM(completed_at)',
        settings={'index_granularity': 8192},
    )
}}
{#- QuizCompleted: one row per event_id (the first copy ingested). -#}
{{ staging_from_raw(
    source('raw', 'quiz_completed'),
    columns=['user_id', 'course_id', 'quiz_id', 'score', 'passed', 'completed_at', 'attempt_id', 'started_at'],
) }}
