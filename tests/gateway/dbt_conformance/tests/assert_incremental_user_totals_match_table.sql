-- Singular test: the delete+insert incremental model agrees with the fully rebuilt table.
-- Returns the rows that are in one and not in the other.
select * from (
    select user_id, event_count, total_amount, last_ts from {{ ref('user_totals') }}
    except
    select user_id, event_count, total_amount, last_ts from {{ ref('user_totals_delete_insert') }}
)
union all
select * from (
    select user_id, event_count, total_amount, last_ts from {{ ref('user_totals_delete_insert') }}
    except
    select user_id, event_count, total_amount, last_ts from {{ ref('user_totals') }}
)
