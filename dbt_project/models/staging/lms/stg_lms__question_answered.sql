{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        engine=lms_engine('MergeTree'),
        order_by='(quiz_id, event_id)',
        partition_by='toYYYYMM(answered_at)',
        settings={'index_granularity': 8192},
    )
}}
{#- QuestionAnswered: one row per event_id (the first copy ingested). -#}
{{ staging_from_raw(
    source('raw', 'question_answered'),
    columns=['user_id', 'course_id', 'quiz_id', 'question_id', 'attempt_id', 'outcome', 'time_spent', 'answered_at'],
) }}
