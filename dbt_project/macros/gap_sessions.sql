{#
  lms_gap_sessions(page_views_sql, carry=[]) -> `select user_id, event_id, session_key`, then the
  `carry` columns of page_views_sql unchanged: the 30-minute
  inactivity rule over page views without SessionID. `page_views_sql` selects them (columns
  user_id, event_id, id, created_at; every page view of each user it names, or the keys of
  the later ones shift). Per user, ordered by (created_at, id, event_id), a page view more than
  30 minutes after the previous one starts a session; the session's key hashes the user and
  the id of its first page view (lms_gap_session_key). `carry` names columns of page_views_sql
  to pass through (e.g. created_at).
      gap as ({{ lms_gap_sessions("select user_id, event_id, id, created_at from ... where session_id = ''") }})
#}
{% macro lms_gap_sessions(page_views_sql, carry=[]) -%}
    {#- the inner queries keep the input's columns; created_at is one of them already -#}
    {%- set inner_extra = carry | reject('in', ['user_id', 'event_id', 'id', 'created_at']) | list -%}
    {%- set up_to_this_one = 'partition by user_id order by created_at, id, event_id rows between unbounded preceding and current row' -%}
    select
        user_id,
        event_id,
        {{ lms_gap_session_key('user_id', 'first_value(id) over (partition by user_id, session_number order by created_at, id, event_id rows between unbounded preceding and unbounded following)') }} as session_key{% for column in carry %}, {{ column }}{% endfor %}
    from (
        select user_id, event_id, id, created_at{% for column in inner_extra %}, {{ column }}{% endfor %},
            sum(toUInt64(starts_session)) over ({{ up_to_this_one }}) as session_number
        from (
            select user_id, event_id, id, created_at{% for column in inner_extra %}, {{ column }}{% endfor %},
                (row_number() over ({{ up_to_this_one }})) = 1
                    or created_at > (lagInFrame(created_at) over ({{ up_to_this_one }})) + interval 30 minute
                    as starts_session
            from ({{ page_views_sql }})
        )
    )
{%- endmacro %}
