"""The dashboard page in a real browser (Playwright + Debian's chromium, headless): the demo's
Course overview dashboard renders every widget with its data, offline (no request leaves the
app's origin), without console errors; filters from the form reach the widgets; a private
dashboard without credentials shows the forbidden page. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_marts import ACTIVE_USERS_PER_DAY, COURSES, Served

from report_service.auth import issue_dev_token
from report_service.dashboards.demo import create_course_overview_dashboard
from report_service.db.models import Dashboard

READY = "() => Number(document.body.dataset.loaded || 0) >= 1"


@pytest.fixture
def demo(served: Served) -> tuple[Any, str]:
    return create_course_overview_dashboard(
        served.settings, org_id="school", created_by="alice", sessions=served.app.state.sessions
    )


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-US")
    page = context.new_page()
    page.console_errors = []  # type: ignore[attr-defined]
    page.on(
        "console",
        lambda message: message.type == "error" and page.console_errors.append(message.text),
    )
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    yield page
    context.close()


def widget(page: Any, title: str) -> Any:
    return page.locator("article.widget", has=page.locator("h2", has_text=title)).first


def svg_text(page: Any, title: str) -> str:
    return " ".join(widget(page, title).locator("svg text").all_text_contents())


def test_demo_dashboard_renders_every_widget_with_its_data(
    served: Served, demo: tuple[Any, str], page: Any, artifacts: Path
) -> None:
    _, url = demo
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    started = time.perf_counter()
    response = page.goto(url)
    page.wait_for_function(READY, timeout=30_000)
    load_seconds = time.perf_counter() - started
    shot = artifacts / "dashboard-course-overview.png"
    page.screenshot(path=str(shot), full_page=True)  # kept even when a check below fails
    assert response.status == 200

    widgets = page.locator("article.widget")
    assert widgets.count() == 9
    states = widgets.evaluate_all("nodes => nodes.map(n => [n.dataset.state, n.innerText])")
    assert all(state == "ready" for state, _ in states), states

    # every chart is an SVG with drawn marks and the expected labels
    for title in (
        "Enrolment funnel",
        "Completion by course",
        "Active users over time",
        "Revenue by course",
        "Quiz pass rates",
        "Active users, latest day",  # the sparkline
    ):
        assert widget(page, title).locator("svg path").count() > 0, title
    funnel = svg_text(page, "Enrolment funnel")
    assert all(stage in funnel for stage in ("Total", "Active", "Completed", "Dropped"))
    assert "125" in funnel
    completion = svg_text(page, "Completion by course")
    assert all(course[0] in completion for course in COURSES)
    assert "72%" in completion and "83%" in completion
    quizzes = svg_text(page, "Quiz pass rates")
    assert "quiz-algebra-1" in quizzes and "80%" in quizzes
    assert "Mar" in svg_text(page, "Active users over time")
    pie = svg_text(page, "Revenue by course")
    assert "algebra-101" in pie and "1,200.00" in pie

    assert widget(page, "Revenue").locator(".value").inner_text() == "3,710.00"
    assert widget(page, "Enrolments").locator(".value").inner_text() == "125"
    latest = widget(page, "Active users, latest day")
    assert latest.locator(".value").inner_text() == str(ACTIVE_USERS_PER_DAY[7])
    assert latest.locator(".change").inner_text().startswith("▲ 2 (+28.6%)")
    table = widget(page, "Courses at a glance").locator("table")
    assert table.locator("tbody tr").count() == len(COURSES)
    assert "Course ID" in table.locator("thead").inner_text()

    assert page.console_errors == []  # type: ignore[attr-defined]
    offsite = [
        u for u in requests if not u.startswith(served.base_url) and not u.startswith("data:")
    ]
    assert offsite == []
    assert any("/dashboards/static/vendor/echarts.min.js?v=" in u for u in requests)

    page.set_viewport_size({"width": 420, "height": 900})
    page.wait_for_timeout(300)
    narrow = artifacts / "dashboard-course-overview-narrow.png"
    page.screenshot(path=str(narrow), full_page=True)
    print(f"\ndashboard loaded in {load_seconds:.2f} s; screenshots: {shot} {narrow}")


def test_filters_from_the_form_reach_every_widget(demo: tuple[Any, str], page: Any) -> None:
    page.goto(demo[1])
    page.wait_for_function(READY, timeout=30_000)
    page.fill("input[name=course]", "algebra-101")
    page.fill("input[name=from]", "2024-03-01")
    page.fill("input[name=to]", "2024-03-31")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**course=algebra-101**")
    page.wait_for_function(READY, timeout=30_000)

    completion = svg_text(page, "Completion by course")
    assert "algebra-101" in completion and "biology-201" not in completion
    assert widget(page, "Revenue").locator(".value").inner_text() == "1,200.00"
    notes = widget(page, "Active users over time").locator(".widget-notes").inner_text()
    assert "Course filter not applied: activities data has no course_id field" in notes
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_private_dashboard_without_credentials_shows_the_forbidden_page(
    served: Served, demo: tuple[Any, str], page: Any, artifacts: Path
) -> None:
    dashboard_id, share_link = demo
    with served.app.state.sessions() as session, session.begin():
        session.get(Dashboard, dashboard_id).is_public = False

    response = page.goto(f"{served.base_url}/dashboards/{dashboard_id}")
    assert response.status == 401
    assert page.locator("h1").inner_text() == "Forbidden"
    assert "needs a sign-in" in page.locator(".detail").inner_text()
    assert page.locator("article.widget").count() == 0
    page.screenshot(path=str(artifacts / "dashboard-forbidden.png"))

    revoked = page.goto(share_link)  # the public link stops working once private
    assert revoked.status == 403
    assert "share link is not valid" in page.locator(".detail").inner_text()


def test_creator_signs_in_through_the_login_handoff_and_sees_the_private_dashboard(
    served: Served, demo: tuple[Any, str], page: Any, artifacts: Path
) -> None:
    dashboard_id, _ = demo
    with served.app.state.sessions() as session, session.begin():
        session.get(Dashboard, dashboard_id).is_public = False
    token = issue_dev_token(served.settings, "alice", "analyst", "school")

    page.goto(f"{served.base_url}/dashboards/login?next=/dashboards/{dashboard_id}")
    page.fill("textarea[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/dashboards/{dashboard_id}")
    page.wait_for_function(READY, timeout=30_000)
    assert page.locator("article.widget[data-state=ready]").count() == 9
    assert "alice (analyst, school)" in page.locator(".topbar").inner_text()

    page.goto(f"{served.base_url}/dashboards")
    assert "Course overview" in page.locator(".dashboard-list").inner_text()
    page.screenshot(path=str(artifacts / "dashboards-index.png"))
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_page_reloads_its_widgets_every_refresh_seconds(
    served: Served, demo: tuple[Any, str], page: Any
) -> None:
    import clickhouse_connect

    page.goto(demo[1] + "&refresh=10")
    page.wait_for_function(READY, timeout=30_000)
    revenue = widget(page, "Revenue").locator(".value")
    assert revenue.inner_text() == "3,710.00"
    assert "auto-refresh every 10 s" in page.locator(".refresh").inner_text()

    client = clickhouse_connect.get_client(**served.settings.clickhouse_client_kwargs())
    table = f"{served.marts}.course_analytics"
    try:
        client.command(f"ALTER TABLE {table} UPDATE revenue = revenue + 100 "
                       "WHERE course_id = 'algebra-101' SETTINGS mutations_sync = 2")  # fmt: skip
        served.app.state.widget_data_service.cache.clear()  # as if its TTL had passed
        page.wait_for_function("() => Number(document.body.dataset.loaded) >= 2", timeout=30_000)
        assert revenue.inner_text() == "3,810.00"
    finally:
        client.command(f"ALTER TABLE {table} UPDATE revenue = revenue - 100 "
                       "WHERE course_id = 'algebra-101' SETTINGS mutations_sync = 2")  # fmt: skip
        served.app.state.widget_data_service.cache.clear()
        client.close()
    assert page.console_errors == []  # type: ignore[attr-defined]
