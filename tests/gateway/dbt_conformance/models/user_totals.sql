-- Per learner totals, rebuilt in full on every run (a table).
{{ config(materialized='table', order_by='user_id') }}

select
    e.user_id as user_id,
    u.segment as segment,
    count() as event_count,
    sum(e.amount) as total_amount,
    max(e.ts) as last_ts
from {{ ref('stg_events') }} as e
inner join {{ ref('users') }} as u on e.user_id = u.user_id
group by e.user_id, u.segment
