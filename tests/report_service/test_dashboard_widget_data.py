"""GET /api/dashboards/{id}/widgets/{widget_id}/data on the real stack: every visualization's
data equals the report engine's result, dashboard filters, the cache, access rules."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from dashboard_marts import (
    ACTIVE_USERS_PER_DAY,
    COURSES,
    QUIZZES,
    TOTAL_ENROLMENTS,
    TOTAL_REVENUE,
    create_dashboard_marts,
    drop_dashboard_marts,
)
from fastapi import FastAPI
from fastapi.testclient import TestClient
from rs_helpers import SECRET, Headers, scratch_marts

from lms_analytics.settings import Settings
from report_service.api.app import create_app
from report_service.auth import issue_dev_token
from report_service.dashboards.access import SESSION_COOKIE, share_token
from report_service.dashboards.demo import create_course_overview_dashboard
from report_service.dashboards.filters import DashboardFilters, apply_filters
from report_service.dashboards.sources import parse_query
from report_service.dashboards.widget_data import WidgetDataService, jsonable
from report_service.engine import ReportDefinition, ReportEngine, spec_for

Auth = Callable[..., Headers]


@pytest.fixture(scope="module")
def marts(local_stack: Settings) -> Iterator[str]:
    with scratch_marts(local_stack, create_dashboard_marts, drop_dashboard_marts) as database:
        yield database


@pytest.fixture(scope="module")
def engine(api_settings: Settings, marts: str) -> ReportEngine:
    return ReportEngine.from_settings(api_settings, database=marts)


@pytest.fixture(scope="module")
def app(api_settings: Settings, engine: ReportEngine) -> FastAPI:
    application = create_app(api_settings)
    application.state.widget_data_service = WidgetDataService(engine, cache_seconds=300)
    return application


@pytest.fixture(scope="module")
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def demo(app: FastAPI, org: str) -> dict[str, Any]:
    """The demo's Course overview dashboard in this test's org, created by alice."""
    app.state.widget_data_service.cache.clear()
    dashboard_id, url = create_course_overview_dashboard(
        app.state.settings, org_id=org, created_by="alice", sessions=app.state.sessions
    )
    with app.state.sessions() as session:
        from report_service.db.models import Dashboard

        dashboard = session.get(Dashboard, dashboard_id)
        widgets = {w.title: w for w in dashboard.layout}
    return {"id": dashboard_id, "url": url, "widgets": widgets}


def data_url(dashboard_id: Any, widget: Any, **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"/api/dashboards/{dashboard_id}/widgets/{widget.id}/data" + (
        f"?{query}" if query else ""
    )


def fetch(api: TestClient, headers: Headers, demo: dict[str, Any], title: str, **params: str):
    response = api.get(data_url(demo["id"], demo["widgets"][title], **params), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def engine_rows(
    api: TestClient, engine: ReportEngine, body: dict[str, Any], filters: DashboardFilters
) -> list[list[Any]]:
    """What the report engine itself returns for the widget's source under `filters`."""
    source = body["source"]["definition"]
    definition = ReportDefinition(**source)
    spec = spec_for(definition.type)
    narrowed, period, _ = apply_filters(
        definition, spec, filters, api.app.state.widget_data_service.zone
    )
    return [jsonable(list(row)) for row in engine.run(narrowed, period).rows]


# --- each visualization equals the engine's result ---------------------------------------------


def test_every_demo_widget_returns_the_report_engines_rows(
    api: TestClient, auth: Auth, demo: dict[str, Any], engine: ReportEngine
) -> None:
    alice = auth("alice")
    seen = set()
    for title, widget in demo["widgets"].items():
        body = fetch(api, alice, demo, title)
        seen.add(body["widget"]["visualization"])
        assert body["widget"]["title"] == title
        assert body["rows"] == engine_rows(api, engine, body, DashboardFilters()), title
        assert body["rows"], f"{title}: no rows"
        assert widget.visualization == body["chart"]["kind"] or body["chart"]["kind"] in {
            "metric",
            "table",
        }
    assert seen == {"bar", "area", "pie", "table", "metric"}


