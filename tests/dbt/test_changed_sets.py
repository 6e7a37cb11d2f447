"""lms_changed_set / lms_in (macros/changed_sets.sql) against the engine, through `dbt show`.

A changed set is resolved once, when a model compiles, into data that ClickHouse itself wrote
(TabSeparated rows in one quoted string, read back by the `format` table function), or into the
set's own subquery when it is too large or not made of strings. Either way `lms_in` must select
exactly the keys of the set, whatever characters they hold: a SessionID is the client's text.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from dbt_harness import DbtHarness

from lms_analytics.settings import Settings

AWKWARD_KEYS = [
    "plain",
    "it's",
    "back\\slash",
    "\\'",
    "'",
    "tab\there",
    "new\nline",
    "ünïcødé ✓",
    "semi;colon -- not a comment",
    "",
]


def encoded(values: list[str]) -> str:
    """A ClickHouse array literal of the values, base64-encoded (no quoting in this test)."""
    return "[" + ", ".join(f"'{base64.b64encode(v.encode()).decode()}'" for v in values) + "]"


def show(harness: DbtHarness, sql: str) -> list[tuple]:
    run = harness.dbt("show", "--inline", sql, "--limit", "-1")
    return [tuple(row) for row in run.results[0].agate_table.rows]


def selected(harness: DbtHarness, keys_sql: str, candidates_sql: str, **options: int) -> tuple:
    """(keys lms_in selects among the candidates, whether the set stayed a subquery)."""
    arguments = "".join(f", {name}={value}" for name, value in options.items())
    rows = show(
        harness,
        f"""
        {{% set keys_sql %}}{keys_sql}{{% endset %}}
        {{% set changed = lms_changed_set(keys_sql{arguments}) %}}
        select base64Encode(toString(k)) as key,
               {{{{ 1 if keys_sql in changed.sql else 0 }}}} as as_subquery
        from ({candidates_sql})
        where {{{{ lms_in('k', changed) }}}}
        """,
    )
    keys = sorted(base64.b64decode(key).decode() for key, _ in rows)
    return keys, {flag for _, flag in rows}


@pytest.fixture(scope="module")
def harness(
    local_stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DbtHarness]:
    """One harness for the module: the project is parsed once."""
    made = DbtHarness(local_stack, tmp_path_factory.mktemp("changed-sets"))
    yield made
    made.drop()


def test_string_keys_are_inlined_and_select_exactly_themselves(harness: DbtHarness):
    others = ["plain ", "it''s", "back\\\\slash", "PLAIN"]
    keys, as_subquery = selected(
        harness,
        f"select base64Decode(arrayJoin({encoded(AWKWARD_KEYS)})) as k",
        f"select base64Decode(arrayJoin({encoded(AWKWARD_KEYS + others)})) as k",
    )
    assert keys == sorted(AWKWARD_KEYS)
    assert as_subquery == {0}


def test_tuple_keys_select_exactly_their_pairs_even_when_there_is_one(harness: DbtHarness):
    pairs_sql = (
        "select tupleElement(p, 1) as a, tupleElement(p, 2) as b "
        "from (select arrayJoin([('u1', 'x''y'), ('u2', 'z')]) as p)"
    )
    rows = show(
        harness,
        f"""
        {{% set many = lms_changed_set("{pairs_sql}") %}}
        {{% set one = lms_changed_set("select 'u2' as a, 'z' as b") %}}
        select a, b,
               ({{{{ lms_in('(a, b)', many) }}}}) as in_many,
               ({{{{ lms_in('(a, b)', one) }}}}) as in_one
        from (select arrayJoin([('u1', 'x''y'), ('u2', 'z'), ('u1', 'z'), ('u2', 'x''y')]) as p,
                     tupleElement(p, 1) as a, tupleElement(p, 2) as b)
        order by a, b
        """,
    )
    assert rows == [
        ("u1", "x'y", 1, 0),
        ("u1", "z", 0, 0),
        ("u2", "x'y", 0, 0),
        ("u2", "z", 1, 1),
    ]


def test_sets_past_the_limit_or_not_made_of_strings_stay_subqueries(harness: DbtHarness):
    keys, as_subquery = selected(
        harness,
        "select toString(number) as k from numbers(3)",
        "select toString(number) as k from numbers(10)",
        max_literals=2,
    )
    assert (keys, as_subquery) == (["0", "1", "2"], {1})
    keys, as_subquery = selected(
        harness,
        "select number as k from numbers(3)",
        "select number as k from numbers(10)",
    )
    assert (keys, as_subquery) == (["0", "1", "2"], {1})


def test_an_empty_set_selects_nothing(harness: DbtHarness):
    assert selected(harness, "select 'x' as k where 0", "select 'x' as k") == ([], set())


def test_a_set_reads_as_a_table_with_the_columns_of_its_query(harness: DbtHarness):
    """int_page_view_sessions joins a set of rows; inlined or not, the columns keep their names."""
    pairs_sql = "select 'u1' as user_id, 'it''s' as session_key union all select 'u2', 'k'"
    rows = {
        limit: show(
            harness,
            f"""
            {{% set rows = lms_changed_set("{pairs_sql}", max_literals={limit}) %}}
            select user_id, session_key,
                {{{{ 1 if 'union all' in rows.sql else 0 }}}} as as_subquery
            from {{{{ rows.sql }}}}
            order by user_id
            """,
        )
        for limit in (20000, 1)
    }
    assert rows[20000] == [("u1", "it's", 0), ("u2", "k", 0)]
    assert rows[1] == [("u1", "it's", 1), ("u2", "k", 1)]
