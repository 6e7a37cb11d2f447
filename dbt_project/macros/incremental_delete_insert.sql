{#
  The `delete+insert` incremental strategy, overriding dbt-clickhouse's
  `clickhouse__incremental_delete_insert` (same name and signature; the root project's macro
  wins over the adapter's). Same outcome, fewer and cheaper statements per model:

    dbt-clickhouse 1.10.3                          here
    create table new_data ... EMPTY AS (<sql>)     create table new_data ENGINE = Memory
      (plans the model's query once just to          AS select <cols> from (<sql>)
       learn its columns: scalar subqueries and       (one statement: the query runs once)
       IN sets run)
    columns of new_data                            -
    insert into new_data <sql>                     -
    -                                              select count() from new_data
    delete from <this> where key in new_data       the same, skipped when new_data is empty
    columns of <this>                              -  (lms_columns: one lookup of every table
                                                      per invocation, macros/invocation_cache.sql)
    insert into <this> select from new_data        the same, skipped when new_data is empty
    drop new_data, drop distributed new_data       one drop of every model's new_data at the end
    (and a drop of new_data before the create)       of the run (lms_drop_at_run_end; a DROP cost
                                                     10-160 ms per model); none before the create:
                                                     its name holds the invocation id

  A model with nothing to recompute (no changed key) therefore costs two statements (the
  CREATE ... AS SELECT, the count), and
  none when its compiled SQL carries lms_skip_when_unchanged's marker (macros/changed_sets.sql).
  The node's adapter_response carries `rows_affected` = the rows recomputed (benchmarks read it).
  Columns are matched by name (the model's SELECT may list them in any order; a column the
  table lacks is an error, as before). Targets with a cluster keep the adapter's own DDL for the
  new-data table (ON CLUSTER, the model's replicated engine, EMPTY AS), so every replica sees
  the same rows; the Distributed variant is not used by this project and is refused.

  `meta: {lms_delete_bound: <column>}` (model config, optional): a time column that never
  changes for a unique key and whose day leads the model's sorting key, e.g.
  int_page_view_sessions' created_at (a page view's own time). The DELETE then also requires
  `<column> >= min(<column>) of the new rows` (lms_since: on whole days too), which every row
  it replaces meets, so ClickHouse can skip the older days of the table by its primary key.
#}
{% macro clickhouse__incremental_delete_insert(existing_relation, unique_key, incremental_predicates, is_distributed=False) %}
    {%- if is_distributed -%}
        {{ exceptions.raise_compiler_error("macros/incremental_delete_insert.sql: the distributed delete+insert strategy is not supported by this project") }}
    {%- endif -%}
    {#- a model whose changed sets are all empty has nothing to recompute (lms_skip_when_unchanged) -#}
    {%- if lms_nothing_changed_marker() in sql -%}
        {%- do store_raw_result(name='main', message='OK', code='OK', rows_affected=0) -%}
        {{ return(none) }}
    {%- endif -%}
    {#- named after this invocation, so no earlier run left one behind: no drop first -#}
    {% set new_data_relation = existing_relation.incorporate(path={"identifier": existing_relation.identifier
       + '__dbt_new_data_' + invocation_id.replace('-', '_')}) %}
    {%- set dest_columns = lms_columns(existing_relation) -%}
    {%- set dest_cols_csv = dest_columns | map(attribute='quoted') | join(', ') -%}
    {%- set on_cluster = on_cluster_clause(existing_relation) | trim -%}
    {%- set delete_bound = (config.get('meta') or {}).get('lms_delete_bound') -%}
    {%- do lms_drop_at_run_end(new_data_relation) -%}

    {%- if on_cluster %}
    {% call statement('main') %}
        {{ create_table_or_empty(False, new_data_relation, sql, config.get('contract').enforced) }}
    {% endcall %}

    {% call statement('insert_new_data_temp') %}
        insert into {{ new_data_relation }} ({{ dest_cols_csv }})
        select {{ dest_cols_csv }}
        from (
            {{ sql }}
        )
        {{ adapter.get_model_query_settings(model) }}
    {% endcall %}
    {%- else %}
    {#- one statement: the rows keep the query's column types until the copy below converts
        them to the table's, as an INSERT into a table shaped like <this> did before -#}
    {% call statement('main') %}
        create table {{ new_data_relation }} engine = Memory as
        select {{ dest_cols_csv }}
        from (
            {{ sql }}
        )
        {{ adapter.get_model_query_settings(model) }}
    {% endcall %}
    {%- endif %}

    {%- set new_rows = run_query('select count() from ' ~ new_data_relation).columns[0].values()[0] | int -%}
    {#- the node's adapter_response (run_results.json) reports the rows recomputed -#}
    {%- do store_raw_result(name='main', message='OK', code='OK', rows_affected=new_rows) -%}
    {%- if new_rows > 0 %}
        {% call statement('delete_existing_data') %}
            {%- set subquery_settings = ' settings select_sequential_consistency = 1' if target.database_engine == 'Shared' else '' -%}
            delete from {{ existing_relation }} where ({{ unique_key }}) in (select {{ unique_key }}
                                          from {{ new_data_relation }}{{ subquery_settings }})
            {%- if delete_bound %}
              and {{ lms_since(delete_bound, '(select min(' ~ delete_bound ~ ') from ' ~ new_data_relation ~ ')') }}
            {%- endif %}
            {%- if incremental_predicates %}
                {% for predicate in incremental_predicates %}
                    and {{ predicate }}
                {% endfor %}
            {%- endif -%}
            {{ adapter.get_model_query_settings(model) }}
        {% endcall %}

        {% call statement('insert_new_data') %}
            insert into {{ existing_relation }} ({{ dest_cols_csv }})
            select {{ dest_cols_csv }} from {{ new_data_relation }}
            {{ adapter.get_model_query_settings(model) }}
        {% endcall %}
    {%- endif %}
    {#- dropped with the run's other new-data tables by the on-run-end hook -#}
{% endmacro %}