def test_bar_and_pie_charts_hold_the_engines_values_in_its_order(
    api: TestClient, auth: Auth, demo: dict[str, Any]
) -> None:
    completion = fetch(api, auth("bob", "viewer"), demo, "Completion by course")
    by_rate = sorted(COURSES, key=lambda c: -c[5])
    assert completion["source"]["type"] == "report"
    assert completion["source"]["report_name"] == "Completion by course"
    assert completion["chart"]["categories"] == [c[0] for c in by_rate]
    assert completion["chart"]["series"][0]["values"] == pytest.approx([c[5] for c in by_rate])
    assert completion["chart"]["series"][0]["unit"] == "rate"

    quiz = fetch(api, auth("bob"), demo, "Quiz pass rates")
    assert quiz["chart"]["categories"] == [q[1] for q in sorted(QUIZZES, key=lambda q: -q[5])]

    pie = fetch(api, auth("bob"), demo, "Revenue by course")
    by_revenue = sorted(COURSES, key=lambda c: -c[7])
    assert pie["chart"]["kind"] == "pie"
    assert pie["chart"]["categories"] == [c[0] for c in by_revenue]
    assert pie["chart"]["series"][0]["values"] == [c[7] for c in by_revenue]


def test_funnel_totals_each_additive_metric_over_the_rows(
    api: TestClient, auth: Auth, demo: dict[str, Any]
) -> None:
    funnel = fetch(api, auth("alice"), demo, "Enrolment funnel")
    assert funnel["chart"]["mode"] == "totals"
    assert funnel["chart"]["categories"] == ["Total", "Active", "Completed", "Dropped"]
    assert funnel["chart"]["category"]["label"] == "Enrollments"
    expected = [sum(course[i] for course in COURSES) for i in (1, 2, 3, 4)]
    assert funnel["chart"]["series"][0]["values"] == expected
    assert expected[0] == TOTAL_ENROLMENTS


def test_area_chart_counts_distinct_active_users_per_day(
    api: TestClient, auth: Auth, demo: dict[str, Any]
) -> None:
    body = fetch(api, auth("alice"), demo, "Active users over time")
    assert body["chart"]["mode"] == "count_distinct"
    assert body["chart"]["category"]["time"] is True
    assert body["chart"]["categories"] == [f"2024-03-0{day}" for day in ACTIVE_USERS_PER_DAY]
    assert body["chart"]["series"][0]["values"] == list(ACTIVE_USERS_PER_DAY.values())


def test_metric_widgets_show_one_figure_and_the_trend(
    api: TestClient, auth: Auth, demo: dict[str, Any]
) -> None:
    alice = auth("alice")
    revenue = fetch(api, alice, demo, "Revenue")["chart"]
    assert (revenue["value"], revenue["unit"]) == (TOTAL_REVENUE, "money")
    enrolments = fetch(api, alice, demo, "Enrolments")["chart"]
    assert enrolments["value"] == TOTAL_ENROLMENTS
    assert enrolments["note"] == f"total over {len(COURSES)} rows"
    active = fetch(api, alice, demo, "Active users, latest day")["chart"]
    assert active["value"] == 9
    assert active["trend"]["latest_at"] == "2024-03-07"
    assert (active["trend"]["previous"], active["trend"]["change"]) == (7, 2)
    assert [p[1] for p in active["trend"]["points"]] == list(ACTIVE_USERS_PER_DAY.values())


