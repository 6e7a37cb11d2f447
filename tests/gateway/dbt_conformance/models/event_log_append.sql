-- Incremental, append: every raw row version, appended once (no unique key).
{{ config(materialized='incremental', incremental_strategy='append', order_by='(ts, event_id)') }}

select
    event_id,
    user_id,
    kind,
    amount,
    ts,
    '{{ invocation_id }}' as dbt_invocation_id
from {{ source('conformance', 'raw_events') }}
{% if is_incremental() %}
where ts > (select max(ts) from {{ this }})
{% endif %}
