{#
  Generic data tests of the project (no dbt packages needed).

  accepted_range: every non-NULL value in [min_value, max_value] (bounds optional, inclusive by
  default). Used for rates in [0, 1] and scores in [0, 100]:
      - name: completion_rate
        data_tests:
          - accepted_range:
              arguments: {min_value: 0, max_value: 1}
#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
select *
from {{ model }}
where {{ column_name }} is not null
  and (
    {%- if min_value is not none %}
    {{ column_name }} {{ '<' if inclusive else '<=' }} {{ min_value }}
    {%- else %}
    0
    {%- endif %}
    {%- if max_value is not none %}
    or {{ column_name }} {{ '>' if inclusive else '>=' }} {{ max_value }}
    {%- endif %}
  )
{% endtest %}

{#
  lms_unique_combination: no two rows share the values of `columns` (a compound grain key).
      data_tests:
        - lms_unique_combination:
            arguments: {columns: [item_type, item_id]}
#}
{% test lms_unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count() as rows_with_key
from {{ model }}
group by {{ columns | join(', ') }}
having count() > 1
{% endtest %}

{#
  lms_row_count: the model holds exactly `expected` rows (one-row models such as int_as_of).
#}
{% test lms_row_count(model, expected) %}
select count() as row_count
from {{ model }}
having count() != {{ expected }}
{% endtest %}