def test_line_widget_added_through_the_api_charts_the_engine_series(
    api: TestClient, auth: Auth, demo: dict[str, Any], engine: ReportEngine
) -> None:
    source = '{"type": "activities", "metrics": ["count", "duration"], "dimensions": ["day"]}'
    widget = {
        "type": "chart",
        "title": "Activity per day",
        "data_source_type": "query",
        "data_source": source,
        "visualization": "line",
        "filters": {"activity_type": "page_view"},
        "position": {"x": 0, "y": 14, "width": 12, "height": 3},
    }
    created = api.post(f"/v1/dashboards/{demo['id']}/widgets", json=widget, headers=auth("alice"))
    assert created.status_code == 201, created.text
    response = api.get(
        f"/api/dashboards/{demo['id']}/widgets/{created.json()['id']}/data",
        headers=auth("alice"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    definition = parse_query(source).definition
    expected = engine.run(
        ReportDefinition(definition.type, definition.metrics, definition.dimensions,
                         {"activity_type": "page_view"})
    )  # fmt: skip
    assert body["rows"] == [jsonable(list(row)) for row in expected.rows]
    assert body["chart"]["kind"] == "line"
    assert body["chart"]["series"][0]["values"] == [2 * n for n in ACTIVE_USERS_PER_DAY.values()]
    assert [s["name"] for s in body["chart"]["series"]] == ["count", "duration"]


# --- filters ----------------------------------------------------------------------------------


def test_course_filter_applies_where_the_report_type_has_course_id(
    api: TestClient, auth: Auth, demo: dict[str, Any], engine: ReportEngine
) -> None:
    alice = auth("alice")
    completion = fetch(api, alice, demo, "Completion by course", course="algebra-101")
    assert completion["chart"]["categories"] == ["algebra-101"]
    assert completion["rows"] == engine_rows(
        api, engine, completion, DashboardFilters(course="algebra-101")
    )
    assert {"filter": "course", "label": "Course", "applied": True,
            "detail": "course_id = algebra-101"} in completion["filters"]  # fmt: skip

    quizzes = fetch(api, alice, demo, "Quiz pass rates", course="algebra-101")
    assert quizzes["chart"]["categories"] == ["quiz-algebra-1", "quiz-algebra-2"]

    activity = fetch(api, alice, demo, "Active users over time", course="algebra-101")
    note = next(f for f in activity["filters"] if f["filter"] == "course")
    assert note["applied"] is False
    assert "activities data has no course_id field" in note["detail"]
    assert activity["chart"]["series"][0]["values"] == list(ACTIVE_USERS_PER_DAY.values())


def test_organisation_filter_is_reported_as_not_applied_without_an_org_field(
    api: TestClient, auth: Auth, demo: dict[str, Any]
) -> None:
    unfiltered = fetch(api, auth("alice"), demo, "Completion by course")
    filtered = fetch(api, auth("alice"), demo, "Completion by course", organisation="org-x")
    assert filtered["rows"] == unfiltered["rows"]
    assert filtered["filters"] == [
        {
            "filter": "organisation",
            "label": "Organisation",
            "applied": False,
            "detail": "course data has no organization_id field, so this widget shows every "
            "organisation",
        }
    ]


def test_date_range_restricts_the_period_of_every_widget(
    api: TestClient, auth: Auth, demo: dict[str, Any], engine: ReportEngine
) -> None:
    alice = auth("alice")
    march = {"from": "2024-03-01", "to": "2024-03-31"}
    completion = fetch(api, alice, demo, "Completion by course", **march)
    assert "economics-150" not in completion["chart"]["categories"]  # updated in February
    assert len(completion["rows"]) == len(COURSES) - 1
    assert completion["period"] == {"start": "2024-03-01T00:00:00Z", "end": "2024-04-01T00:00:00Z"}

    days = {"from": "2024-03-03", "to": "2024-03-05"}
    activity = fetch(api, alice, demo, "Active users over time", **days)
    assert activity["chart"]["categories"] == ["2024-03-03", "2024-03-04", "2024-03-05"]
    assert activity["rows"] == engine_rows(
        api, engine, activity, DashboardFilters.parse("2024-03-03", "2024-03-05")
    )
    revenue = fetch(api, alice, demo, "Revenue", **march)["chart"]
    assert revenue["value"] == TOTAL_REVENUE - 300.0


def test_invalid_filter_values_are_a_422_with_the_reason(
    api: TestClient, auth: Auth, demo: dict[str, Any]
) -> None:
    widget = demo["widgets"]["Revenue"]
    bad = api.get(data_url(demo["id"], widget, **{"from": "March"}), headers=auth("alice"))
    assert bad.status_code == 422
    assert bad.json()["detail"] == "'from' must be a date like 2024-03-01, got 'March'"
    inverted = api.get(
        data_url(demo["id"], widget, **{"from": "2024-03-05", "to": "2024-03-01"}),
        headers=auth("alice"),
    )
    assert inverted.status_code == 422
    assert "starts (2024-03-05) after it ends (2024-03-01)" in inverted.json()["detail"]


# --- sources ----------------------------------------------------------------------------------


def test_raw_sql_and_deleted_reports_are_explained_not_run(
    api: TestClient, auth: Auth, demo: dict[str, Any], make_report: Callable[..., Any]
) -> None:
    alice = auth("alice")
    sql_widget = {
        "type": "table",
        "title": "Raw",
        "data_source_type": "query",
        "data_source": "SELECT * FROM system.users",
        "visualization": "table",
        "position": {"x": 0, "y": 20, "width": 4, "height": 2},
    }
    created = api.post(f"/v1/dashboards/{demo['id']}/widgets", json=sql_widget, headers=alice)
    response = api.get(
        f"/api/dashboards/{demo['id']}/widgets/{created.json()['id']}/data", headers=alice
    )
    assert response.status_code == 422
    assert "not SQL text: dashboards never run raw SQL" in response.json()["detail"]

    report = make_report(metrics=["total_enrollments"], sort_by=None, filters={})
    report_widget = {**sql_widget, "data_source_type": "report", "data_source": report["id"]}
    created = api.post(f"/v1/dashboards/{demo['id']}/widgets", json=report_widget, headers=alice)
    widget_url = f"/api/dashboards/{demo['id']}/widgets/{created.json()['id']}/data"
    assert api.get(widget_url, headers=alice).status_code == 200
    assert api.delete(f"/v1/reports/{report['id']}", headers=alice).status_code == 204
    gone = api.get(widget_url, headers=alice)
    assert gone.status_code == 422
    expected = f"the saved report this widget showed ({report['id']}) was deleted"
    assert gone.json()["detail"] == expected


def test_unknown_metric_in_a_query_is_a_422_listing_the_allowed_names(
    api: TestClient, auth: Auth, demo: dict[str, Any]
) -> None:
    widget = {
        "type": "chart",
        "title": "Typo",
        "data_source_type": "query",
        "data_source": '{"type": "course", "metrics": ["revenu"]}',
        "visualization": "bar",
        "position": {"x": 0, "y": 22, "width": 4, "height": 2},
    }
    created = api.post(f"/v1/dashboards/{demo['id']}/widgets", json=widget, headers=auth("alice"))
    response = api.get(
        f"/api/dashboards/{demo['id']}/widgets/{created.json()['id']}/data", headers=auth("alice")
    )
    assert response.status_code == 422
    body = response.json()
    assert "unknown metric 'revenu' for course reports" in body["detail"]
    assert "revenue" in body["errors"][0]["ctx"]["allowed"]


# --- cache ------------------------------------------------------------------------------------


def test_widget_data_is_cached_until_its_ttl(
    api: TestClient, auth: Auth, demo: dict[str, Any], marts: str, local_stack: Settings
) -> None:
    import clickhouse_connect

    url = data_url(demo["id"], demo["widgets"]["Enrolments"])
    first = api.get(url, headers=auth("alice"))
    second = api.get(url, headers=auth("bob", "viewer"))
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert first.json()["rows"] == second.json()["rows"]
    assert second.json()["cache"]["hit"] is True
    assert second.headers["cache-control"].startswith("private, max-age=")

    client = clickhouse_connect.get_client(**local_stack.clickhouse_client_kwargs())
    table = f"{marts}.course_analytics"
    try:
        client.command(f"ALTER TABLE {table} UPDATE total_enrollments = total_enrollments + 1 "
                       "WHERE course_id = 'algebra-101' SETTINGS mutations_sync = 2")  # fmt: skip
        cached = api.get(url, headers=auth("alice")).json()["chart"]["value"]
        api.app.state.widget_data_service.cache.clear()  # the TTL passing
        fresh = api.get(url, headers=auth("alice")).json()["chart"]["value"]
    finally:
        client.command(f"ALTER TABLE {table} UPDATE total_enrollments = total_enrollments - 1 "
                       "WHERE course_id = 'algebra-101' SETTINGS mutations_sync = 2")  # fmt: skip
        client.close()
        api.app.state.widget_data_service.cache.clear()
    assert (cached, fresh) == (TOTAL_ENROLMENTS, TOTAL_ENROLMENTS + 1)


# --- access -----------------------------------------------------------------------------------


def test_private_dashboard_data_is_for_its_creator_only(
    api: TestClient, auth: Auth, demo: dict[str, Any], api_settings: Settings
) -> None:
    patched = api.patch(
        f"/v1/dashboards/{demo['id']}", json={"is_public": False}, headers=auth("alice")
    )
    assert patched.status_code == 200
    url = data_url(demo["id"], demo["widgets"]["Revenue"])
    token = share_token(api_settings, demo["id"])

    assert api.get(url, headers=auth("alice")).status_code == 200
    assert api.get(url, headers=auth("bob")).status_code == 403
    assert api.get(url, headers=auth("alice", org_id="org-other")).status_code == 404
    anonymous = api.get(url)
    assert anonymous.status_code == 401
    assert anonymous.json()["detail"].startswith("This dashboard needs a sign-in")
    revoked = api.get(f"{url}?share={token}")
    assert revoked.status_code == 403
    assert "share link is not valid" in revoked.json()["detail"]


def test_public_dashboard_data_opens_for_the_org_and_share_link_holders(
    api: TestClient, auth: Auth, demo: dict[str, Any], api_settings: Settings
) -> None:
    url = data_url(demo["id"], demo["widgets"]["Revenue"])
    token = share_token(api_settings, demo["id"])
    assert demo["url"].endswith(f"/dashboards/{demo['id']}?share={token}")

    assert api.get(url, headers=auth("bob", "viewer")).status_code == 200
    assert api.get(url, headers=auth("carol", org_id="org-other")).status_code == 404
    assert api.get(f"{url}?share={token}").status_code == 200
    assert api.get(url).status_code == 401
    forged = api.get(f"{url}?share={token[:-2]}xx")
    assert forged.status_code == 403
    other = uuid.uuid4()
    assert api.get(f"{url}?share={share_token(api_settings, other)}").status_code == 403


def test_session_cookie_and_expired_tokens(
    api: TestClient, demo: dict[str, Any], api_settings: Settings, org: str
) -> None:
    url = data_url(demo["id"], demo["widgets"]["Revenue"])
    valid = issue_dev_token(api_settings, "alice", "analyst", org)
    expired = issue_dev_token(
        api_settings, "alice", "analyst", org, expires_in=timedelta(minutes=-5)
    )
    with TestClient(api.app) as browser:
        login = browser.post(
            "/dashboards/session",
            data={"token": valid, "next": f"/dashboards/{demo['id']}"},
            follow_redirects=False,
        )
        assert login.status_code == 303
        assert login.headers["location"] == f"/dashboards/{demo['id']}"
        cookie = login.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert browser.get(url).status_code == 200

    with TestClient(api.app, cookies={SESSION_COOKIE: expired}) as browser:
        stale = browser.get(url)
    assert stale.status_code == 401
    assert stale.json()["detail"] == "your dashboard session has ended: bearer token has expired"
    assert api.get(url, headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    assert SECRET  # the tokens above are signed with the test secret


def test_share_link_route_gives_the_link_of_a_public_dashboard(
    api: TestClient, auth: Auth, demo: dict[str, Any], api_settings: Settings
) -> None:
    response = api.get(f"/api/dashboards/{demo['id']}/share-link", headers=auth("bob"))
    assert response.status_code == 200
    assert response.json()["url"] == demo["url"]
    api.patch(f"/v1/dashboards/{demo['id']}", json={"is_public": False}, headers=auth("alice"))
    private = api.get(f"/api/dashboards/{demo['id']}/share-link", headers=auth("alice"))
    assert private.status_code == 409
