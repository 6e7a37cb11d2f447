{#
  lms_delete_replaced(key, replaced_sql) -> pre-hook SQL for an append-only incremental model
  whose few rows may be replaced: `delete from {{ this }} where <key> in (<the keys>)`, where the
  keys are those `replaced_sql` selects (resolved once with lms_changed_set), or nothing (dbt
  then runs no statement) when there is none, in a full refresh, and at parse time. The model
  then appends every row it recomputes: the replaced ones and the new ones.

  For a model that mostly appends (an event-grain table fed by exact deltas, macros/watermarks.sql)
  this replaces delete+insert's DELETE by key of every recomputed row: a lightweight DELETE is a
  mutation that reads the key column of the whole table, even when no row matches.
      pre_hook=["{{ lms_delete_replaced('id', lms_replaced_tracked_activities()) }}"]
#}
{% macro lms_delete_replaced(key, replaced_sql) -%}
    {%- if not execute or not is_incremental() -%}{{ return('') }}{%- endif -%}
    {#- inlined: a mutation's predicate cannot read a temporary table -#}
    {%- set replaced = lms_changed_set(replaced_sql, inline=true) -%}
    {%- if replaced.empty -%}{{ return('') }}{%- endif -%}
    delete from {{ this }} where {{ lms_in(key, replaced) }}
{%- endmacro %}

{#- lms_tracked_old_copies() -> a changed set (macros/changed_sets.sql) of (id, old_event_id):
    the tracked activity ids staged since the model's last run that also have copies staged
    before, with the smallest event_id of those earlier copies. user_activities' query and its
    pre-hook both need it; it is resolved once per run (the model's SQL is compiled before its
    pre-hook renders, on the same session) and costs one read of the id column of the staged
    activities (the new ids hit every granule of it), which then finds the few earlier copies.
    Call it only in an incremental run. -#}
{% macro lms_tracked_old_copies() -%}
    {%- set resolved = lms_invocation_cache().setdefault('tracked_old_copies', {}) if execute else {} -%}
    {%- if model.unique_id not in resolved -%}
        {%- set activities = ref('stg_lms__user_activity') -%}
        {%- set fresh = lms_fresh(activities) -%}
        {%- set old_copies_sql -%}
            select id, min(event_id) as old_event_id
            from {{ activities }}
            where id in (select id from {{ activities }} where {{ fresh }})
              and not ({{ fresh }})
            group by id
        {%- endset -%}
        {%- set old_copies = lms_changed_set(old_copies_sql) -%}
        {%- if not execute -%}{{ return(old_copies) }}{%- endif -%}
        {%- do resolved.update({model.unique_id: old_copies}) -%}
    {%- endif -%}
    {{ return(resolved[model.unique_id]) }}
{%- endmacro %}

{#- The tracked activity ids whose stored row a new copy replaces (models/marts/user_activities):
    ids with copies staged before and since the model's last run (lms_tracked_old_copies),
    where a new copy has the smallest event_id (it becomes the representative). Only the new
    rows are read here. -#}
{% macro lms_replaced_tracked_activities() -%}
    {%- set activities = ref('stg_lms__user_activity') -%}
    {%- set old_copies = lms_tracked_old_copies() if is_incremental() else {'empty': false, 'sql': "(select '' as id, '' as old_event_id)"} -%}
    select old.id as id
    from {{ old_copies.sql }} as old
    inner join (
        select id, min(event_id) as new_event_id
        from {{ activities }}
        where {{ lms_fresh(activities) }} and id in (select id from {{ old_copies.sql }})
        group by id
    ) as new on new.id = old.id
    where new.new_event_id < old.old_event_id
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
