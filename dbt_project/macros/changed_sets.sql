{#
  Changed-key sets resolved once per incremental run, before the model's query runs.

  lms_changed_set(sql, max_literals=20000, max_bytes=1048576) -> a set object for lms_in(): `sql` (a SELECT of the
  changed keys: one column, or several for a tuple key) runs once, when the model is compiled
  for execution, and the model's query gets
    - nothing to read when the set is empty: lms_in() renders `0`, so ClickHouse reads no
      part (a model with no changed key costs almost nothing; the delete+insert strategy,
      macros/incremental_delete_insert.sql, then skips its delete and insert);
    - the keys inlined as data when there are at most `max_literals` of them, `max_bytes` of
      text in all: `(select * from format(TabSeparated, '`course_id` String', '<one key per line>'))`.
      The set is not recomputed at every place the query uses it (ClickHouse inlines CTEs, and
      a subquery runs again at every IN), ClickHouse builds it before choosing the parts to
      read (primary-key pruning as with literals), and it costs a data parse, not a SQL parse:
      for 2,900 session keys used three times in one query, 3 x 125 ms of SQL parsing and
      analysis as an IN list of literals `(('k1'), ('k2'), ...)`, 3 x 10 ms as TSV. The byte cap
      keeps a query that uses the set several times under max_query_size (16 MiB,
      profiles.yml; ClickHouse's default is 256 KiB) whatever the keys' length (a SessionID is
      the client's text). The columns keep the names `sql` gives them: a set of rows reads as
      a table, inlined or not;
    - `(sql)` itself when there are more, as before.
  At parse time (no execution) the set renders `(sql)`, so refs are seen as usual.

      {% set courses = lms_changed_set('select course_id from ...') %}
      where {{ lms_in('course_id', courses) }}
#}
{% macro lms_changed_set(sql, max_literals=20000, max_bytes=1048576) -%}
    {%- if not execute -%}
        {{ return({'empty': false, 'sql': '(' ~ sql ~ ')'}) }}
    {%- endif -%}
    {#- ClickHouse writes the data (TabSeparated rows: its own escapes for tabs, newlines and
        backslashes) and quotes it as one string literal (Values format), so dbt receives one
        row whatever the number of keys: a row per key cost dbt agate's type inference and a
        Jinja loop per value. -#}
    {%- set summary_sql -%}
        select
            count() as keys,
            any(types) as types,
            any(names) as names,
            sum(length(row) + 1) as data_bytes,
            if(count() <= {{ max_literals }},
               formatRowNoNewline('Values', arrayStringConcat(arrayMap(r -> concat(r, '\n'), groupArray(row)))),
               '') as quoted_data
        from (
            select
                formatRowNoNewline('TabSeparated', *) as row,
                toTypeName(tuple(*)) as types,
                toJSONString(JSONExtractKeys(formatRowNoNewline('JSONEachRow', *))) as names
            from (select distinct * from ({{ sql }}) limit {{ max_literals + 1 }})
        )
    {%- endset -%}
    {%- set summary = run_query(summary_sql).rows[0] -%}
    {%- set keys, types, names, data_bytes, quoted_data = summary[0] | int, summary[1], fromjson(summary[2] or '[]'), summary[3] | int, summary[4] -%}
    {%- if keys == 0 -%}
        {{ return({'empty': true, 'sql': '(' ~ sql ~ ')'}) }}
    {%- endif -%}
    {#- only strings (and NULLs) are inlined; any other key type keeps the subquery -#}
    {%- set string_types = ['String', 'Nullable(String)', 'LowCardinality(String)', 'LowCardinality(Nullable(String))'] -%}
    {%- set column_types = [] -%}
    {%- for element in types[6:-1].split(', ') -%}
        {#- a named tuple element reads `name Type` -#}
        {%- do column_types.append(element.split(' ')[-1]) -%}
    {%- endfor -%}
    {%- set all_strings = column_types | reject('in', string_types) | list | length == 0 -%}
    {%- if keys > max_literals or data_bytes > max_bytes or not all_strings -%}
        {{ return({'empty': false, 'sql': '(' ~ sql ~ ')'}) }}
    {%- endif -%}
    {#- the columns keep the names `sql` gives them, so the set reads as a table either way -#}
    {%- set structure = [] -%}
    {%- for column_type in column_types -%}
        {%- do structure.append('`' ~ names[loop.index0] ~ '` ' ~ column_type) -%}
    {%- endfor -%}
    {#- quoted_data is `('<data>')`: one Values row of one string; the literal is inside -#}
    {{ return({'empty': false, 'sql': "(select * from format(TabSeparated, '" ~ structure | join(', ') ~ "', " ~ quoted_data[1:-1] ~ "))"}) }}
{%- endmacro %}

{#
  lms_skip_when_unchanged(changed_sets) -> in an incremental run where every one of the model's
  changed sets is empty, the comment `/* lms: nothing changed */`, else nothing. Put it in a
  model whose every output row is filtered by those sets (lms_in): the model then has nothing
  to recompute, and the delete+insert strategy (macros/incremental_delete_insert.sql) and the
  watermark post-hook (lms_record_watermark) issue no statement for it. Without the marker such
  a model still created, filled, counted and dropped an empty temp table and recorded its
  watermark: six statements, 0.3 to 0.7 s per mart in a run with nothing new at 5M events.
      {{ lms_skip_when_unchanged([changed_courses]) }}
#}
{% macro lms_skip_when_unchanged(changed_sets) -%}
    {%- if execute and is_incremental() and changed_sets | rejectattr('empty') | list | length == 0 -%}
        {{ lms_nothing_changed_marker() }}
    {%- endif -%}
{%- endmacro %}

{#- The comment lms_skip_when_unchanged leaves in a model's compiled SQL. -#}
{% macro lms_nothing_changed_marker() -%}
    /* lms: nothing changed */
{%- endmacro %}

{#- lms_in(expression, changed_set) -> `0` for an empty set, else `<expression> in <set>`. -#}
{% macro lms_in(expression, changed_set) -%}
    {%- if changed_set.empty -%}0{%- else -%}({{ expression }}) in {{ changed_set.sql }}{%- endif -%}
{%- endmacro %}

{#
  lms_changed_sessions(key='session_key', gap_only=false) -> the changed set of the page-view
  chain (page_views, sessions, user_analytics): the session keys of the int_page_view_sessions
  rows (re)written since the model's own last run (that model's watermark column,
  sessionised_at), resolved once. int_page_view_sessions writes the new page views and those
  whose key changed, and a session only changes through them: a late page view joins one
  session, or bridges sessions whose later one moves wholesale to the earlier key (that key
  is among the written rows'; the vanished one is deleted by the sessions pre-hook). So these
  are all the sessions to recompute.
    key='user_id'   the users of those rows instead;
    gap_only=true   only rows keyed by the 30-minute gap rule (key 'gap-...'; a SessionID that
                    happens to start so is kept too: a superset): the only sessions whose key
                    can vanish when a late page view bridges two of them.
  Call it only when is_incremental().
      {% set sessions = lms_changed_sessions() %}
      where {{ lms_in('session_key', sessions) }}
#}
{% macro lms_changed_sessions(key='session_key', gap_only=false) -%}
    {%- set page_view_sessions = ref('int_page_view_sessions') -%}
    {%- set sql -%}
        select {{ key }}
        from {{ page_view_sessions }}
        where {{ lms_fresh(page_view_sessions) }}
        {%- if gap_only %}
          and startsWith(session_key, 'gap-')
        {%- endif %}
    {%- endset -%}
    {{ return(lms_changed_set(sql)) }}
{%- endmacro %}

{#
  lms_session_rows(changed_sessions) -> the condition selecting the int_page_view_sessions rows
  of a changed set of sessions (lms_changed_sessions): `session_key in <set>`, bounded below by
  the earliest page view of those sessions. The bound is a scalar subquery over two narrow
  columns; with it the read of every other column skips the days before it (the model is sorted
  by day first, and a session's page views sit together in time), so it follows the changed
  sessions, not the table. `0` for an empty set.
      where {{ lms_session_rows(changed_sessions) }}
#}
{% macro lms_session_rows(changed_sessions) -%}
    {%- if changed_sessions.empty -%}0{%- else -%}
    created_at >= (
        select min(created_at)
        from {{ ref('int_page_view_sessions') }}
        where session_key in {{ changed_sessions.sql }}
    )
    and session_key in {{ changed_sessions.sql }}
    {%- endif -%}
{%- endmacro %}
