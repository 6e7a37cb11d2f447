{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['user_id', 'item_type', 'item_id'],
        engine=lms_engine('MergeTree'),
        order_by='(item_type, item_id, user_id)',
        post_hook=["{{ lms_record_watermark() }}"],
    )
}}
{#-
  What each learner did on each module and lesson: one row per (user_id, item_type, item_id)
  with any UserActivity (resource_type module or lesson) or ProgressUpdated (a lesson) on it.
  The learner facts module_analytics and lesson_analytics aggregate (started = a row exists),
  read once here instead of once per mart from the event tables:
    views            UserActivity with action view on the item
    activity_seconds sum of those activities' Duration (any action)
    has_activity     1 when the learner has any UserActivity on the item
    completed        1 when a ProgressUpdated at PercentComplete >= 100 exists (lessons)
  No course structure here: the marts join the latest structure, so a republished item needs
  nothing from this model.

  Incremental replace unit: the (user, item). A run recomputes, from their whole history, the
  keys named by UserActivity / ProgressUpdated rows staged since its watermark and replaces
  them; every value is a sum or a max over the key's events, and rows
  never disappear, so delete+insert by key is exact. Ordered by item for the marts' reads.
-#}

{%- if is_incremental() %}
{%- set changed_sql %}
    select user_id, toString(resource_type) as item_type, resource_id as item_id
    from {{ ref('stg_lms__user_activity') }}
    where {{ lms_fresh(ref('stg_lms__user_activity')) }}
      and resource_type in ('module', 'lesson')
    union all
    select user_id, 'lesson', lesson_id
    from {{ ref('stg_lms__progress_updated') }}
    where {{ lms_fresh(ref('stg_lms__progress_updated')) }}
{% endset %}
{#- the changed (user, item) keys and their users, each resolved once (macros/changed_sets.sql) -#}
{%- set changed = lms_changed_set(changed_sql) %}
{%- set changed_users = lms_changed_set('select user_id from (' ~ changed_sql ~ ')') %}
{%- endif %}

with

facts as (
    select
        user_id,
        toString(resource_type) as item_type,
        resource_id as item_id,
        toUInt64(action = 'view') as is_view,
        toInt64(duration) as seconds,
        toUInt8(1) as is_activity,
        toUInt8(0) as is_done
    from {{ ref('stg_lms__user_activity') }}
    where resource_type in ('module', 'lesson')
    {%- if is_incremental() %}
      -- the user filter reads only the changed users' key ranges (ORDER BY user_id, ...)
      and {{ lms_in('user_id', changed_users) }}
      and {{ lms_in('user_id, toString(resource_type), resource_id', changed) }}
    {%- endif %}
    union all
    select
        user_id,
        'lesson',
        lesson_id,
        toUInt64(0),
        toInt64(0),
        toUInt8(0),
        toUInt8(percent_complete >= 100)
    from {{ ref('stg_lms__progress_updated') }}
    {%- if is_incremental() %}
    where {{ lms_in('user_id', changed_users) }}
      and {{ lms_in("user_id, 'lesson', lesson_id", changed) }}
    {%- endif %}
)

select
    user_id,
    item_type,
    item_id,
    toUInt64(sum(is_view)) as views,
    toInt64(sum(seconds)) as activity_seconds,
    toUInt8(max(is_activity)) as has_activity,
    toUInt8(max(is_done)) as completed
from facts
group by user_id, item_type, item_id
