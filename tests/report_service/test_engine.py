"""The report engine: catalog, query compiler (values never in the SQL text) and runner on the
real ClickHouse gateway over hand-written marts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mart_fixtures import HOSTILE_VALUES, at, create_marts, drop_marts

from lms_analytics.settings import Settings
from report_service.domain import ReportType
from report_service.engine import (
    CATALOG,
    ClickHouseRunner,
    FieldKind,
    InvalidFilterError,
    Operator,
    Period,
    QueryError,
    ReportDefinition,
    ReportEngine,
    ReportValidationError,
    UnknownNameError,
    compile_report,
)

MARCH = Period(at(1), at(1, month=4))
INJECTIONS = st.sampled_from(
    [*HOSTILE_VALUES, "1; SELECT * FROM system.users", "') UNION ALL SELECT 1 --", "\\", "'"]
)
TEXT = st.one_of(INJECTIONS, st.text(max_size=80))


@pytest.fixture(scope="module")
def marts(clickhouse_client: Any) -> Iterator[str]:
    database = create_marts(clickhouse_client)
    yield database
    drop_marts(clickhouse_client, database)


@pytest.fixture(scope="module")
def clickhouse_client(local_stack: Settings) -> Iterator[Any]:  # module scope for `marts`
    import clickhouse_connect

    client = clickhouse_connect.get_client(**local_stack.clickhouse_client_kwargs())
    yield client
    client.close()


@pytest.fixture(scope="module")
def engine(local_stack: Settings, marts: str) -> ReportEngine:
    return ReportEngine.from_settings(local_stack, database=marts)


def run(engine: ReportEngine, period: Period | None = None, **fields: Any) -> list[dict]:
    return engine.run(ReportDefinition(**fields), period).records()


# --- catalog ----------------------------------------------------------------------------------


def test_every_report_type_reads_its_seed_mart_with_a_date_field_and_operators() -> None:
    tables = {spec.type: spec.table for spec in CATALOG.values()}

    assert set(CATALOG) == set(ReportType)
    assert tables[ReportType.COURSE] == "course_analytics"
    assert tables[ReportType.ACTIVITIES] == "user_activities"
    assert tables[ReportType.PAGE_VIEWS] == "page_views"
    for spec in CATALOG.values():
        assert spec.metrics and spec.dimensions and spec.row_key
        assert spec.filters[spec.date_field].kind is FieldKind.DATETIME
        for metric in spec.metrics.values():
            assert metric.kind in (FieldKind.INTEGER, FieldKind.FLOAT)
    assert CATALOG[ReportType.COURSE].filters["course_id"].operators == {
        Operator.EQ,
        Operator.NEQ,
        Operator.IN,
        Operator.CONTAINS,
    }
    assert Operator.BETWEEN in CATALOG[ReportType.COURSE].filters["revenue"].operators


def test_catalog_columns_are_declared_by_the_dbt_marts() -> None:
    """The catalog reads only columns the dbt models document (models/marts/_*.yml)."""
    declared: dict[str, set[str]] = {}
    for path in (Path(__file__).parents[2] / "dbt_project" / "models" / "marts").glob("_*.yml"):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            declared[model["name"]] = {column["name"] for column in model.get("columns", [])}

    for spec in CATALOG.values():
        assert spec.table in declared, spec.table
        assert set(spec.column_kinds) <= declared[spec.table], (
            spec.table,
            sorted(set(spec.column_kinds) - declared[spec.table]),
        )


# --- compiling: values only in parameters -----------------------------------------------------


def _value(kind: FieldKind) -> st.SearchStrategy[Any]:
    return {
        FieldKind.STRING: TEXT,
        FieldKind.STRING_ARRAY: TEXT,
        FieldKind.INTEGER: st.integers(-(2**63), 2**63 - 1),
        FieldKind.FLOAT: st.floats(allow_nan=False, allow_infinity=False),
        FieldKind.BOOLEAN: st.booleans(),
        FieldKind.DATETIME: st.datetimes(
            datetime(1900, 1, 2), datetime(2299, 12, 30), timezones=st.just(UTC)
        ).map(datetime.isoformat),
    }[kind]


def _operand(kind: FieldKind, operator: Operator) -> st.SearchStrategy[Any]:
    if operator is Operator.IN:
        return st.lists(_value(kind), min_size=1, max_size=5)
    if operator is Operator.BETWEEN:
        return st.lists(_value(kind), min_size=2, max_size=2).map(
            lambda pair: (
                sorted(pair, key=lambda v: datetime.fromisoformat(v))
                if kind is FieldKind.DATETIME
                else sorted(pair)
            )
        )
    return _value(kind)


@st.composite
def filter_case(draw: st.DrawFn) -> tuple[ReportDefinition, ReportDefinition, Any, FieldKind]:
    """One report type, field and operator; two reports differing only in the value."""
    spec = draw(st.sampled_from(list(CATALOG.values())))
    field = draw(st.sampled_from(sorted(spec.filters)))
    kind = spec.filters[field].kind
    operator = draw(st.sampled_from(sorted(spec.filters[field].operators)))
    first, second = draw(_operand(kind, operator)), draw(_operand(kind, operator))
    metric = draw(st.sampled_from(sorted(spec.metrics)))
    dimensions = draw(st.sampled_from([(), (sorted(spec.dimensions)[0],)]))

    def report(value: Any) -> ReportDefinition:
        return ReportDefinition(
            spec.type.value, [metric], dimensions, {field: {operator.value: value}}, limit=10
        )

    return report(first), report(second), first, kind


@settings(max_examples=300, deadline=None)
@given(case=filter_case(), period=st.booleans())
def test_filter_values_never_change_the_sql_text(case: tuple, period: bool) -> None:
    first, second, value, kind = case
    span = MARCH if period else None

    compiled_1 = compile_report(first, span)
    compiled_2 = compile_report(second, span)

    assert compiled_1.sql == compiled_2.sql
    assert compiled_1.parameters.keys() == compiled_2.parameters.keys()
    if kind in (FieldKind.STRING, FieldKind.STRING_ARRAY):  # the text travels as it is
        assert value in compiled_1.parameters.values()  # a list travels as one array


@settings(max_examples=200, deadline=None)
@given(value=TEXT)
def test_injection_text_appears_only_in_parameters(value: str) -> None:
    report = ReportDefinition(
        "activities", ["duration"], ["resource_type"], {"resource_id": value, "action": [value]}
    )

    compiled = compile_report(report, MARCH)

    assert (
        compiled.sql
        == compile_report(
            ReportDefinition(
                "activities",
                ["duration"],
                ["resource_type"],
                {"resource_id": "x", "action": ["y", "z"]},
            ),
            MARCH,
        ).sql
    )
    assert compiled.parameters["p0"] == [value] and compiled.parameters["p1"] == value


NAMES = st.one_of(
    INJECTIONS,
    st.text(min_size=1, max_size=40),
    st.sampled_from(["course_id; DROP TABLE x", "count()", "`id`", "1=1", "updated_at--"]),
)


@settings(max_examples=200, deadline=None)
@given(name=NAMES, where=st.sampled_from(["metric", "dimension", "filter", "operator", "sort"]))
def test_hostile_names_are_rejected_before_any_sql(name: str, where: str) -> None:
    spec = CATALOG[ReportType.COURSE]
    known = {*spec.metrics, *spec.dimensions, *spec.filters, *(op.value for op in Operator)}
    if name in known:
        return
    fields: dict[str, Any] = {"type": "course", "metrics": ["total_views"]}
    if where == "metric":
        fields["metrics"] = [name]
    elif where == "dimension":
        fields["dimensions"] = [name]
    elif where == "filter":
        fields["filters"] = {name: "x"}
    elif where == "operator":
        fields["filters"] = {"course_id": {name: "x"}}
    else:
        fields["sort_by"] = name

    with pytest.raises(UnknownNameError) as rejected:
        compile_report(ReportDefinition(**fields))

    assert rejected.value.name == name
    assert rejected.value.allowed  # the message lists what would be accepted
    assert "allowed: " in str(rejected.value)


def test_unknown_metric_is_rejected_with_the_allowed_metrics() -> None:
    with pytest.raises(UnknownNameError) as rejected:
        compile_report(ReportDefinition("course", ["total_enrollments", "enrollments"]))

    error = rejected.value
    assert error.location == ("metrics", 1)
    assert error.allowed == sorted(CATALOG[ReportType.COURSE].metrics)
    assert "unknown metric 'enrollments' for course reports" in str(error)
    assert "average_completion_rate" in str(error)
    assert error.to_detail()["ctx"]["allowed"] == error.allowed


def test_operator_outside_the_fields_kind_is_rejected_with_its_operators() -> None:
    with pytest.raises(UnknownNameError) as rejected:
        compile_report(ReportDefinition("course", ["revenue"], filters={"course_id": {"gt": "a"}}))

    assert rejected.value.allowed == ["contains", "eq", "in", "neq"]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"total_views": {"gt": "10"}}, "expects a whole number"),
        ({"total_views": True}, "expects a whole number"),
        ({"revenue": {"between": [5]}}, "takes a pair"),
        ({"revenue": {"between": [9, 1]}}, "low > high"),
        ({"course_id": {"in": []}}, "takes a list of 1 to"),
        ({"updated_at": {"gte": "last tuesday"}}, "expects an ISO 8601 date"),
        ({"course_id": {}}, "has no operator"),
    ],
)
def test_filter_values_of_the_wrong_shape_are_rejected(filters: dict, message: str) -> None:
    with pytest.raises(InvalidFilterError, match=message):
        compile_report(ReportDefinition("course", ["revenue"], filters=filters))


def test_duplicate_metrics_and_empty_metrics_are_rejected() -> None:
    with pytest.raises(ReportValidationError, match="more than once"):
        compile_report(ReportDefinition("course", ["revenue", "revenue"]))
    with pytest.raises(ReportValidationError, match="at least one metric"):
        compile_report(ReportDefinition("course", []))


# --- running on ClickHouse --------------------------------------------------------------------


def test_grouped_report_equals_hand_computed_figures(engine: ReportEngine) -> None:
    rows = run(
        engine,
        MARCH,
        type="course",
        metrics=[
            "total_enrollments",
            "average_completion_rate",
            "average_time_to_complete",
            "revenue",
            "count",
        ],
        dimensions=["currency"],
        sort_by="total_enrollments",
        sort_direction="desc",
    )

    # March: c-1, c-2 (USD) and c-4 (EUR); c-3 was last updated in February.
    assert [row["currency"] for row in rows] == ["EUR", "USD"]  # tie on 6: currency ascending
    eur, usd = rows
    assert eur == {
        "currency": "EUR",
        "total_enrollments": 6,
        "average_completion_rate": 1.0,
        "average_time_to_complete": 7200.0,
        "revenue": 300.0,
        "count": 1,
    }
    assert usd["total_enrollments"] == 4 + 2
    # weighted by enrolments: (0.75 * 4 + 0.25 * 2) / 6
    assert usd["average_completion_rate"] == pytest.approx(3.5 / 6)
    # weighted by completed enrolments; c-2 has none (NULL) and drops out
    assert usd["average_time_to_complete"] == pytest.approx(3600.0)
    assert usd["revenue"] == pytest.approx(150.5)
    assert usd["count"] == 2


def test_weighted_mean_skips_null_rows_and_is_null_without_weight(engine: ReportEngine) -> None:
    rows = run(
        engine,
        None,
        type="course",
        metrics=["average_rating", "total_reviews"],
        dimensions=["course_id"],
        filters={"course_id": {"in": ["c-1", "c-2", "c-3"]}},
    )
    all_usd = run(engine, None, type="course", metrics=["average_rating"], dimensions=["currency"])

    assert {row["course_id"]: row["average_rating"] for row in rows} == {
        "c-1": 4.5,
        "c-2": None,  # no reviews: an average over nothing is NULL
        "c-3": 3.0,
    }
    # (4.5 * 2 + 3.0 * 1) / 3 over USD courses; c-2 (NULL) does not count
    assert {row["currency"]: row["average_rating"] for row in all_usd}["USD"] == pytest.approx(4.0)


def test_report_without_dimensions_lists_mart_rows_by_their_key(engine: ReportEngine) -> None:
    data = engine.run(
        ReportDefinition("course", ["revenue", "count"], sort_by="revenue", sort_direction="asc"),
        MARCH,
    )

    assert data.column_names == ["course_id", "revenue", "count"]
    assert data.rows == [("c-2", 50.5, 1), ("c-1", 100.0, 1), ("c-4", 300.0, 1)]


def test_period_restricts_the_date_field_half_open(engine: ReportEngine) -> None:
    only_c1 = Period(at(2), at(5))  # c-1 updated 03-02 is in, c-2 updated 03-05 is out

    rows = run(engine, only_c1, type="course", metrics=["total_views"])
    sessions = run(engine, Period(at(1), at(2)), type="sessions", metrics=["duration"])

    assert [row["course_id"] for row in rows] == ["c-1"]
    assert [row["id"] for row in sessions] == ["s-1", "s-2"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"course_id": "c-2"}, ["c-2"]),
        ({"course_id": {"neq": "c-2"}}, ["c-1", "c-3", "c-4"]),
        ({"course_id": ["c-1", "c-4", "c-9"]}, ["c-1", "c-4"]),
        ({"course_id": {"contains": "C-"}}, ["c-1", "c-2", "c-3", "c-4"]),
        ({"total_enrollments": {"gte": 4}}, ["c-1", "c-4"]),
        ({"total_enrollments": {"gt": 0, "lt": 6}}, ["c-1", "c-2"]),
        ({"revenue": {"between": [50.5, 100]}}, ["c-1", "c-2"]),
        ({"average_completion_rate": {"lte": 0.25}}, ["c-2"]),
        ({"updated_at": {"lt": "2024-03-01"}}, ["c-3"]),
        (
            {"updated_at": {"between": ["2024-03-05T00:00:00Z", "2024-03-06T00:00:00+00:00"]}},
            ["c-2", "c-4"],
        ),
        ({"currency": "USD", "total_views": {"in": [1, 10]}}, ["c-1", "c-3"]),
    ],
)
def test_filters_select_the_hand_picked_rows(
    engine: ReportEngine, filters: dict, expected: list[str]
) -> None:
    rows = run(engine, None, type="course", metrics=["total_views"], filters=filters)

    assert [row["course_id"] for row in rows] == expected


def test_day_buckets_follow_the_report_time_zone(local_stack: Settings, marts: str) -> None:
    report = ReportDefinition("sessions", ["count", "duration"], ["day"])
    utc = ReportEngine.from_settings(local_stack, database=marts, timezone="UTC")
    berlin = ReportEngine.from_settings(local_stack, database=marts, timezone="Europe/Berlin")

    by_utc_day = utc.run(report).rows
    by_berlin_day = berlin.run(report).rows

    assert by_utc_day == [
        (date(2024, 3, 1), 2, 450.0),
        (date(2024, 3, 2), 1, 900.0),
        (date(2024, 3, 3), 1, 0.0),
    ]
    # s-2 started 23:30 UTC on 03-01, 00:30 in Berlin on 03-02
    assert by_berlin_day == [
        (date(2024, 3, 1), 1, 600.0),
        (date(2024, 3, 2), 2, 600.0),
        (date(2024, 3, 3), 1, 0.0),
    ]


def test_sort_direction_and_limit_apply(engine: ReportEngine) -> None:
    data = engine.run(
        ReportDefinition("sessions", ["page_views"], ["user_id"], sort_by="page_views", limit=2)
    )

    assert data.rows == [("u-1", 8), ("u-2", 1)]  # u-2 and u-3 tie at 1: user_id ascending
    assert data.limit_reached


def test_chart_query_is_the_first_metric_by_the_first_dimension(engine: ReportEngine) -> None:
    data = engine.run(
        ReportDefinition("sessions", ["duration", "page_views"], ["client_browser", "user_id"]),
        chart=True,
    )

    assert data.chart is not None
    assert (data.chart.dimension.name, data.chart.metric.name) == ("client_browser", "duration")
    # Firefox: (600 + 0) / 2 ties Safari at 300: browser ascending
    assert data.chart.points == [("Chrome", 900.0), ("Firefox", 300.0), ("Safari", 300.0)]


def test_hostile_values_match_exactly_their_own_rows(engine: ReportEngine) -> None:
    for value in HOSTILE_VALUES:
        rows = run(
            engine, None, type="activities", metrics=["duration"], filters={"resource_id": value}
        )
        listed = run(
            engine,
            None,
            type="activities",
            metrics=["duration"],
            filters={"resource_id": {"in": [value, "nothing"]}},
        )

        expected = [f"a-{HOSTILE_VALUES.index(value)}"]
        assert [row["id"] for row in rows] == expected, value
        assert [row["id"] for row in listed] == expected, value
    referrers = run(
        engine,
        None,
        type="sessions",
        metrics=["count"],
        dimensions=["referrer"],
        filters={"referrer": {"contains": "drop table"}},
    )
    assert referrers == [{"referrer": HOSTILE_VALUES[0], "count": 1}]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=TEXT)
def test_any_text_value_reaches_clickhouse_as_data(engine: ReportEngine, value: str) -> None:
    equal = run(
        engine,
        None,
        type="activities",
        metrics=["duration"],
        filters={"resource_id": value, "action": {"neq": value}},
    )
    listed = run(
        engine,
        None,
        type="activities",
        metrics=["duration"],
        filters={"resource_id": {"in": [value, value + "'"]}},
    )

    expected = [f"a-{i}" for i, stored in enumerate(HOSTILE_VALUES) if stored == value]
    assert [row["id"] for row in equal] == (expected if value != "view" else [])
    assert [row["id"] for row in listed] == expected


def test_clickhouse_errors_become_query_errors(local_stack: Settings) -> None:
    engine = ReportEngine.from_settings(local_stack, database="rs_no_such_database")

    with pytest.raises(QueryError, match=r"ClickHouse rejected the report query: Code: \d+"):
        engine.run(ReportDefinition("course", ["revenue"]))


def test_unreachable_clickhouse_is_a_query_error() -> None:
    def refuse() -> Any:
        raise ConnectionRefusedError("connection refused")

    engine = ReportEngine(ClickHouseRunner(refuse))

    with pytest.raises(QueryError, match="cannot reach ClickHouse"):
        engine.run(ReportDefinition("course", ["revenue"]))
