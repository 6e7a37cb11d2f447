"""lms_changed_set / lms_in (macros/changed_sets.sql) against the engine, through `dbt show`.

A changed set is resolved once, when a model compiles: into a temporary table of the session,
or (inline=true, for a mutation) into data that ClickHouse itself wrote (TabSeparated rows in
one quoted string, read back by the `format` table function), or into the set's own subquery
when it is too large or not made of strings. Every way `lms_in` must select exactly the keys
of the set, whatever characters they hold: a SessionID is the client's text.
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


def selected(harness: DbtHarness, keys_sql: str, candidates_sql: str, **options) -> tuple:
    """(keys lms_in selects among the candidates, whether the set stayed a subquery)."""
    arguments = "".join(f", {name}={str(value).lower()}" for name, value in options.items())
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


@pytest.mark.parametrize("inline", [False, True], ids=["temporary-table", "inline"])
def test_string_keys_select_exactly_themselves(harness: DbtHarness, inline: bool):
    others = ["plain ", "it''s", "back\\\\slash", "PLAIN"]
    keys, as_subquery = selected(
        harness,
        f"select base64Decode(arrayJoin({encoded(AWKWARD_KEYS)})) as k",
        f"select base64Decode(arrayJoin({encoded(AWKWARD_KEYS + others)})) as k",
        inline=inline,
    )
    assert keys == sorted(AWKWARD_KEYS)
    assert as_subquery == {0}


def test_a_set_is_a_temporary_table_unless_inlined(harness: DbtHarness):
    rows = show(
        harness,
        """
        {% set kept = lms_changed_set("select 'a' as k") %}
        {% set inlined = lms_changed_set("select 'a' as k", inline=true) %}
        select '{{ kept.sql }}' as kept, '{{ inlined.sql | replace("'", "") }}' as inlined
        """,
    )
    ((kept, inlined),) = rows
    assert kept.startswith("(select * from lms_set_")
    assert inlined.startswith("(select * from format(TabSeparated,")


@pytest.mark.parametrize("inline", ["false", "true"], ids=["temporary-table", "inline"])
def test_tuple_keys_select_exactly_their_pairs_even_when_there_is_one(
    harness: DbtHarness, inline: str
):
    pairs_sql = (
        "select tupleElement(p, 1) as a, tupleElement(p, 2) as b "
        "from (select arrayJoin([('u1', 'x''y'), ('u2', 'z')]) as p)"
    )
    rows = show(
        harness,
        f"""
        {{% set many = lms_changed_set("{pairs_sql}", inline={inline}) %}}
        {{% set one = lms_changed_set("select 'u2' as a, 'z' as b", inline={inline}) %}}
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


def test_inlined_sets_past_the_limit_or_not_made_of_strings_stay_subqueries(
    harness: DbtHarness,
):
    keys, as_subquery = selected(
        harness,
        "select toString(number) as k from numbers(3)",
        "select toString(number) as k from numbers(10)",
        inline=True,
        max_literals=2,
    )
    assert (keys, as_subquery) == (["0", "1", "2"], {1})
    keys, as_subquery = selected(
        harness,
        "select number as k from numbers(3)",
        "select number as k from numbers(10)",
        inline=True,
    )
    assert (keys, as_subquery) == (["0", "1", "2"], {1})


@pytest.mark.parametrize("inline", [False, True], ids=["temporary-table", "inline"])
def test_an_empty_set_selects_nothing(harness: DbtHarness, inline: bool):
    found = selected(harness, "select 'x' as k where 0", "select 'x' as k", inline=inline)
    assert found == ([], set())


def test_emptiness_of_temporary_table_sets_is_learned_in_one_query(harness: DbtHarness):
    """Unknown until lms_resolve_sets (or lms_skip_when_unchanged) counts them."""
    rows = show(
        harness,
        """
        {% set full = lms_changed_set("select toString(number) as k from numbers(5)") %}
        {% set empty = lms_changed_set("select 'x' as k where 0") %}
        {% set before = [full.empty, empty.empty] | map('string') | join(' ') %}
        {% do lms_resolve_sets([full, empty]) %}
        select '{{ before }}' as before, '{{ full.empty }} {{ empty.empty }}' as after,
               '{{ lms_in("k", empty) }}' as empty_filter
        """,
    )
    assert rows == [("None None", "False True", "0")]


def test_a_set_reads_as_a_table_with_the_columns_of_its_query(harness: DbtHarness):
    """int_page_view_sessions joins a set of rows; every way, the columns keep their names."""
    pairs_sql = "select 'u1' as user_id, 'it''s' as session_key union all select 'u2', 'k'"
    rows = {
        options: show(
            harness,
            f"""
            {{% set rows = lms_changed_set("{pairs_sql}", {options}) %}}
            select user_id, session_key,
                {{{{ 1 if 'union all' in rows.sql else 0 }}}} as as_subquery
            from {{{{ rows.sql }}}}
            order by user_id
            """,
        )
        for options in (
            "inline=false",
            "inline=true, max_literals=20000",
            "inline=true, max_literals=1",
        )
    }
    assert rows["inline=false"] == [("u1", "it's", 0), ("u2", "k", 0)]
    assert rows["inline=true, max_literals=20000"] == [("u1", "it's", 0), ("u2", "k", 0)]
    assert rows["inline=true, max_literals=1"] == [("u1", "it's", 1), ("u2", "k", 1)]
