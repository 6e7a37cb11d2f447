"""The dashboard HTML pages (no browser): what is rendered, who may open what, and the error
pages (HTML, never a stack trace), the login handoff and the charting library check."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from rs_helpers import Headers

from lms_analytics.settings import Settings
from report_service.api.app import create_app
from report_service.auth import issue_dev_token
from report_service.dashboards import pages
from report_service.dashboards.access import share_token
from report_service.dashboards.demo import create_course_overview_dashboard

Auth = Callable[..., Headers]


@pytest.fixture(scope="module")
def site(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as test_client:
        yield test_client


@pytest.fixture
def demo(site: TestClient, org: str) -> tuple[uuid.UUID, str]:
    return create_course_overview_dashboard(
        site.app.state.settings, org_id=org, created_by="alice", sessions=site.app.state.sessions
    )


def html(response: Any) -> str:
    assert response.headers["content-type"].startswith("text/html"), response.text
    return response.text


def data_urls(text: str) -> list[str]:
    found = re.search(r'<script type="application/json" id="dashboard-config">(.*?)</script>', text)
    assert found, text
    return [widget["data_url"] for widget in json.loads(found.group(1))["widgets"]]


def heading(text: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", text, re.S)
    assert found, text
    return found.group(1).strip()


def test_dashboard_page_places_widgets_on_the_grid_by_position(
    site: TestClient, auth: Auth, demo: tuple[uuid.UUID, str]
) -> None:
    dashboard_id, _ = demo
    response = site.get(f"/dashboards/{dashboard_id}", headers=auth("bob", "viewer"))
    assert response.status_code == 200
    page = html(response)
    assert heading(page) == "Course overview"
    assert "Enrolments, completion, quizzes, activity and revenue" in page
    # (title, grid-column, grid-row) of each widget, in layout order
    placed = re.findall(
        r'<article class="widget viz-(\w+)".*?grid-column: (\d+) / span (\d+); '
        r"grid-row: (\d+) / span (\d+);.*?<h2>(.*?)</h2>",
        page,
        re.S,
    )
    assert [(title, viz, int(c), int(w), int(r), int(h)) for viz, c, w, r, h, title in placed] == [
        ("Revenue", "metric", 1, 4, 1, 2),
        ("Enrolments", "metric", 5, 4, 1, 2),
        ("Active users, latest day", "metric", 9, 4, 1, 2),
        ("Enrolment funnel", "bar", 1, 6, 3, 4),
        ("Completion by course", "bar", 7, 6, 3, 4),
        ("Active users over time", "area", 1, 8, 7, 4),
        ("Revenue by course", "pie", 9, 4, 7, 4),
        ("Quiz pass rates", "bar", 1, 5, 11, 4),
        ("Courses at a glance", "table", 6, 7, 11, 4),
    ]
    assert "/dashboards/static/vendor/echarts.min.js" in page
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert "https://" not in page  # no CDN: every script and style is served by the app


def test_filters_are_passed_on_to_every_widget_data_url(
    site: TestClient, auth: Auth, demo: tuple[uuid.UUID, str]
) -> None:
    dashboard_id, _ = demo
    page = html(
        site.get(
            f"/dashboards/{dashboard_id}?from=2024-03-01&to=2024-03-31&course=algebra-101",
            headers=auth("alice"),
        )
    )
    urls = data_urls(page)
    assert len(urls) == 9
    assert all(url.endswith("?from=2024-03-01&to=2024-03-31&course=algebra-101") for url in urls)
    assert 'value="algebra-101"' in page

    invalid = site.get(f"/dashboards/{dashboard_id}?from=yesterday", headers=auth("alice"))
    assert invalid.status_code == 400
    assert "Filters not applied: &#39;from&#39; must be a date like 2024-03-01" in html(invalid)


def test_private_dashboard_page_without_credentials_is_the_forbidden_page(
    site: TestClient, auth: Auth, demo: tuple[uuid.UUID, str]
) -> None:
    dashboard_id, share_link = demo
    alice = auth("alice")
    site.patch(f"/v1/dashboards/{dashboard_id}", json={"is_public": False}, headers=alice)

    anonymous = site.get(f"/dashboards/{dashboard_id}")
    assert anonymous.status_code == 401
    assert heading(html(anonymous)) == "Forbidden"
    assert "Traceback" not in anonymous.text
    assert f"/dashboards/login?next=%2Fdashboards%2F{dashboard_id}" in anonymous.text

    other = site.get(f"/dashboards/{dashboard_id}", headers=auth("bob"))
    assert other.status_code == 403
    assert "private to its creator" in html(other)
    elsewhere = site.get(f"/dashboards/{dashboard_id}", headers=auth("alice", org_id="org-x"))
    assert elsewhere.status_code == 404
    assert heading(html(elsewhere)) == "Not found"
    link = urlsplit(share_link)
    shared = site.get(f"{link.path}?{link.query}")  # the share link of a now private dashboard
    assert shared.status_code == 403
    assert site.get(f"/dashboards/{dashboard_id}", headers=alice).status_code == 200


def test_public_dashboard_opens_from_its_share_link_without_a_login(
    site: TestClient, demo: tuple[uuid.UUID, str], api_settings: Settings
) -> None:
    dashboard_id, _ = demo
    token = share_token(api_settings, dashboard_id)
    page = site.get(f"/dashboards/{dashboard_id}?share={token}")
    assert page.status_code == 200
    assert "Shared view" in html(page)
    assert f"share={token}" in data_urls(page.text)[0]
    bad = site.get(f"/dashboards/{dashboard_id}?share=nope")
    assert bad.status_code == 403
    assert heading(html(bad)) == "Forbidden"
    assert site.get("/dashboards/not-a-uuid").status_code == 404


def test_index_lists_the_orgs_public_dashboards_and_the_viewers_own(
    site: TestClient, auth: Auth, org: str
) -> None:
    def make(owner: str, name: str, public: bool) -> None:
        body = {"name": name, "is_public": public}
        assert site.post("/v1/dashboards", json=body, headers=auth(owner)).status_code == 201

    make("alice", "Alice public", True)
    make("alice", "Alice private", False)
    make("bob", "Bob private", False)
    listed = html(site.get("/dashboards", headers=auth("bob", "viewer")))
    names = re.findall(r'<span class="name">(.*?)</span>', listed)
    assert sorted(names) == ["Alice public", "Bob private"]
    assert "Alice private" not in listed

    anonymous = site.get("/dashboards")
    assert anonymous.status_code == 401
    assert heading(html(anonymous)) == "Sign in required"


def test_login_handoff_checks_the_token_and_redirects_only_within_the_site(
    site: TestClient, api_settings: Settings, org: str
) -> None:
    token = issue_dev_token(api_settings, "alice", "analyst", org)
    with TestClient(site.app) as browser:
        outside = browser.post(
            "/dashboards/session",
            data={"token": token, "next": "//evil.example/x"},
            follow_redirects=False,
        )
        assert outside.status_code == 303
        assert outside.headers["location"] == "/dashboards"
        assert browser.get("/dashboards").status_code == 200  # the cookie signs in
        out = browser.post("/dashboards/logout", follow_redirects=False)
        assert out.headers["location"] == "/dashboards/login"
        assert browser.get("/dashboards").status_code == 401

    refused = site.post("/dashboards/session", data={"token": "not-a-jwt"})
    assert refused.status_code == 401
    assert "malformed bearer token" in html(refused)
    assert "set-cookie" not in refused.headers


def test_missing_charting_library_is_a_clear_banner_not_a_blank_chart(
    site: TestClient,
    auth: Auth,
    demo: tuple[uuid.UUID, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    missing = tmp_path / "vendor" / "echarts.min.js"
    monkeypatch.setattr(pages, "CHART_LIBRARY", missing)
    page = html(site.get(f"/dashboards/{demo[0]}", headers=auth("alice")))
    assert 'id="library-problem"' in page
    assert f"The charting library is not installed ({missing} is missing)" in page
    assert "make install" in page
    assert 'echarts.min.js"></script>' not in page
    assert any("charting library is not installed" in r.getMessage() for r in caplog.records)


def test_the_installed_charting_library_is_served_gzipped_and_cacheable(
    site: TestClient,
) -> None:
    response = site.get(
        "/dashboards/static/vendor/echarts.min.js", headers={"Accept-Encoding": "gzip"}
    )
    assert response.status_code == 200, "run make install: the npm step copies ECharts"
    assert len(response.content) > 500_000  # decoded by the client
    assert response.headers["content-encoding"] == "gzip"
    assert response.num_bytes_downloaded < len(response.content) / 2  # bytes on the wire
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert pages.library_version() is not None
    assert site.get("/dashboards/static/dashboard.js").status_code == 200


def test_demo_dashboard_is_rewritten_not_duplicated_when_the_demo_runs_again(
    site: TestClient, auth: Auth, org: str
) -> None:
    first, _ = create_course_overview_dashboard(
        site.app.state.settings, org_id=org, created_by="alice", sessions=site.app.state.sessions
    )
    second, url = create_course_overview_dashboard(
        site.app.state.settings, org_id=org, created_by="alice", sessions=site.app.state.sessions
    )
    assert first != second and url.endswith(f"/dashboards/{second}?share=" + url.split("=")[-1])
    listed = site.get("/v1/dashboards", headers=auth("alice")).json()
    assert [d["id"] for d in listed["items"]] == [str(second)]
    reports = site.get("/v1/reports", headers=auth("alice")).json()["items"]
    assert sorted(r["name"] for r in reports) == ["Completion by course", "Quiz pass rates"]
    assert site.get(f"/dashboards/{first}", headers=auth("alice")).status_code == 404
