{#
  lms_id(table_name, columns) -> the id convention of every analytics table: a stable,
  deterministic hash of the table name and the row's grain key, as 32 lower-case hex chars.

      {{ lms_id('course_analytics', ['course_id']) }} as id
  renders
      lower(hex(MD5(concat('course_analytics', '|', ifNull(toString(course_id), '')))))

  NULL key parts hash as ''. Event-grain tables (page_views, user_activities) keep the source
  event's id instead, as metrics.md says.
#}
{% macro lms_id(table_name, columns) -%}
    {%- if columns is string -%}{%- set columns = [columns] -%}{%- endif -%}
    lower(hex(MD5(concat('{{ table_name }}'{% for column in columns %}, '|', ifNull(toString({{ column }}), ''){% endfor %}))))
{%- endmacro %}

{#
  lms_gap_session_key(user_id, first_page_view_id) -> the key of a session built by the
  30-minute inactivity rule: concat('gap-', lower(hex(MD5(concat(user_id, '|', first id))))).
#}
{% macro lms_gap_session_key(user_id, first_page_view_id) -%}
    concat('gap-', lower(hex(MD5(concat({{ user_id }}, '|', {{ first_page_view_id }})))))
{%- endmacro %}

{#
  lms_row_key(columns) -> a 128-bit hash of a compound key, as UInt128: the one fixed-width
  column an incremental model with a key of several strings deletes by (its unique_key), e.g.
  int_learner_items' (user_id, item_type, item_id).

      {{ lms_row_key(['user_id', 'item_type', 'item_id']) }} as row_key

  Each argument is hashed on its own (no ambiguity between ('a', 'bc') and ('ab', 'c')); the
  columns must not be NULL. For internal tables only: the marts keep the ids of metrics.md.
#}
{% macro lms_row_key(columns) -%}
    reinterpretAsUInt128(sipHash128({{ columns | join(', ') }}))
{%- endmacro %}
