"""Every API route refuses missing and invalid credentials with a 401 and a JSON body."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from rs_helpers import SECRET

from report_service.api.app import PROTECTED_ROUTERS

ROUTES = sorted(
    (method, route.path)
    for router in PROTECTED_ROUTERS
    for route in router.routes
    if isinstance(route, APIRoute)
    for method in route.methods
)


def _expired_token() -> str:
    claims = {
        "sub": "alice",
        "role": "admin",
        "org": "org-a",
        "exp": datetime.now(UTC) - timedelta(hours=1),
    }
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _forged_token() -> str:
    claims = {
        "sub": "alice",
        "role": "admin",
        "org": "org-a",
        "exp": datetime.now(UTC) + timedelta(hours=1),
    }
    return jwt.encode(claims, "a-guessed-secret-of-at-least-32-bytes", algorithm="HS256")


BAD_CREDENTIALS = {
    "missing": ({}, "missing credentials"),
    "basic-scheme": ({"Authorization": "Basic YWxpY2U6cGFzcw=="}, "missing credentials"),
    "garbage-token": ({"Authorization": "Bearer not-a-jwt"}, "malformed bearer token"),
    "expired-token": ({"Authorization": f"Bearer {_expired_token()}"}, "expired"),
    "forged-token": ({"Authorization": f"Bearer {_forged_token()}"}, "Signature verification"),
    "unknown-api-key": ({"X-API-Key": "guessed-key"}, "unknown API key"),
}


def test_the_route_list_covers_every_route_but_health_and_docs(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    served = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert served - set(ROUTES) == {("GET", "/health")}
    assert (
        len(ROUTES) == 21
    )  # reports 5, executions 2, runs 2, report types 2, dashboards 5, widgets 5


@pytest.mark.parametrize("credentials", list(BAD_CREDENTIALS), ids=list(BAD_CREDENTIALS))
@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_route_refuses_bad_credentials_with_401_json(
    client: TestClient, method: str, path: str, credentials: str
) -> None:
    headers, reason = BAD_CREDENTIALS[credentials]
    url = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)
    body = {} if method in ("POST", "PATCH") else None  # invalid too: auth is checked first
    response = client.request(method, url, headers=headers, json=body)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert reason in response.json()["detail"]


def test_health_and_docs_need_no_credentials(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert "/v1/reports/{report_id}/executions/{execution_id}" in schema["paths"]
