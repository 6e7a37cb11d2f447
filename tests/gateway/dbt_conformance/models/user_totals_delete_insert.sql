-- Incremental, delete+insert: the affected keys are the learners with raw rows newer than the
-- model's watermark; those learners are recomputed from their whole history and replaced.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='user_id',
        order_by='user_id',
    )
}}

select
    user_id,
    count() as event_count,
    sum(amount) as total_amount,
    max(ts) as last_ts,
    '{{ invocation_id }}' as dbt_invocation_id
from {{ ref('stg_events') }}
{% if is_incremental() %}
where user_id in (
    select user_id
    from {{ source('conformance', 'raw_events') }}
    where ts > (select max(last_ts) from {{ this }})
)
{% endif %}
group by user_id
