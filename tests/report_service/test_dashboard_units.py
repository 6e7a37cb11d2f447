"""Dashboard pieces without servers: share tokens, the cache, filter merging (property-based,
checked by the report compiler), query sources and chart shapes."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lms_analytics.settings import Settings
from report_service.dashboards.access import share_token, share_token_valid
from report_service.dashboards.cache import TtlCache
from report_service.dashboards.filters import (
    DashboardFilterError,
    DashboardFilters,
    narrow,
    with_widget_filters,
)
from report_service.dashboards.sources import WidgetSourceError, parse_query
from report_service.dashboards.widget_data import WidgetShapeError, shape
from report_service.domain import Visualization
from report_service.engine import ReportDefinition, ReportEngine, compile_report
from report_service.engine.runner import ReportData


def settings(**values: Any) -> Settings:
    return Settings(**{"jwt_hs256_secret": "s" * 40, **values})


# --- share links ------------------------------------------------------------------------------


def test_share_tokens_are_per_dashboard_and_per_secret() -> None:
    one, two = uuid.uuid4(), uuid.uuid4()
    base = settings()
    token = share_token(base, one)
    assert token and share_token(base, one) == token
    assert share_token_valid(base, one, token)
    assert not share_token_valid(base, two, token)
    assert not share_token_valid(settings(jwt_hs256_secret="t" * 40), one, token)  # rotated
    dedicated = settings(dashboard_share_secret="d" * 40)
    assert share_token(dedicated, one) != token
    assert not share_token_valid(dedicated, one, token)
    assert share_token(settings(jwt_hs256_secret=None), one) is None


# --- cache ------------------------------------------------------------------------------------


def test_cache_keeps_entries_for_their_ttl_and_evicts_the_least_recent() -> None:
    now = [0.0]
    cache: TtlCache[int] = TtlCache(60, max_entries=2, clock=lambda: now[0])
    calls: list[str] = []

    def compute(key: str, value: int):
        return lambda: calls.append(key) or value

    assert cache.get_or_compute("a", compute("a", 1)).hit is False
    now[0] = 59.0
    hit = cache.get_or_compute("a", compute("a", 2))
    assert (hit.hit, hit.value, hit.age) == (True, 1, 59.0)
    now[0] = 60.0
    assert cache.get_or_compute("a", compute("a", 3)).value == 3  # expired: computed again
    cache.get_or_compute("b", compute("b", 4))
    cache.get_or_compute("c", compute("c", 5))  # evicts "a"
    assert cache.get_or_compute("a", compute("a", 6)).value == 6
    assert calls == ["a", "a", "b", "c", "a"]


def test_cache_never_stores_errors_and_ttl_zero_stores_nothing() -> None:
    cache: TtlCache[int] = TtlCache(60)

    def fail() -> int:
        raise RuntimeError("ClickHouse away")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", fail)
    assert cache.get_or_compute("k", lambda: 7).hit is False
    off: TtlCache[int] = TtlCache(0)
    off.get_or_compute("k", lambda: 1)
    assert off.get_or_compute("k", lambda: 2).value == 2 and len(off) == 0


# --- filters ----------------------------------------------------------------------------------

COURSE_IDS = st.text(min_size=1, max_size=20)
CURRENT = st.one_of(
    st.none(),
    COURSE_IDS,
    st.lists(COURSE_IDS, min_size=1, max_size=4),
    st.fixed_dictionaries({}, optional={"neq": COURSE_IDS, "contains": COURSE_IDS}),
    st.fixed_dictionaries({"eq": COURSE_IDS}),
    st.fixed_dictionaries({"in": st.lists(COURSE_IDS, min_size=1, max_size=4)}),
)


@given(current=CURRENT, value=COURSE_IDS)
def test_narrowed_filters_compile_and_keep_every_condition(current: Any, value: str) -> None:
    try:
        merged = narrow(current, value)
    except DashboardFilterError:
        return  # only when `eq` and `in` are both taken; stated to the viewer
    definition = ReportDefinition("course", ["total_enrollments"], filters={"course_id": merged})
    query = compile_report(definition)
    values = [v for k, v in query.parameters.items() if k.startswith("p")]
    assert value in values or [value] in values
    if isinstance(current, str):
        assert current in values


def test_widget_filters_are_anded_with_the_source_and_contradictions_refused() -> None:
    source = ReportDefinition("course", ["revenue"], filters={"course_id": "c-1"})
    merged = with_widget_filters(source, {"revenue": {"gt": 0}, "course_id": {"neq": "c-2"}})
    assert merged.filters == {"course_id": {"eq": "c-1", "neq": "c-2"}, "revenue": {"gt": 0}}
    compile_report(merged)
    with pytest.raises(DashboardFilterError, match="contradicts its source"):
        with_widget_filters(source, {"course_id": "c-9"})


def test_dashboard_filter_dates_are_checked_and_make_a_period() -> None:
    from zoneinfo import ZoneInfo

    filters = DashboardFilters.parse("2024-03-01", "2024-03-31", " c-1 ", "")
    assert (filters.course, filters.organisation) == ("c-1", None)
    period = filters.period(ZoneInfo("Europe/Paris"))
    assert period is not None
    assert (period.start.isoformat(), period.end.isoformat()) == (
        "2024-02-29T23:00:00+00:00",
        "2024-03-31T22:00:00+00:00",
    )
    open_ended = DashboardFilters.parse(None, "2024-03-02").period(ZoneInfo("UTC"))
    assert open_ended is not None and open_ended.start.year == 1970
    assert DashboardFilters().period(ZoneInfo("UTC"), today=date(2024, 1, 1)) is None
    with pytest.raises(DashboardFilterError):
        DashboardFilters.parse("2024-02-30")


# --- sources ----------------------------------------------------------------------------------


@given(st.text(max_size=200))
def test_query_sources_that_are_not_json_objects_are_refused(text: str) -> None:
    try:
        fields = json.loads(text)
    except ValueError:
        fields = None
    if isinstance(fields, dict):
        return
    with pytest.raises(WidgetSourceError):
        parse_query(text)


def test_query_source_fields_are_checked() -> None:
    good = parse_query(
        '{"type": "activities", "metrics": ["count"], "dimensions": ["day", "user_id"],'
        ' "count_distinct": "user_id", "limit": 10}'
    )
    assert (good.definition.type, good.definition.dimensions, good.count_distinct) == (
        "activities",
        ("day", "user_id"),
        "user_id",
    )
    for text, message in [
        ('{"type": "course", "metrics": ["revenue"], "sql": "DROP"}', "unknown query fields"),
        ('{"metrics": ["revenue"]}', "needs a report 'type'"),
        ('{"type": "course", "metrics": "revenue"}', "list of names"),
        ('{"type": "course", "metrics": ["count"], "count_distinct": "day"}', "count_distinct"),
    ]:
        with pytest.raises(WidgetSourceError, match=message):
            parse_query(text)


# --- shapes -----------------------------------------------------------------------------------


def data(definition: ReportDefinition, rows: list[tuple[Any, ...]]) -> ReportData:
    query = ReportEngine(runner=None).compile(definition)  # type: ignore[arg-type]
    return ReportData(query.columns, rows, query.report_type)


def test_a_rate_over_several_rows_is_not_added_up_into_one_figure() -> None:
    definition = ReportDefinition("course", ["average_completion_rate"], ["course_id"])
    rows = [("c-1", 0.5), ("c-2", 0.7)]
    with pytest.raises(WidgetShapeError, match="rate or mean"):
        shape(Visualization.METRIC, data(definition, rows), definition)
    single = shape(Visualization.METRIC, data(definition, rows[:1]), definition)
    assert (single["value"], single["note"]) == (0.5, "Course ID: c-1")


def test_totals_mode_only_for_additive_metrics_without_dimensions() -> None:
    additive = ReportDefinition("course", ["total_enrollments", "revenue"])
    rows = [("c-1", 4, 10.0), ("c-2", 6, None)]
    chart = shape(Visualization.BAR, data(additive, rows), additive)
    assert (chart["mode"], chart["categories"]) == ("totals", ["Total enrollments", "Revenue"])
    assert chart["series"][0]["values"] == [10, 10.0]
    mixed = ReportDefinition("course", ["total_enrollments", "average_rating"])
    chart = shape(Visualization.BAR, data(mixed, [("c-1", 4, 4.5)]), mixed)
    assert (chart["mode"], chart["categories"]) == ("rows", ["c-1"])
    assert [s["name"] for s in chart["series"]] == ["total_enrollments", "average_rating"]
