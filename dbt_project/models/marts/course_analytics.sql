{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='course_id',
        engine=lms_engine('ReplacingMergeTree(updated_at)'),
        order_by='course_id',
    )
}}
{#-
  course_analytics: one row per course (metrics.md "course_analytics").

  Courses: every course in the course structure or named by an enrolment, a payment or a review.
  Incremental replace unit: the course. A course is recomputed from its whole history when a
  staging row newer than this model's watermark touches it:
    - UserEnrolled / UserUnenrolled / CourseCompleted (enrolment state; an enrolment id keeps
      every course it was ever enrolled in, an unenrolment also touches its enrolment's course),
    - ProgressUpdated (learner progress: the event's course and the course holding the lesson),
    - ContentPublished (lesson count: every course the item was ever published in),
    - UserActivity course views, CourseReviewed, PaymentCompleted.
  Changing the fx_rates seed or var reporting_currency needs a --full-refresh.

  Exact arithmetic (so incremental = full refresh bit for bit, whatever the summation order):
  averages are sums of integers (milliseconds, lesson counts, ratings) divided once; revenue
  sums Decimal amounts times Decimal rates.
-#}
{#- tables read only by the incremental branch -#}
-- depends_on: {{ ref('stg_lms__user_enrolled') }} {{ ref('stg_lms__user_unenrolled') }} {{ ref('stg_lms__course_completed') }} {{ ref('stg_lms__progress_updated') }} {{ ref('stg_lms__content_published') }} {{ ref('stg_lms__user_activity') }}

{%- if is_incremental() %}
{%- set changed_courses_sql %}
    select key as course_id
    from (
        {{ lms_changed_keys([
            (ref('stg_lms__user_unenrolled'), 'course_id'),
            (ref('stg_lms__course_completed'), 'course_id'),
            (ref('stg_lms__progress_updated'), 'course_id'),
            (ref('stg_lms__course_reviewed'), 'course_id'),
            (ref('stg_lms__payment_completed'), 'course_id'),
        ]) }}
    )
    union all
    -- every course an enrolment id was ever enrolled in
    select course_id
    from {{ ref('stg_lms__user_enrolled') }}
    where id in (
        select id from {{ ref('stg_lms__user_enrolled') }}
        where {{ lms_fresh(ref('stg_lms__user_enrolled')) }}
    )
    union all
    -- an unenrolment folds into its enrolment (by id)
    select course_id
    from {{ ref('int_enrollments') }}
    where enrollment_id in (
        select id from {{ ref('stg_lms__user_unenrolled') }}
        where {{ lms_fresh(ref('stg_lms__user_unenrolled')) }}
    )
    union all
    -- progress counts in the course whose structure holds the lesson
    select course_id
    from {{ ref('int_course_structure') }}
    where item_type = 'lesson'
      and item_id in (
        select lesson_id from {{ ref('stg_lms__progress_updated') }}
        where {{ lms_fresh(ref('stg_lms__progress_updated')) }}
    )
    union all
    -- a (re)published item changes every course it was ever published in
    select course_id
    from {{ ref('stg_lms__content_published') }}
    where item_id in (
        select item_id from {{ ref('stg_lms__content_published') }}
        where {{ lms_fresh(ref('stg_lms__content_published')) }}
    )
    union all
    select resource_id as course_id
    from {{ ref('stg_lms__user_activity') }}
    where {{ lms_fresh(ref('stg_lms__user_activity')) }}
      and resource_type = 'course'
      and action = 'view'
{% endset %}
{#- the changed courses, resolved once (macros/changed_sets.sql) -#}
{%- set changed_courses = lms_changed_set(changed_courses_sql) %}
{{ lms_skip_when_unchanged([changed_courses]) }}
{%- set in_changed = lms_in('course_id', changed_courses) %}
{%- endif %}

with

fx_rates as (
    select currency, toDecimal128(toString(rate_to_usd), 12) as usd_rate
    from {{ ref('fx_rates') }}
),

-- One scan per source, each aggregated per course, then summed per course (a course is known
-- once it has content, an enrolment, a payment or a review: `known`).
course_facts as (
    -- the course structure
    select
        course_id,
        toUInt8(1) as known,
        toUInt64(0) as enrollments,
        toUInt64(0) as active,
        toUInt64(0) as completed,
        toUInt64(0) as dropped,
        toInt64(0) as completion_ms,
        toUInt64(0) as progress_rows,
        cast(null as Nullable(UInt64)) as progress_min_denominator,
        cast(null as Nullable(UInt64)) as progress_denominator,
        toUInt64(0) as progress_numerator,
        toFloat64(0) as progress_sum,
        toUInt64(0) as views,
        toUInt64(0) as viewers,
        toUInt64(0) as reviews,
        toInt64(0) as rating_sum,
        toDecimal128(0, 16) as amount_usd
    from {{ ref('int_course_structure') }}
    {%- if is_incremental() %}
    where {{ in_changed }}
    {%- endif %}
    group by course_id
    union all
    -- enrolment states (int_enrollments: one row per enrolment id)
    select
        course_id,
        1,
        count(),
        countIf(state = 'active'),
        countIf(state = 'completed'),
        countIf(state = 'dropped'),
        sumIf(dateDiff('millisecond', enrolled_at, assumeNotNull(completed_at)), state = 'completed'),
        0, null, null, 0, 0, 0, 0, 0, 0, toDecimal128(0, 16)
    from {{ ref('int_enrollments') }}
    {%- if is_incremental() %}
    where {{ in_changed }}
    {%- endif %}
    group by course_id
    union all
    -- learner progress: every enrolment of a course shares its lesson count L, so
    -- progress_i = numerator_i / L exactly, with numerator_i = L if progress is 1
    select
        course_id,
        0, 0, 0, 0, 0, 0,
        count(),
        min(greatest(course_lessons, 1)),
        max(greatest(course_lessons, 1)),
        sum(if(progress >= 1, greatest(course_lessons, 1), least(lessons_completed, course_lessons))),
        sum(progress),
        0, 0, 0, 0, toDecimal128(0, 16)
    from {{ ref('int_learner_progress') }}
    {%- if is_incremental() %}
    where {{ in_changed }}
    {%- endif %}
    group by course_id
    union all
    -- course views: int_learner_items holds each learner's UserActivity views of the course
    select
        item_id,
        0, 0, 0, 0, 0, 0, 0, null, null, 0, 0,
        sum(views),
        countIf(views > 0),
        0, 0, toDecimal128(0, 16)
    from {{ ref('int_learner_items') }}
    where item_type = 'course'
      {%- if is_incremental() %}
      and {{ lms_in('item_id', changed_courses) }}
      {%- endif %}
    group by item_id
    union all
    -- the latest CourseReviewed per (user, course): latest ReviewedAt, ties by event_id desc
    select
        course_id,
        1, 0, 0, 0, 0, 0, 0, null, null, 0, 0, 0, 0,
        count(),
        sum(toInt64(latest_rating)),
        toDecimal128(0, 16)
    from (
        select course_id, user_id, argMax(rating, (reviewed_at, event_id)) as latest_rating
        from {{ ref('stg_lms__course_reviewed') }}
        {%- if is_incremental() %}
        where {{ in_changed }}
        {%- endif %}
        group by course_id, user_id
    )
    group by course_id
    union all
    -- PaymentCompleted.amount in USD (exact Decimal); a payment in a currency without a rate
    -- adds nothing (the warn test on fx rates reports it)
    select
        p.course_id,
        1, 0, 0, 0, 0, 0, 0, null, null, 0, 0, 0, 0, 0, 0,
        sum(toDecimal128(p.amount, 4) * ifNull(r.usd_rate, toDecimal128(0, 12)))
    from {{ ref('stg_lms__payment_completed') }} as p
    left join (select currency, toNullable(usd_rate) as usd_rate from fx_rates) as r
        on r.currency = p.currency
    {%- if is_incremental() %}
    where {{ lms_in('p.course_id', changed_courses) }}
    {%- endif %}
    group by p.course_id
),

courses as (
    select
        course_id,
        sum(enrollments) as total_enrollments_sum,
        sum(active) as active_sum,
        sum(completed) as completed_sum,
        sum(dropped) as dropped_sum,
        sum(completion_ms) as completion_ms_sum,
        sum(progress_rows) as progress_rows_sum,
        min(progress_min_denominator) as progress_min_denominator_min,
        max(progress_denominator) as progress_denominator_max,
        sum(progress_numerator) as progress_numerator_sum,
        sum(progress_sum) as progress_float_sum,
        sum(views) as views_sum,
        sum(viewers) as viewers_sum,
        sum(reviews) as reviews_sum,
        sum(rating_sum) as rating_total,
        sum(amount_usd) as amount_usd_sum
    from course_facts
    group by course_id
    having max(known) = 1
),

computed as (
    select
        {{ lms_id('course_analytics', ['course_id']) }} as id,
        course_id,
        total_enrollments_sum as total_enrollments,
        active_sum as active_enrollments,
        completed_sum as completed_enrollments,
        dropped_sum as dropped_enrollments,
        multiIf(
            progress_rows_sum = 0, cast(null as Nullable(Float64)),
            progress_min_denominator_min = progress_denominator_max,
                progress_numerator_sum / (progress_rows_sum * progress_denominator_max),
            progress_float_sum / progress_rows_sum
        ) as average_completion_rate,
        if(
            completed_sum = 0,
            cast(null as Nullable(Int64)),
            toInt64(floor(completion_ms_sum / (1000 * completed_sum) + 0.5))
        ) as average_time_to_complete,
        views_sum as total_views,
        viewers_sum as unique_views,
        if(reviews_sum = 0, cast(null as Nullable(Float64)), rating_total / reviews_sum)
            as average_rating,
        reviews_sum as total_reviews,
        -- in the reporting currency; NULL only if that currency has no rate (the relationships
        -- test on `currency` fails then)
        toFloat64(amount_usd_sum) / (
            select toFloat64(usd_rate) from fx_rates
            where currency = '{{ var("reporting_currency") }}'
            limit 1
        ) as revenue,
        '{{ var("reporting_currency") }}' as currency
    from courses
)

{{ lms_bookkeeping('computed', 'course_id', update_count=true, previous_filter=in_changed if is_incremental() else none) }}
