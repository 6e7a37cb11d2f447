{#
  lms_engine(engine) -> the ClickHouse table engine for a model's `engine=` config.

  Usage (every table model; the one place that knows about clusters):
      {{ config(materialized='incremental', engine=lms_engine('ReplacingMergeTree(updated_at)'), ...) }}

  - No `cluster` in the dbt target (local gateway): the engine as given.
  - Target with `cluster` (profiles.yml target `cluster`): the Replicated variant,
      ReplacingMergeTree(updated_at)  ->  ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', updated_at)
      MergeTree                       ->  ReplicatedMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')
    dbt-clickhouse adds ON CLUSTER to the DDL (it reads `cluster` from the profile), so every
    replica creates the table with the same UUID and the `{uuid}` path is shared.
  - Target whose `database_engine` is Replicated(...): DDL is replicated by the database itself
    (dbt-clickhouse then omits ON CLUSTER) and the table takes the database's default
    replication path: ReplicatedReplacingMergeTree(updated_at), ReplicatedMergeTree().
  An engine already named Replicated... is returned unchanged.
#}
{% macro lms_engine(engine) -%}
    {{ return(lms_engine_for(engine, target.get('cluster'), target.get('database_engine'))) }}
{%- endmacro %}

{#- The pure rendering behind lms_engine (separate so it can be render-tested without a cluster). -#}
{% macro lms_engine_for(engine, cluster, database_engine) -%}
    {%- set engine = engine | trim -%}
    {%- if not cluster or (cluster | trim) == '' or engine.startswith('Replicated') -%}
        {{ return(engine) }}
    {%- endif -%}
    {%- if '(' in engine -%}
        {%- set name = engine.split('(', 1)[0] | trim -%}
        {%- set args = engine.split('(', 1)[1].rsplit(')', 1)[0] | trim -%}
    {%- else -%}
        {%- set name = engine -%}
        {%- set args = '' -%}
    {%- endif -%}
    {%- if database_engine and 'replicated' in (database_engine | lower) -%}
        {{ return('Replicated' ~ name ~ '(' ~ args ~ ')') }}
    {%- endif -%}
    {%- set path_args = "'/clickhouse/tables/{uuid}/{shard}', '{replica}'" -%}
    {{ return('Replicated' ~ name ~ '(' ~ path_args ~ (', ' ~ args if args else '') ~ ')') }}
{%- endmacro %}

{#- `ON CLUSTER <name>` for hand-written DDL (hooks), empty when dbt-clickhouse would not use it. -#}
{% macro lms_on_cluster() -%}
    {%- set cluster = target.get('cluster') -%}
    {%- set database_engine = target.get('database_engine') or '' -%}
    {%- if cluster and (cluster | trim) != '' and 'replicated' not in (database_engine | lower) -%}
        on cluster '{{ cluster | trim }}'
    {%- endif -%}
{%- endmacro %}
