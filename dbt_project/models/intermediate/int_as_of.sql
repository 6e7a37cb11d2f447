{{
    config(
        materialized='table',
        engine=lms_engine('MergeTree'),
        order_by='tuple()',
    )
}}
{#-
  One row: the instant every analytics table describes. The dbt var `as_of` when given (any
  format parseDateTime64BestEffort reads, taken as UTC), else the latest event time in any
  staging table (the epoch when nothing is loaded). "Last 30 days" = (as_of - 30 days, as_of].
-#}
{%- set event_times = [
    ('stg_lms__user_created', 'created_at'),
    ('stg_lms__user_logged_in', 'login_at'),
    ('stg_lms__user_enrolled', 'enrolled_at'),
    ('stg_lms__course_completed', 'completed_at'),
    ('stg_lms__progress_updated', 'updated_at'),
    ('stg_lms__quiz_completed', 'completed_at'),
    ('stg_lms__assignment_submitted', 'submitted_at'),
    ('stg_lms__payment_completed', 'completed_at'),
    ('stg_lms__content_published', 'published_at'),
    ('stg_lms__user_unenrolled', 'unenrolled_at'),
    ('stg_lms__question_answered', 'answered_at'),
    ('stg_lms__assignment_graded', 'graded_at'),
    ('stg_lms__course_reviewed', 'reviewed_at'),
    ('stg_lms__video_watched', 'watched_at'),
    ('stg_lms__page_view', 'created_at'),
    ('stg_lms__user_activity', 'created_at'),
] %}
{%- if var('as_of') %}
{#- the refs keep the DAG the same whether or not as_of is given -#}
-- depends_on: {% for model_name, _ in event_times %}{{ ref(model_name) }} {% endfor %}
select parseDateTime64BestEffort('{{ var("as_of") }}', 3, 'UTC') as as_of
{%- else %}
select toDateTime64(max(latest), 3, 'UTC') as as_of
from (
    {%- for model_name, time_column in event_times %}
    select max({{ time_column }}) as latest from {{ ref(model_name) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)
{%- endif %}
