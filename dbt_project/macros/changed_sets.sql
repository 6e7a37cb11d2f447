{#
  Changed-key sets resolved once per incremental run, before the model's query runs.

  lms_changed_set(sql, inline=false) -> a set object for lms_in(): `sql` (a SELECT of the
  changed keys: one column, or several for a tuple key) runs once, when the model is compiled
  for execution, into a temporary table of this dbt connection's session:
      create temporary table lms_set_<model>_<n> engine = Memory as select distinct * from (sql)
  and the model's query reads `(select * from lms_set_<model>_<n>)`. ClickHouse builds an IN
  set from it before choosing the parts to read (primary-key pruning as with literals), a query
  using it several times does not recompute it, and the keys never travel: before, they came
  back to dbt and were inlined into the model's SQL as TabSeparated data, 2.6 MB of SQL in a
  +1% run at 5M events that dbt logged (its debug event checks every string it carries:
  ~0.4 s of dbt's CPU per run), sent and ClickHouse parsed again at every use. The table lives
  as long as the session (dbt-clickhouse keeps one per connection and runs a node's compile,
  hooks and materialization on it); the columns keep the names `sql` gives them, so a set of
  rows reads as a table.
  Whether the set is empty is not known then (`empty` is none: treated as not empty, which is
  always correct); lms_skip_when_unchanged and lms_resolve_sets count the sets of a model in
  one query.

  inline=true, for a set used in a mutation (a pre-hook's DELETE): ClickHouse runs a mutation's
  predicate outside the session, where the temporary table does not exist, so the keys come
  back to dbt in one row and are inlined, with `empty` known:
    - `0` from lms_in when there is none: ClickHouse reads no part;
    - `(select * from format(TabSeparated, '`key` String', '<one key per line>'))` when there
      are at most `max_literals` strings taking at most `max_bytes` (a data parse, not an SQL
      parse of literals: 2,900 keys as an IN list cost 125 ms of parsing per use, as TSV 10 ms;
      the byte cap keeps the statement under max_query_size, 16 MiB in profiles.yml);
    - `(sql)` itself when there are more, or the keys are not strings.
  At parse time (no execution) the set renders `(sql)`, so refs are seen as usual.

      {% set courses = lms_changed_set('select course_id from ...') %}
      where {{ lms_in('course_id', courses) }}
#}
{% macro lms_changed_set(sql, inline=false, max_literals=20000, max_bytes=1048576) -%}
    {%- if not execute -%}
        {{ return({'empty': false, 'sql': '(' ~ sql ~ ')'}) }}
    {%- endif -%}
    {%- if inline -%}
        {{ return(lms_inlined_set(sql, max_literals, max_bytes)) }}
    {%- endif -%}
    {#- numbered per node: a node renders on one thread at a time, and its renderings (compile,
        hooks) share the session -#}
    {%- set counters = lms_invocation_cache().setdefault('changed_sets', {}) -%}
    {%- do counters.update({model.unique_id: counters.get(model.unique_id, 0) + 1}) -%}
    {%- set table = 'lms_set_' ~ model.name ~ '_' ~ counters[model.unique_id] -%}
    {%- call statement('lms_changed_set') -%}
        create temporary table {{ table }} engine = Memory as select distinct * from ({{ sql }})
    {%- endcall -%}
    {{ return({'empty': none, 'table': table, 'sql': '(select * from ' ~ table ~ ')'}) }}
{%- endmacro %}

{#- lms_changed_set(sql, inline=true): the keys inlined in the SQL (see above). -#}
{% macro lms_inlined_set(sql, max_literals, max_bytes) -%}
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
  lms_resolve_sets(changed_sets) -> nothing; fills in `empty` of the sets whose emptiness is not
  known yet (temporary-table sets), with one query for all of them.
#}
{% macro lms_resolve_sets(changed_sets) -%}
    {%- set unknown = changed_sets | selectattr('empty', 'none') | list -%}
    {%- if execute and unknown -%}
        {%- set counts_sql -%}
            select {% for changed_set in unknown %}(select count() from {{ changed_set.table }}){{ ', ' if not loop.last }}{% endfor %}
        {%- endset -%}
        {%- set counts = run_query(counts_sql).rows[0] -%}
        {%- for changed_set in unknown -%}
            {%- do changed_set.update({'empty': counts[loop.index0] | int == 0}) -%}
        {%- endfor -%}
    {%- endif -%}
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
    {%- if execute and is_incremental() -%}
        {%- do lms_resolve_sets(changed_sets) -%}
        {%- if changed_sets | rejectattr('empty') | list | length == 0 -%}
            {{ lms_nothing_changed_marker() }}
        {%- endif -%}
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
                    can vanish when a late page view bridges two of them;
    inline=true     the set for a mutation (lms_changed_set).
  Call it only when is_incremental().
      {% set sessions = lms_changed_sessions() %}
      where {{ lms_in('session_key', sessions) }}
#}
{% macro lms_changed_sessions(key='session_key', gap_only=false, inline=false) -%}
    {%- set page_view_sessions = ref('int_page_view_sessions') -%}
    {%- set sql -%}
        select {{ key }}
        from {{ page_view_sessions }}
        where {{ lms_fresh(page_view_sessions) }}
        {%- if gap_only %}
          and startsWith(session_key, 'gap-')
        {%- endif %}
    {%- endset -%}
    {{ return(lms_changed_set(sql, inline=inline)) }}
{%- endmacro %}

{#
  lms_session_rows(changed_sessions, column='session_key') -> the condition selecting the rows
  of a changed set of sessions (lms_changed_sessions): `<column> in <set>`, bounded below by
  the earliest page view of those sessions (a scalar subquery over two narrow columns of
  int_page_view_sessions). `0` for an empty set. A page view's created_at never changes, and a
  page view stored under a session of the set is in the set now or was re-keyed since (its new
  session is then in the set too), so every row of those sessions, stored or recomputed, meets
  the bound. On int_page_view_sessions (sorted by day first; a session's page views sit
  together in time) the bound, stated on days too (lms_since), skips the days before it, so
  the read follows the changed sessions, not the table (sessions, +1% at 5M events: 8 of 230
  granules); page_views, sorted by day first too, passes column='session_id' to find its
  stored rows of those sessions. The scalar subquery itself still reads session_key for
  every day (~40 ms of CPU).
      where {{ lms_session_rows(changed_sessions) }}
#}
{% macro lms_session_rows(changed_sessions, column='session_key') -%}
    {%- if changed_sessions.empty -%}0{%- else -%}
    {{ lms_since('created_at', '(select min(created_at) from ' ~ ref('int_page_view_sessions')
        ~ ' where session_key in ' ~ changed_sessions.sql ~ ')') }}
    and {{ column }} in {{ changed_sessions.sql }}
    {%- endif -%}
{%- endmacro %}
