{#
  Incremental-by-keys support: watermarks, changed keys, the as_of a model was built with.

  Table `<schema_prefix>analytics.dbt_watermarks` (created by the on-run-start hook
  `lms_create_watermarks_table()` in dbt_project.yml), one row per (model, source, run):
      model           the model's name (e.g. 'course_analytics')
      source          a staging model the model depends on, directly or through intermediates
      loaded_through  the start of the dbt run that built the model: the source's rows
                      stamped (its watermark column, see lms_watermark_column: the start of
                      the run that wrote the row) up to it were all there when the model ran
      as_of           int_as_of.as_of when the model finished building (epoch when unknown)
      run_at          when the row was written (the latest row per (model, source) wins)
  Readers aggregate with argMax(..., run_at): never FINAL, never a background merge.

  Every model under models/marts gets the post-hook `{{ lms_record_watermark() }}` from
  dbt_project.yml (a model elsewhere would declare it as a STRING so it renders at run time:
  post_hook=["{{ lms_record_watermark() }}"]). In incremental runs a mart recomputes only the
  changed keys:

    {{ config(materialized='incremental', incremental_strategy='delete+insert',
              unique_key='course_id', engine=lms_engine('ReplacingMergeTree(updated_at)'),
              order_by='course_id') }}
    with changed as (
        {% if is_incremental() %}
        {{ lms_changed_keys([
            (ref('stg_lms__user_enrolled'), 'course_id'),
            (ref('stg_lms__content_published'), 'course_id'),
        ]) }}
        {% endif %}
    ), ...
    where 1 {% if is_incremental() %} and course_id in (select key from changed) {% endif %}

  Watermarks are kept per staging table, so a staging table that was built less recently than
  another never makes the model skip its rows. A staging row carries `staged_at`, the start of
  the dbt run that staged it (macros/staging_from_raw.sql), so "written since the model's last
  run" is exact: no re-read margin, no row compared twice. Only raw `ingested_at` needs the
  var('ingest_lookback_minutes') margin (staging applies it when it reads raw).

  A model that rewrites rows of older events (int_page_view_sessions re-keys a user's gap
  sessions) can serve as a watermark source too: it declares the column that tells when a row
  was (re)written, `config(meta={'lms_watermark_column': 'sessionised_at'})`, and its readers
  pass that column as the third item of a pair: (ref('int_page_view_sessions'), 'session_key',
  'sessionised_at').

  The marts resolve their changed keys once per run with lms_changed_set (macros/changed_sets.sql)
  and filter with lms_in: ClickHouse inlines a CTE at every reference, so a `changed` CTE used
  in several places would be recomputed each time, and an empty set then reads nothing.
#}

{#- The watermarks relation (prefixed like every model database). -#}
{% macro lms_watermarks_relation() -%}
    {{ return(api.Relation.create(schema=var('schema_prefix', '') ~ 'analytics', identifier='dbt_watermarks', type='table')) }}
{%- endmacro %}

{#- on-run-start hooks (dbt_project.yml): the analytics database and the watermarks table. -#}
{#- The on-run-start hooks render nothing (dbt then runs no statement) when dbt's relation cache,
    filled at the start of the run, already holds the table. -#}
{% macro lms_watermarks_table_exists() -%}
    {%- set relation = lms_watermarks_relation() -%}
    {{ return(execute and adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier) is not none) }}
{%- endmacro %}

{% macro lms_create_watermarks_database() -%}
    {%- if not lms_watermarks_table_exists() -%}
    create database if not exists {{ lms_watermarks_relation().schema }} {{ lms_on_cluster() }}
    {%- endif -%}
{%- endmacro %}

{% macro lms_create_watermarks_table() -%}
    {%- if lms_watermarks_table_exists() -%}{{ return('') }}{%- endif -%}
    {%- set relation = lms_watermarks_relation() -%}
    create table if not exists {{ relation }} {{ lms_on_cluster() }}
    (
        model String,
        source String,
        loaded_through DateTime64(3, 'UTC'),
        as_of DateTime64(3, 'UTC'),
        run_at DateTime64(3, 'UTC')
    )
    engine = {{ lms_engine('ReplacingMergeTree(run_at)') }}
    order by (model, source)
{%- endmacro %}

{#- The watermark sources the current model reads, directly or through other models (staging
    models, and models declaring meta lms_watermark_column): a list of graph nodes, sorted by
    name. -#}
{% macro lms_staging_ancestors(node_id=none) -%}
    {%- set start = node_id or model.unique_id -%}
    {%- set seen = [] -%}
    {%- set found = [] -%}
    {%- set frontier = [start] -%}
    {#- breadth-first over depends_on, bounded depth (the DAG is shallow) -#}
    {%- for depth in range(20) -%}
        {%- set next_frontier = [] -%}
        {%- for uid in frontier -%}
            {%- set node = graph.nodes.get(uid) -%}
            {%- if node is not none -%}
                {%- for parent in node.depends_on.nodes -%}
                    {%- if parent not in seen -%}
                        {%- do seen.append(parent) -%}
                        {%- do next_frontier.append(parent) -%}
                        {%- set parent_node = graph.nodes.get(parent) -%}
                        {%- if parent_node is not none and parent_node.resource_type == 'model' and (parent_node.name.startswith('stg_') or lms_watermark_column(parent_node) != 'ingested_at') -%}
                            {%- do found.append(parent_node) -%}
                        {%- endif -%}
                    {%- endif -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set frontier = next_frontier -%}
    {%- endfor -%}
    {{ return(found | sort(attribute='name')) }}
{%- endmacro %}

{#- The column a watermark source's watermark is the maximum of: the model's meta
    lms_watermark_column (staging models: staged_at, set in dbt_project.yml), else `ingested_at`. -#}
{% macro lms_watermark_column(node) -%}
    {{ return((node.config.meta or {}).get('lms_watermark_column', 'ingested_at')) }}
{%- endmacro %}

{#- The watermark column of the model behind `relation` (a ref): see lms_watermark_column. -#}
{% macro lms_watermark_column_of(relation) -%}
    {#- at parse time there is no graph (and nothing runs) -#}
    {%- if not execute -%}{{ return('ingested_at') }}{%- endif -%}
    {#- a model named like its relation (every model here): one lookup, not a walk of the graph -#}
    {%- set named = graph.nodes.get('model.' ~ project_name ~ '.' ~ relation.identifier) -%}
    {%- if named is not none and (named.alias or named.name) == relation.identifier -%}
        {{ return(lms_watermark_column(named)) }}
    {%- endif -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and (node.alias or node.name) == relation.identifier -%}
        {{ return(lms_watermark_column(node)) }}
    {%- endfor -%}
    {{ return('ingested_at') }}
{%- endmacro %}

{#
  lms_fresh(relation, column=none) -> the condition "this row of `relation` was written after the
  model's watermark for it": `<column> > lms_watermark(relation)`. `column` defaults to the
  relation's watermark column. staged_at and sessionised_at are the start of the dbt run that
  wrote the row, so the condition is exact (runs of one project do not overlap: Dagster runs
  them one at a time); only a raw `ingested_at` (a row's insert may finish after a later
  row's) keeps the var('ingest_lookback_minutes') margin.
      where {{ lms_fresh(ref('stg_lms__user_enrolled')) }}
#}
{% macro lms_fresh(relation, column=none) -%}
    {%- set column = column or lms_watermark_column_of(relation) -%}
    {{ column }} > {{ lms_watermark(relation) }}
    {%- if column == 'ingested_at' %} - interval {{ var('ingest_lookback_minutes') }} minute{% endif -%}
{%- endmacro %}

{#
  lms_watermark(relation=none) -> the model's watermark, a DateTime64 literal:
    - with a staging relation: the start of the model's previous run (every row of that table
      staged up to it had been read: staged_at is the start of the run that staged the row);
    - without: the minimum over every staging table the model recorded (conservative).
  The epoch when nothing was recorded (then every row counts as new).
      where ingested_at > {{ lms_watermark(ref('stg_lms__user_enrolled')) }}
  The values are read once per invocation (lms_recorded_watermarks): as scalar subqueries,
  ClickHouse ran one small query per use while analysing the statement (user_analytics' changed
  set used 35 of them: 210 ms of CPU with nothing new against 75 ms with literals). At parse
  time (nothing runs) it renders the equivalent subquery.
#}
{% macro lms_watermark(relation=none) -%}
    {%- if not execute -%}
    (
        select coalesce(min(loaded_through), toDateTime64(0, 3, 'UTC'))
        from (
            select source, argMax(loaded_through, run_at) as loaded_through
            from {{ lms_watermarks_relation() }}
            where model = '{{ this.identifier }}'
            {%- if relation is not none %} and source = '{{ relation.identifier }}'{% endif %}
            group by source
        )
    )
    {%- else -%}
        {%- set recorded = lms_recorded_watermarks().sources -%}
        {%- if relation is not none -%}
            {%- set value = recorded.get(relation.identifier) -%}
        {%- else -%}
            {%- set value = recorded.values() | min if recorded else none -%}
        {%- endif -%}
        {{ lms_datetime_literal(value) }}
    {%- endif -%}
{%- endmacro %}

{#- A DateTime64(3, 'UTC') literal of a 'YYYY-MM-DD hh:mm:ss.fff' text (none: the epoch). -#}
{% macro lms_datetime_literal(value) -%}
    toDateTime64('{{ value or "1970-01-01 00:00:00.000" }}', 3, 'UTC')
{%- endmacro %}

{#
  lms_recorded_watermarks() -> what the model recorded at its previous run:
      {'sources': {'<source>': '<loaded_through>', ...}, 'previous_as_of': '<as_of>'}
  (texts 'YYYY-MM-DD hh:mm:ss.fff', which sort like the instants; no source and the epoch before
  the first run). Call it only when `execute`.
  The first model of an invocation that asks reads what every model recorded, with one query,
  and the invocation keeps it (lms_invocation_cache): the run's watermarks are written only at
  its end (lms_record_run_watermarks), so what was read holds for every model of the run. A
  model's compilation and hooks read their watermarks several times; one query per model cost
  27 statements in a +1% run.
#}
{% macro lms_recorded_watermarks() -%}
    {%- set cache = lms_invocation_cache() -%}
    {%- if 'watermarks' not in cache -%}
        {%- set recorded_sql -%}
            select toJSONString(groupArray((model, sources, previous_as_of)))
            from (
                select
                    model,
                    groupArray((source, toString(loaded_through))) as sources,
                    toString(argMax(as_of, last_run_at)) as previous_as_of
                from (
                    select
                        model,
                        source,
                        argMax(loaded_through, run_at) as loaded_through,
                        argMax(as_of, run_at) as as_of,
                        max(run_at) as last_run_at
                    from {{ lms_watermarks_relation() }}
                    group by model, source
                )
                group by model
            )
        {%- endset -%}
        {%- set recorded = {} -%}
        {%- for model_name, pairs, previous_as_of in fromjson(run_query(recorded_sql).rows[0][0]) -%}
            {%- set sources = {} -%}
            {%- for pair in pairs -%}
                {%- do sources.update({pair[0]: pair[1]}) -%}
            {%- endfor -%}
            {%- do recorded.update({model_name: {'sources': sources, 'previous_as_of': previous_as_of}}) -%}
        {%- endfor -%}
        {%- do cache.update({'watermarks': recorded}) -%}
    {%- endif -%}
    {{ return(cache['watermarks'].get(this.identifier) or {'sources': {}, 'previous_as_of': '1970-01-01 00:00:00.000'}) }}
{%- endmacro %}

{#
  lms_changed_keys(pairs) -> `select distinct key from (...)`: the keys touched by staging rows
  staged after the model's per-table watermark (lms_fresh).
  `pairs` is a list of (staging relation, key expression) or (relation, key expression, watermark
  column) (default column: the relation's own, lms_watermark_column); every key
  expression must have the same type across the pairs (cast if needed). The output column is
  `key`.
  Call it OUTSIDE `{% if is_incremental() %}` (dbt only sees refs rendered at parse time):
  in a full refresh it renders every key, unfiltered.
      changed as ({{ lms_changed_keys([(ref('stg_lms__quiz_completed'), 'quiz_id'),
                                       (ref('stg_lms__question_answered'), 'quiz_id')]) }})

#}
{% macro lms_changed_keys(pairs) -%}
    select distinct key from (
    {%- for pair in pairs %}
        {%- set relation = pair[0] -%}
        {%- set key = pair[1] %}
        select {{ key }} as key
        from {{ relation }}
        {%- if is_incremental() %}
        where {{ lms_fresh(relation, pair[2] if pair | length > 2 else none) }}
        {%- endif %}
        {%- if not loop.last %}
        union all
        {%- endif %}
    {%- endfor %}
    )
{%- endmacro %}


{#
  lms_previous_as_of() -> the as_of the model was last built with (the epoch before its first
  recorded run), a literal read once per invocation (lms_recorded_watermarks). For windowed
  metrics: rows with a time in (previous_as_of - 30 days, as_of - 30 days] have left the window
  since that run.
      and created_at > {{ lms_previous_as_of() }} - interval 30 day
#}
{% macro lms_previous_as_of() -%}
    {%- if not execute -%}
    (
        select coalesce(argMax(as_of, run_at), toDateTime64(0, 3, 'UTC'))
        from {{ lms_watermarks_relation() }}
        where model = '{{ this.identifier }}'
    )
    {%- else -%}
        {{ lms_datetime_literal(lms_recorded_watermarks().previous_as_of) }}
    {%- endif -%}
{%- endmacro %}

{#
  lms_as_of() -> a scalar subquery: the as_of of this build (int_as_of; creates the ref).
      and created_at > {{ lms_as_of() }} - interval 30 day
#}
{% macro lms_as_of() -%}
    (select as_of from {{ ref('int_as_of') }})
{%- endmacro %}

{#
  lms_record_watermark() -> the post-hook (renders nothing: no statement) that registers, for
  each watermark source of the model (lms_staging_ancestors), a watermark to record at the end
  of the run by lms_record_run_watermarks, with every other model's, in one INSERT.
      (already set for models/marts in dbt_project.yml; elsewhere post_hook=["{{ lms_record_watermark() }}"])
  Every watermark column (staged_at, sessionised_at, computed_at) holds the start of the run
  that wrote the row, and the model ran after every source it reads had finished in this run
  (or in an earlier one; runs of one project do not overlap). So the rows stamped up to this
  run's start are exactly those the model has seen, without reading any source: the maximum of
  each source's column, which this hook read before, is this run's start or an earlier one
  below which nothing new can appear (16 scans, 0.34 s of SQL in a +1% run at 5M events).
  A post-hook renders once the model's statements succeeded; a failed build registers nothing,
  and a run stopped before its end records nothing, so the next run re-reads from the old
  watermarks (re-reading is idempotent). One INSERT per model cost 16 statements of 10-20 ms
  in a +1% run, each a new part of the watermarks table.
#}
{% macro lms_record_watermark() -%}
    {#- nothing to record at parse time, nor for an --empty build (it read no rows), nor for a
        model that had nothing to recompute (its stored rows still match the watermark it has) -#}
    {%- if not execute or flags.EMPTY or lms_nothing_changed_marker() in (sql or '') -%}{{ return('') }}{%- endif -%}
    {%- set sources = [] -%}
    {%- for node in lms_staging_ancestors() -%}
        {%- do sources.append(node.alias or node.name) -%}
    {%- endfor -%}
    {%- do lms_invocation_cache().setdefault('watermarks_to_record', {}).update({this.identifier: sources}) -%}
    {{ return('') }}
{%- endmacro %}

{#- The on-run-end hook: one INSERT of the watermarks lms_record_watermark registered in this
    invocation (nothing, so no statement, when there is none). loaded_through is the run's
    start; as_of the current int_as_of (built, when selected, before every model reading it). -#}
{% macro lms_record_run_watermarks() -%}
    {%- set registered = lms_invocation_cache().get('watermarks_to_record', {}) if execute else {} -%}
    {%- if not registered -%}{{ return('') }}{%- endif -%}
    {%- set as_of_relation = api.Relation.create(schema=var('schema_prefix', '') ~ 'intermediate', identifier='int_as_of', type='table') -%}
    {%- set as_of_exists = adapter.get_relation(database=none, schema=as_of_relation.schema, identifier=as_of_relation.identifier) is not none -%}
    insert into {{ lms_watermarks_relation() }} (model, source, loaded_through, as_of, run_at)
    select
        model,
        source,
        {{ lms_run_started_at() }} as loaded_through,
        {% if as_of_exists %}(select coalesce(max(as_of), toDateTime64(0, 3, 'UTC')) from {{ as_of_relation }}){% else %}toDateTime64(0, 3, 'UTC'){% endif %} as as_of,
        now64(3, 'UTC') as run_at
    from (
        {%- for model_name, sources in registered | dictsort %}
        select '{{ model_name }}' as model, CAST([{% for source in sources %}'{{ source }}'{{ ', ' if not loop.last }}{% endfor %}] AS Array(String)) as sources
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
    )
    array join sources as source
{%- endmacro %}
