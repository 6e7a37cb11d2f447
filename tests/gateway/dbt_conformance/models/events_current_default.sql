-- Incremental, default strategy (dbt-clickhouse "legacy": rebuild as old rows whose key is not
-- in the new batch plus the new batch, then swap). New batch: events with a version newer than
-- the model's watermark.
{{ config(materialized='incremental', unique_key='event_id', order_by='event_id') }}

select
    event_id,
    user_id,
    kind,
    amount,
    ts,
    '{{ invocation_id }}' as dbt_invocation_id
from {{ ref('stg_events') }}
{% if is_incremental() %}
where ts > (select max(ts) from {{ this }})
{% endif %}
