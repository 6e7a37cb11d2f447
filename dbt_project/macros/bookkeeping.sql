{#
  Bookkeeping columns of the marts: created_at, updated_at and (course_analytics) update_count.

  lms_bookkeeping(relation, key, update_count=false) -> the mart's final SELECT: every column of
  `relation` (a CTE name or a relation holding the recomputed rows, WITHOUT bookkeeping
  columns) plus
      created_at    when the row was first built (kept from {{ this }} for an existing key)
      updated_at    the run start of the last run that changed the row's values
      update_count  (update_count=true) how many runs changed the row (1 for a new row)
  Incremental run: the recomputed rows are compared with the stored row of the same key by a
  cityHash64 over every non-bookkeeping column of {{ this }} (floats rounded to 9 decimals, so
  a different summation order is no change): equal -> updated_at/update_count kept; else
  updated_at = run start, update_count + 1. Full refresh: created_at = updated_at = run start,
  update_count = 1. Run start = dbt's run_started_at (one instant for the whole invocation).

      with final as (select course_id, total_enrollments, ... from ...)
      {{ lms_bookkeeping('final', key='course_id', update_count=true) }}

  `key` is a column name or a list of them (the model's unique_key).

  `previous_filter` (optional): a condition on {{ this }} selecting (a superset of) the stored
  rows of the recomputed keys, e.g. `lms_in('course_id', changed_courses)`. Without it the
  stored rows are found by `key in (select key from <relation>)`, which makes ClickHouse
  compute a CTE `relation` twice (CTEs are inlined): a model whose recomputation is costly
  passes the filter its changed keys already give.
#}
{% macro lms_bookkeeping(relation, key, update_count=false, previous_filter=none) -%}
    {%- set keys = [key] if key is string else key -%}
    {%- set bookkeeping = ['created_at', 'updated_at', 'update_count'] -%}
    {%- set run_at = lms_run_started_at() -%}
    {%- if is_incremental() -%}
        {%- set value_columns = [] -%}
        {%- for column in lms_columns(this) -%}
            {%- if column.name not in bookkeeping -%}{%- do value_columns.append(column) -%}{%- endif -%}
        {%- endfor %}
select
    recomputed.*,
    if(previous.present = 1, previous.previous_created_at, {{ run_at }}) as created_at,
    if(previous.present = 1 and previous.row_hash = {{ lms_row_hash(value_columns, 'recomputed') }}, previous.previous_updated_at, {{ run_at }}) as updated_at
    {%- if update_count %},
    toUInt32(if(previous.present = 1 and previous.row_hash = {{ lms_row_hash(value_columns, 'recomputed') }}, previous.previous_update_count, coalesce(previous.previous_update_count, 0) + 1)) as update_count
    {%- endif %}
from {{ relation }} as recomputed
left join (
    select
        {% for k in keys %}{{ k }}, {% endfor %}
        argMax(created_at, updated_at) as previous_created_at,
        max(updated_at) as previous_updated_at,
        {% if update_count %}argMax(update_count, updated_at) as previous_update_count,{% endif %}
        argMax({{ lms_row_hash(value_columns) }}, updated_at) as row_hash,
        toUInt8(1) as present
    from {{ this }}
    {%- if previous_filter is not none %}
    where {{ previous_filter }}
    {%- else %}
    where ({{ keys | join(', ') }}) in (select {{ keys | join(', ') }} from {{ relation }})
    {%- endif %}
    group by {{ keys | join(', ') }}
) as previous
on {% for k in keys %}recomputed.{{ k }} = previous.{{ k }}{% if not loop.last %} and {% endif %}{% endfor %}
    {%- else %}
select
    recomputed.*,
    {{ run_at }} as created_at,
    {{ run_at }} as updated_at
    {%- if update_count %},
    toUInt32(1) as update_count
    {%- endif %}
from {{ relation }} as recomputed
    {%- endif -%}
{%- endmacro %}

{#- cityHash64 of a tuple of the given columns (adapter Column objects), floats rounded to 9
    decimals. A tuple, because cityHash64 of several arguments is NULL when any one is NULL. -#}
{% macro lms_row_hash(columns, alias=none) -%}
    cityHash64(tuple(
    {%- for column in columns -%}
        {%- set name = (alias ~ '.' if alias else '') ~ adapter.quote(column.name) -%}
        {%- if 'Float' in column.dtype and 'Array' not in column.dtype -%}round({{ name }}, 9){%- else -%}{{ name }}{%- endif -%}
        {%- if not loop.last %}, {% endif -%}
    {%- endfor -%}
    ))
{%- endmacro %}

{#- dbt's run start as a ClickHouse DateTime64(3, 'UTC') literal: one instant for the whole run. -#}
{% macro lms_run_started_at() -%}
    toDateTime64('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:23] }}', 3, 'UTC')
{%- endmacro %}
