{#
  lms_delete_replaced(key, replaced_sql) -> pre-hook SQL for an append-only incremental model
  whose few rows may be replaced: `delete from {{ this }} where <key> in (<the keys>)`, where the
  keys are those `replaced_sql` selects (resolved once with lms_changed_set), or `select 1` when
  there is none, in a full refresh, and at parse time. The model then appends every row it
  recomputes: the replaced ones and the new ones.

  For a model that mostly appends (an event-grain table fed by exact deltas, macros/watermarks.sql)
  this replaces delete+insert's DELETE by key of every recomputed row: a lightweight DELETE is a
  mutation that reads the key column of the whole table, even when no row matches.
      pre_hook=["{{ lms_delete_replaced('id', lms_replaced_tracked_activities()) }}"]
#}
{% macro lms_delete_replaced(key, replaced_sql) -%}
    {%- if not execute or not is_incremental() -%}{{ return('select 1') }}{%- endif -%}
    {#- inlined: a mutation's predicate cannot read a temporary table -#}
    {%- set replaced = lms_changed_set(replaced_sql, inline=true) -%}
    {%- if replaced.empty -%}{{ return('select 1') }}{%- endif -%}
    delete from {{ this }} where {{ lms_in(key, replaced) }}
{%- endmacro %}

{#- The tracked activity ids whose stored row a new copy replaces (models/marts/user_activities):
    ids with copies staged before and since the model's last run, where a new copy has the
    smallest event_id (it becomes the representative). The new ids are resolved first (a scan
    of staged_at): finding the copies of an id reads the id column of every staged activity
    (180 ms of CPU at 5M events), which a run that staged no activity then skips. -#}
{% macro lms_replaced_tracked_activities() -%}
    {%- set activities = ref('stg_lms__user_activity') -%}
    {%- set fresh = lms_fresh(activities) -%}
    {%- set fresh_ids_sql = 'select id from ' ~ activities ~ ' where ' ~ fresh -%}
    {#- resolved only when the pre-hook uses it (lms_delete_replaced renders nothing in a full
        refresh, but its argument is rendered first) -#}
    {%- set fresh_ids = lms_changed_set(fresh_ids_sql) if is_incremental() else {'empty': false, 'sql': '(' ~ fresh_ids_sql ~ ')'} -%}
    select id
    from {{ activities }}
    where {{ lms_in('id', fresh_ids) }}
    group by id
    having countIf(not ({{ fresh }})) > 0
       and minIf(event_id, {{ fresh }}) < minIf(event_id, not ({{ fresh }}))
{%- endmacro %}

{#- The courses whose structure a new ContentPublished may have changed: every course the
    published item was ever published in (an item moved to another course leaves the old one).
    Models that place learner facts in the latest structure recompute these courses whole. -#}
{% macro lms_restructured_courses() -%}
    {%- set published = ref('stg_lms__content_published') -%}
    select course_id
    from {{ published }}
    where item_id in (select item_id from {{ published }} where {{ lms_fresh(published) }})
{%- endmacro %}
