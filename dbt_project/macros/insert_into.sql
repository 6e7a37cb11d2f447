{#
  dbt-clickhouse's `clickhouse__insert_into` (the INSERT of the append strategy and of table
  builds), overriding the adapter's macro of the same name and signature (the root project's
  wins). Same statement; in an incremental run the model's columns come from lms_columns (one
  lookup of every table per invocation, macros/invocation_cache.sql) instead of a query of
  system.columns per model: the 16 staging models append in every run.
#}
{% macro clickhouse__insert_into(target_relation, sql, has_contract, use_columns_from_sql=False) %}
  {%- if use_columns_from_sql %}
    {%- set quoted = [] -%}
    {%- for column in clickhouse__get_columns_in_query(sql) -%}
      {%- do quoted.append(adapter.quote(column)) -%}
    {%- endfor -%}
    {%- set dest_cols_csv = quoted | join(', ') -%}
  {%- else %}
    {#- the cached lookup only for the model's own table in an incremental run (lms_columns) -#}
    {%- set own_table = is_incremental() and target_relation.schema == this.schema and target_relation.identifier == this.identifier -%}
    {%- set dest_columns = lms_columns(target_relation) if own_table else adapter.get_columns_in_relation(target_relation) -%}
    {%- set dest_cols_csv = dest_columns | map(attribute='quoted') | join(', ') -%}
  {%- endif %}

  insert into {{ target_relation }}
        ({{ dest_cols_csv }})
  {%- if has_contract -%}
    -- Use a subquery to get columns in the right order
          SELECT {{ dest_cols_csv }}
          FROM (
            {{ sql }}
            )
  {%- else -%}
      {{ sql }}
  {%- endif -%}
  {{ adapter.get_model_query_settings(model) }}
{%- endmacro %}
