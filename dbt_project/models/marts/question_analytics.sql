{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='question_id',
        engine=lms_engine('ReplacingMergeTree(updated_at)'),
        order_by='question_id',
    )
}}
{#-
  question_analytics: one row per question of the course structure (metrics.md
  "question_analytics"); quiz_id is the question's parent quiz in the structure.

  Incremental replace unit: the question. A question is recomputed from its whole history when
  a staging row newer than this model's watermark touches it:
    - QuestionAnswered (its QuestionID),
    - QuizCompleted (the questions answered in that attempt: their discrimination index),
    - ContentPublished (every question of every course the item was ever published in).

  discrimination_index: Pearson correlation between x = 1 for a correct answer (0 incorrect or
  skipped) and y = Score of the QuizCompleted with the answer's AttemptID for the question's
  quiz (the latest one by CompletedAt, ties by event_id desc), over the answers whose attempt
  is known. Computed
  exactly from integer sums (Score in micro-units):
      r = (n*Sxy - Sx*Sy) / sqrt((n*Sx - Sx^2) * (n*Syy - Sy^2)),
  NULL when either variance is 0 (or there are no such answers); clamped to [-1, 1].
-#}
{#- tables read only by the incremental branch -#}
-- depends_on: {{ ref('stg_lms__content_published') }}

{%- if is_incremental() %}
{%- set changed_questions_sql %}
    select key as question_id
    from (
        {{ lms_changed_keys([(ref('stg_lms__question_answered'), 'question_id')]) }}
    )
    union all
    -- answers whose attempt's QuizCompleted is new
    select question_id
    from {{ ref('stg_lms__question_answered') }}
    where attempt_id in (
        select assumeNotNull(attempt_id) from {{ ref('stg_lms__quiz_completed') }}
        where {{ lms_fresh(ref('stg_lms__quiz_completed')) }}
          and attempt_id is not null
    )
    union all
    -- every question of every course a (re)published item was ever published in
    select item_id
    from {{ ref('int_course_structure') }}
    where item_type = 'question'
      and course_id in (
        select course_id from {{ ref('stg_lms__content_published') }}
        where item_id in (
            select item_id from {{ ref('stg_lms__content_published') }}
            where {{ lms_fresh(ref('stg_lms__content_published')) }}
        )
    )
{% endset %}
{#- the changed keys, resolved once (macros/changed_sets.sql) -#}
{%- set changed_questions = lms_changed_set(changed_questions_sql) %}
{{ lms_skip_when_unchanged([changed_questions]) }}
{%- endif %}

with

questions as (
    select item_id as question_id, quiz_id
    from {{ ref('int_course_structure') }}
    where item_type = 'question'
    {%- if is_incremental() %}
      and {{ lms_in('item_id', changed_questions) }}
    {%- endif %}
),

-- The Score of each attempt of these questions' quizzes (the latest QuizCompleted per
-- (AttemptID, QuizID) by CompletedAt, ties by event_id desc).
attempt_scores as (
    select
        assumeNotNull(attempt_id) as scored_attempt_id,
        quiz_id as scored_quiz_id,
        argMax(score, (completed_at, event_id)) as attempt_score,
        toUInt8(1) as attempt_known
    from {{ ref('stg_lms__quiz_completed') }}
    where attempt_id is not null
      and quiz_id in (select quiz_id from questions)
    group by scored_attempt_id, scored_quiz_id
),

-- The questions' answers (one scan), with the Score of their attempt when it is known;
-- x = 1 for a correct answer, y = the attempt's Score in micro-units.
answers as (
    select
        a.question_id as question_id,
        a.outcome as outcome,
        toInt64(a.time_spent) as time_spent_seconds,
        s.attempt_known as known,
        toInt128(a.outcome = 'correct') as x,
        toInt128(round(s.attempt_score * 1000000)) as y
    from {{ ref('stg_lms__question_answered') }} as a
    inner join questions as q on q.question_id = a.question_id
    left join attempt_scores as s
        on s.scored_attempt_id = a.attempt_id and s.scored_quiz_id = q.quiz_id
    where a.question_id in (select question_id from questions)
),

answer_stats as (
    select
        question_id as stats_question_id,
        count() as answer_count,
        countIf(outcome = 'correct') as correct_count,
        countIf(outcome = 'incorrect') as incorrect_count,
        countIf(outcome = 'skipped') as skipped_count,
        sum(time_spent_seconds) as time_spent_sum,
        -- integer sums over the answers whose attempt is known (Pearson, exactly)
        toInt128(countIf(known = 1)) as n,
        sumIf(x, known = 1) as sx,
        sumIf(y, known = 1) as sy,
        sumIf(y * y, known = 1) as syy,
        sumIf(x * y, known = 1) as sxy
    from answers
    group by question_id
),

computed as (
    select
        {{ lms_id('question_analytics', ['q.question_id']) }} as id,
        q.quiz_id as quiz_id,
        q.question_id as question_id,
        coalesce(a.answer_count, 0) as total_attempts,
        coalesce(a.correct_count, 0) as correct_responses,
        coalesce(a.incorrect_count, 0) as incorrect_responses,
        coalesce(a.skipped_count, 0) as skipped_responses,
        if(
            coalesce(a.answer_count, 0) = 0,
            cast(null as Nullable(Int64)),
            toInt64(floor(a.time_spent_sum / a.answer_count + 0.5))
        ) as average_time_spent,
        if(
            coalesce(a.answer_count, 0) = 0,
            cast(null as Nullable(Float64)),
            (a.answer_count - a.correct_count) / a.answer_count
        ) as difficult_rating,
        if(
            coalesce(a.n * a.sx - a.sx * a.sx, 0) = 0 or coalesce(a.n * a.syy - a.sy * a.sy, 0) = 0,
            cast(null as Nullable(Float64)),
            greatest(-1.0, least(1.0,
                toFloat64(a.n * a.sxy - a.sx * a.sy)
                / sqrt(toFloat64(a.n * a.sx - a.sx * a.sx) * toFloat64(a.n * a.syy - a.sy * a.sy))
            ))
        ) as discrimination_index
    from questions as q
    left join answer_stats as a on a.stats_question_id = q.question_id
)

{{ lms_bookkeeping('computed', 'question_id', previous_filter=lms_in('question_id', changed_questions) if is_incremental() else none) }}
