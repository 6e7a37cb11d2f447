{#
  Models land in the database their folder names (staging, intermediate, analytics), not
  dbt's default `<target schema>_<custom schema>`. The var `schema_prefix` lets tests and
  benchmarks build side by side in one ClickHouse.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ var('schema_prefix', '') }}{{ target.schema }}
    {%- else -%}
        {{ var('schema_prefix', '') }}{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
