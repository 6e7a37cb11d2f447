"""Report service fixtures: fresh PostgreSQL databases on the session stack, the API, tokens.

Each database is created for the tests that use it (`fresh_database`) and dropped at the end,
so migrations always start from an empty schema and the stack's own database is never touched.
API tests share one migrated database; each test works in organisations of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from mart_fixtures import create_marts, drop_marts
from psycopg import sql
from rs_helpers import (
    SECRET,
    SERVICE_KEY,
    SERVICE_VIEWER_KEY,
    Headers,
    report_body,
    scratch_marts,
    settings_for,
)

from lms_analytics.settings import Settings
from report_service.api.app import create_app
from report_service.auth import issue_dev_token
from report_service.db.migrate import upgrade
from report_service.domain import Role


@pytest.fixture(scope="session")
def fresh_database(local_stack: Settings) -> Iterator[Callable[[str], Settings]]:
    """Makes an empty database on the stack's server; returns Settings pointing at it."""
    created: list[str] = []
    admin_dsn = local_stack.postgres_dsn

    def make(purpose: str) -> Settings:
        name = f"rs_{purpose}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin_dsn, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        url = f"postgresql://postgres@{local_stack.bind_host}:{local_stack.postgres_port}/{name}"
        return settings_for(
            local_stack,
            postgres_url=url,
            jwt_hs256_secret=SECRET,
            api_keys={SERVICE_KEY: "analyst:org-service", SERVICE_VIEWER_KEY: "viewer:org-a"},
        )

    yield make
    with psycopg.connect(admin_dsn, autocommit=True) as connection:
        for name in created:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="module")
def marts(local_stack: Settings) -> Iterator[str]:
    """The hand-written marts of `mart_fixtures` in a scratch ClickHouse database."""
    with scratch_marts(local_stack, create_marts, drop_marts) as database:
        yield database


@pytest.fixture(scope="session")
def api_settings(fresh_database: Callable[[str], Settings]) -> Settings:
    """A migrated database for the API tests."""
    settings = fresh_database("api")
    upgrade(settings)
    return settings


@pytest.fixture(scope="session")
def client(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as test_client:
        yield test_client


@pytest.fixture
def db(api_settings: Settings) -> Iterator[psycopg.Connection]:
    """A direct connection to the API's database, to look at rows behind the API."""
    with psycopg.connect(api_settings.postgres_dsn, autocommit=True) as connection:
        yield connection


@pytest.fixture
def org() -> str:
    """An organisation of this test's own: lists and totals see only this test's rows."""
    return f"org-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def auth(api_settings: Settings, org: str) -> Callable[..., Headers]:
    """`auth("alice", "analyst")`: headers with a token of that user in the test's org."""

    def headers(sub: str, role: Role | str = Role.ANALYST, org_id: str | None = None) -> Headers:
        token = issue_dev_token(api_settings, sub, role, org_id or org)
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture
def make_report(client: TestClient, auth: Callable[..., Headers]) -> Callable[..., dict[str, Any]]:
    """Create a report through the API as `sub` (default alice, analyst); returns its body."""

    def make(sub: str = "alice", role: Role | str = Role.ANALYST, **overrides: Any) -> Any:
        response = client.post(
            "/v1/reports", json=report_body(**overrides), headers=auth(sub, role)
        )
        assert response.status_code == 201, response.text
        return response.json()

    return make


@pytest.fixture
def make_dashboard(
    client: TestClient, auth: Callable[..., Headers]
) -> Callable[..., dict[str, Any]]:
    def make(sub: str = "alice", *, is_public: bool = False, **overrides: Any) -> Any:
        body = {"name": "Teaching", "is_public": is_public, **overrides}
        response = client.post("/v1/dashboards", json=body, headers=auth(sub))
        assert response.status_code == 201, response.text
        return response.json()

    return make
