{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='row_key',
        engine=lms_engine('MergeTree'),
        order_by='(item_type, item_id, user_id)',
        post_hook=["{{ lms_record_watermark() }}"],
    )
}}
{#-
  What each learner did on each course, module, lesson and assignment: one row per
  (user_id, item_type, item_id) with any UserActivity (resource_type course, module, lesson or
  assignment) or ProgressUpdated (a lesson) on it. The learner facts the course marts aggregate
  (module / lesson started = a row exists, course views, the first activity on an assignment),
  read once here instead of once per mart from the largest event table:
    views             UserActivity with action view on the item
    activity_seconds  sum of the learner's activities' Duration on the item (any action)
    has_activity      1 when the learner has any UserActivity on the item
    first_activity_at the CreatedAt of the learner's first UserActivity on the item (NULL
                      without one)
    completed         1 when a ProgressUpdated at PercentComplete >= 100 exists (lessons)
  No course structure here: the marts join the latest structure, so a republished item needs
  nothing from this model.

  Incremental by folding: every value is a sum, a min or a max over the key's events, and staging
  holds each event once and tells exactly which rows a run staged (staged_at), so a run adds
  the facts staged since its watermark to the stored row of their key (delete+insert by key)
  without reading the key's history. folded_through = the latest staged_at folded into the row:
  a fact is added only when it was staged after it, so a run that wrote its rows but failed
  before recording its watermark is not counted twice when the next run reads the same facts.
  Ordered by item for the marts' reads.

  row_key = a 128-bit hash of (user_id, item_type, item_id), the unique_key the delete+insert
  strategy deletes by and by which a run finds the stored rows it folds into: testing one
  fixed-width column for every stored row costs a third of testing the three strings (the
  DELETE of a +1% run at 5M events, 540,000 rows: 0.15-0.30 s -> 0.05 s on an idle engine; the
  lookup of the stored rows 123 -> 26 ms of CPU). A collision of two keys is as likely as in
  ClickHouse's own uniqExact (128-bit hashes of strings): the `unique` test on row_key would
  show one.
-#}

{#- the UserActivity resource types that make a learner item -#}
{%- set item_types = "('course', 'module', 'lesson', 'assignment')" %}

{%- if is_incremental() %}
{%- set changed_sql %}
    select {{ lms_row_key(['user_id', 'item_type', 'item_id']) }} as row_key
    from (
        select user_id, toString(resource_type) as item_type, resource_id as item_id
        from {{ ref('stg_lms__user_activity') }}
        where {{ lms_fresh(ref('stg_lms__user_activity')) }}
          and resource_type in {{ item_types }}
        union all
        select user_id, 'lesson', lesson_id
        from {{ ref('stg_lms__progress_updated') }}
        where {{ lms_fresh(ref('stg_lms__progress_updated')) }}
    )
{% endset %}
{#- the row keys of the (user, item) pairs with new facts, resolved once
    (macros/changed_sets.sql) -#}
{%- set changed = lms_changed_set(changed_sql) %}
{{ lms_skip_when_unchanged([changed]) }}
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
        toNullable(created_at) as activity_at,
        toUInt8(0) as is_done,
        staged_at
    from {{ ref('stg_lms__user_activity') }}
    where resource_type in {{ item_types }}
    {%- if is_incremental() %}
      and {{ lms_fresh(ref('stg_lms__user_activity')) }}
    {%- endif %}
    union all
    select
        user_id,
        'lesson',
        lesson_id,
        toUInt64(0),
        toInt64(0),
        toUInt8(0),
        cast(null as Nullable(DateTime64(3, 'UTC'))),
        toUInt8(percent_complete >= 100),
        staged_at
    from {{ ref('stg_lms__progress_updated') }}
    {%- if is_incremental() %}
    where {{ lms_fresh(ref('stg_lms__progress_updated')) }}
    {%- endif %}
),

{%- if is_incremental() %}

-- the stored rows of the keys with new facts, found by row_key (see the header)
previous as (
    select user_id, item_type, item_id, views, activity_seconds, has_activity, first_activity_at, completed, folded_through
    from {{ this }}
    where {{ lms_in('row_key', changed) }}
),

-- The new facts of each key folded into its stored row, in one join (ClickHouse inlines a CTE
-- at every use, and reading the stored rows is most of the work): the stored values are
-- constant within a key's group (any()), a key without a stored row has zeros, NULL and the
-- epoch.
folded as (
    select
        facts.user_id as user_id,
        facts.item_type as item_type,
        facts.item_id as item_id,
        sum(facts.is_view) as added_views,
        any(previous.views) as stored_views,
        sum(facts.seconds) as added_seconds,
        any(previous.activity_seconds) as stored_seconds,
        max(facts.is_activity) as added_activity,
        any(previous.has_activity) as stored_activity,
        min(facts.activity_at) as added_first_activity_at,
        any(previous.first_activity_at) as stored_first_activity_at,
        max(facts.is_done) as added_completed,
        any(previous.completed) as stored_completed,
        max(facts.staged_at) as added_through,
        any(previous.folded_through) as stored_through
    from facts
    left join previous
        on previous.user_id = facts.user_id
        and previous.item_type = facts.item_type
        and previous.item_id = facts.item_id
    -- not folded yet (a key without a stored row has the epoch)
    where facts.staged_at > previous.folded_through
    group by facts.user_id, facts.item_type, facts.item_id
)

select
    {{ lms_row_key(['user_id', 'item_type', 'item_id']) }} as row_key,
    user_id,
    item_type,
    item_id,
    toUInt64(added_views + stored_views) as views,
    toInt64(added_seconds + stored_seconds) as activity_seconds,
    toUInt8(greatest(added_activity, stored_activity)) as has_activity,
    -- the earlier of the two, either may be NULL (no activity)
    least(
        coalesce(added_first_activity_at, stored_first_activity_at),
        coalesce(stored_first_activity_at, added_first_activity_at)
    ) as first_activity_at,
    toUInt8(greatest(added_completed, stored_completed)) as completed,
    greatest(added_through, stored_through) as folded_through
from folded
{%- else %}

select
    {{ lms_row_key(['user_id', 'item_type', 'item_id']) }} as row_key,
    user_id,
    item_type,
    item_id,
    toUInt64(sum(is_view)) as views,
    toInt64(sum(seconds)) as activity_seconds,
    toUInt8(max(is_activity)) as has_activity,
    min(activity_at) as first_activity_at,
    toUInt8(max(is_done)) as completed,
    max(staged_at) as folded_through
from facts
group by user_id, item_type, item_id
{%- endif %}
