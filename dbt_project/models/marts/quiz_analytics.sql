{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='quiz_id',
        engine=lms_engine('ReplacingMergeTree(updated_at)'),
        order_by='quiz_id',
    )
}}
{#-
  quiz_analytics: one row per quiz of the course structure (metrics.md "quiz_analytics").

  Incremental replace unit: the quiz. A quiz is recomputed from its whole history when a
  staging row newer than this model's watermark touches it:
    - QuizCompleted (its QuizID),
    - QuestionAnswered (the quiz holding the question in the structure, and the event's QuizID),
    - ContentPublished (every quiz of every course the item was ever published in: a moved
      lesson or question changes a quiz's lesson, module or questions).

  Definitions used:
    - course_id / module_id / lesson_id: the quiz's, from int_course_structure;
    - most_missed_questions: over the quiz's questions in the structure answered at least 5
      times (QuestionAnswered rows, any Outcome), incorrect rate = incorrect / answered, sorted
      by rate desc, incorrect count desc, question id asc; the first 5.
    - average_score: exact mean of Score (micro-units summed as integers, divided once).
-#}
{#- tables read only by the incremental branch -#}
-- depends_on: {{ ref('stg_lms__content_published') }}

{%- if is_incremental() %}
{%- set changed_quizzes_sql %}
    select key as quiz_id
    from (
        {{ lms_changed_keys([
            (ref('stg_lms__quiz_completed'), 'quiz_id'),
            (ref('stg_lms__question_answered'), 'quiz_id'),
        ]) }}
    )
    union all
    -- the quiz holding each newly answered question
    select assumeNotNull(quiz_id)
    from {{ ref('int_course_structure') }}
    where item_type = 'question'
      and quiz_id is not null
      and item_id in (
        select question_id from {{ ref('stg_lms__question_answered') }}
        where {{ lms_fresh(ref('stg_lms__question_answered')) }}
    )
    union all
    -- every quiz of every course a (re)published item was ever published in
    select item_id
    from {{ ref('int_course_structure') }}
    where item_type = 'quiz'
      and course_id in (
        select course_id from {{ ref('stg_lms__content_published') }}
        where item_id in (
            select item_id from {{ ref('stg_lms__content_published') }}
            where {{ lms_fresh(ref('stg_lms__content_published')) }}
        )
    )
{% endset %}
{#- the changed keys, resolved once (macros/changed_sets.sql) -#}
{%- set changed_quizzes = lms_changed_set(changed_quizzes_sql) %}
{{ lms_skip_when_unchanged([changed_quizzes]) }}
{%- endif %}

with

quizzes as (
    select
        item_id as quiz_id,
        course_id,
        module_id,
        lesson_id
    from {{ ref('int_course_structure') }}
    where item_type = 'quiz'
    {%- if is_incremental() %}
      and {{ lms_in('item_id', changed_quizzes) }}
    {%- endif %}
),

attempts as (
    select
        quiz_id,
        count() as attempt_count,
        uniqExact(user_id) as user_count,
        sum(toInt64(round(score * 1000000))) as score_micro_sum,
        countIf(passed) as passed_count,
        countIf(started_at is not null) as timed_count,
        sumIf(dateDiff('millisecond', assumeNotNull(started_at), completed_at), started_at is not null)
            as timed_ms
    from {{ ref('stg_lms__quiz_completed') }}
    where quiz_id in (select quiz_id from quizzes)
    group by quiz_id
),

-- The quizzes' questions (structure) with their answer counts.
question_counts as (
    select
        assumeNotNull(q.quiz_id) as quiz_id,
        q.item_id as question_id,
        a.answered as answered,
        a.incorrect as incorrect
    from {{ ref('int_course_structure') }} as q
    inner join (
        select question_id, count() as answered, countIf(outcome = 'incorrect') as incorrect
        from {{ ref('stg_lms__question_answered') }}
        where question_id in (
            select item_id from {{ ref('int_course_structure') }}
            where item_type = 'question' and quiz_id in (select quiz_id from quizzes)
        )
        group by question_id
    ) as a on a.question_id = q.item_id
    where q.item_type = 'question'
      and q.quiz_id in (select quiz_id from quizzes)
      and a.answered >= 5
),

most_missed as (
    select
        quiz_id,
        arrayMap(
            t -> t.3,
            arraySlice(
                arraySort(groupArray((-(incorrect / answered), -toInt64(incorrect), question_id))),
                1,
                5
            )
        ) as question_ids
    from question_counts
    group by quiz_id
),

computed as (
    select
        {{ lms_id('quiz_analytics', ['q.quiz_id']) }} as id,
        q.course_id as course_id,
        q.module_id as module_id,
        q.lesson_id as lesson_id,
        q.quiz_id as quiz_id,
        coalesce(a.attempt_count, 0) as total_attempts,
        coalesce(a.user_count, 0) as unique_attempts,
        if(
            coalesce(a.attempt_count, 0) = 0,
            cast(null as Nullable(Float64)),
            a.score_micro_sum / (1000000 * a.attempt_count)
        ) as average_score,
        if(
            coalesce(a.attempt_count, 0) = 0,
            cast(null as Nullable(Float64)),
            a.passed_count / a.attempt_count
        ) as pass_rate,
        if(
            coalesce(a.timed_count, 0) = 0,
            cast(null as Nullable(Int64)),
            toInt64(floor(a.timed_ms / (1000 * a.timed_count) + 0.5))
        ) as average_time_to_complete,
        m.question_ids as most_missed_questions
    from quizzes as q
    left join attempts as a on a.quiz_id = q.quiz_id
    left join most_missed as m on m.quiz_id = q.quiz_id
)

{{ lms_bookkeeping('computed', 'quiz_id', previous_filter=lms_in('quiz_id', changed_quizzes) if is_incremental() else none) }}
