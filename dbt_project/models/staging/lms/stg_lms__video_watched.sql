{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        engine=lms_engine('MergeTree'),
        order_by='(lesson_id, event_id)',
        partition_by='toYYYYMM(watched_at)',
        settings={'index_granularity': 8192},
    )
}}
{#- VideoWatched: one row per event_id (the first copy ingested). -#}
{{ staging_from_raw(
    source('raw', 'video_watched'),
    columns=['user_id', 'course_id', 'lesson_id', 'video_id', 'watched_seconds', 'playback_rate', 'completed', 'watched_at'],
) }}
