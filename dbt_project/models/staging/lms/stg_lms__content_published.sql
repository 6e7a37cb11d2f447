{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        engine=lms_engine('MergeTree'),
        order_by='(course_id, event_id)',
        partition_by='toYYYYMM(published_at)',
        settings={'index_granularity': 8192},
    )
}}
{#- ContentPublished: one row per event_id (the first copy ingested). -#}
{{ staging_from_raw(
    source('raw', 'content_published'),
    columns=['course_id', 'module_id', 'lesson_id', 'item_type', 'item_id', 'parent_id', 'position', 'title', 'due_at', 'published_at'],
) }}
