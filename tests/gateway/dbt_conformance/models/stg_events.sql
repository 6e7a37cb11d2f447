-- The latest version of every event (a view: recomputed on every read). Columns are qualified
-- because ClickHouse aliases are visible in the whole SELECT: `max(ts) as ts` would otherwise
-- make `argMax(user_id, ts)` an aggregate inside an aggregate.
{{ config(materialized='view') }}

select
    raw.event_id as event_id,
    argMax(raw.user_id, raw.ts) as user_id,
    argMax(raw.kind, raw.ts) as kind,
    argMax(raw.amount, raw.ts) as amount,
    max(raw.ts) as ts
from {{ source('conformance', 'raw_events') }} as raw
group by raw.event_id
