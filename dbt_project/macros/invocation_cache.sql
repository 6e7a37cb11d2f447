{#
  Lookups kept for one dbt invocation.

  dbt renders a model several times in one run: its SQL when compiled, its pre- and post-hooks,
  its materialization. Each rendering has a fresh context, so a value a macro kept in `model`
  was looked up again by the next rendering: in a +1% run at 5M events, 42 column lookups and
  27 reads of a model's watermarks for 34 models (a statement each, 10-20 ms with dbt's own
  handling). The `graph` context variable is the one dict dbt builds afresh for each
  invocation (the manifest's flat graph) and hands every rendering of every node, so a cache
  kept there lives exactly as long as the invocation; its entries are also keyed by the
  invocation id, should a caller reuse a graph.

  lms_invocation_cache() -> that dict (call it only when `execute`). Threads share it: an entry
  two threads fill at once is looked up twice and written twice with the same value.
#}
{% macro lms_invocation_cache() -%}
    {{ return(graph.setdefault('__lms_invocation_cache', {}).setdefault(invocation_id, {})) }}
{%- endmacro %}

{#
  lms_columns(relation) -> adapter.get_columns_in_relation(relation), answered from one lookup
  of every table in the project's databases, made the first time an invocation asks. A model's
  table keeps its columns during an incremental run: only the model's own node changes it, and
  not its columns (its schema changes are off: on_schema_change 'ignore', the default). So the
  answer holds for a model asking about its own table in an incremental run (the callers:
  lms_bookkeeping, the delete+insert and append strategies), whenever the lookup was made. A
  table the lookup did not see (created since) is looked up on its own; a model that lets dbt
  alter its columns (any other on_schema_change) always looks them up afresh.
#}
{% macro lms_columns(relation) -%}
    {%- if not execute or (config.get('on_schema_change') or 'ignore') != 'ignore' -%}
        {{ return(adapter.get_columns_in_relation(relation)) }}
    {%- endif -%}
    {%- set cache = lms_invocation_cache() -%}
    {%- if 'columns' not in cache -%}
        {%- set databases = [] -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.schema not in databases -%}
            {%- do databases.append(node.schema) -%}
        {%- endfor -%}
        {#- one row of JSON: agate's type inference per row cost more than the query -#}
        {%- set tables_sql -%}
            select toJSONString(groupArray((concat(database, '.', table), columns)))
            from (
                select database, table, groupArray((name, type)) as columns
                from (
                    select database, table, name, type
                    from system.columns
                    where database in ('{{ databases | join("', '") }}')
                    order by database, table, position
                )
                group by database, table
            )
        {%- endset -%}
        {%- set tables = {} -%}
        {%- for table in fromjson(run_query(tables_sql).rows[0][0]) -%}
            {%- do tables.update({table[0]: table[1]}) -%}
        {%- endfor -%}
        {%- do cache.update({'columns': tables}) -%}
    {%- endif -%}
    {%- set found = cache['columns'].get(relation.schema ~ '.' ~ relation.identifier) -%}
    {%- if found is none -%}
        {{ return(adapter.get_columns_in_relation(relation)) }}
    {%- endif -%}
    {%- set columns = [] -%}
    {%- for name_and_type in found -%}
        {%- do columns.append(api.Column(name_and_type[0], name_and_type[1])) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}

{#
  lms_drop_at_run_end(relation) -> nothing; the table is dropped by the on-run-end hook
  lms_drop_run_tables(), with every other table registered in this invocation, in one DROP
  (per ON CLUSTER clause) instead of one statement per model. Registered when created, so a
  model that fails after creating it leaves nothing behind either.
#}
{% macro lms_drop_at_run_end(relation) -%}
    {%- set clause = on_cluster_clause(relation, True) | trim -%}
    {%- do lms_invocation_cache().setdefault('drop_at_run_end', {}).setdefault(clause, []).append(relation | string) -%}
{%- endmacro %}

{#- The on-run-end hook: drop the tables lms_drop_at_run_end registered (nothing if none: dbt
    then runs no statement). -#}
{% macro lms_drop_run_tables() -%}
    {%- set groups = lms_invocation_cache().get('drop_at_run_end', {}) if execute else {} -%}
    {%- set statements = [] -%}
    {%- for clause, tables in groups.items() if tables -%}
        {%- do statements.append('drop table if exists ' ~ tables | join(', ') ~ (' ' ~ clause if clause else '')) -%}
    {%- endfor -%}
    {#- the hook runs the first; several ON CLUSTER clauses in one run are not expected -#}
    {%- for statement_sql in statements[1:] -%}
        {%- do run_query(statement_sql) -%}
    {%- endfor -%}
    {{ statements[0] if statements else '' }}
{%- endmacro %}
