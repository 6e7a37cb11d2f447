"""Optional HTTP authentication of the gateway."""

from __future__ import annotations

import base64

import clickhouse_connect
import httpx
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError


def test_request_without_credentials_is_refused_with_401(protected_gateway):
    url, _, _ = protected_gateway
    response = httpx.post(url, content=b"SELECT 1")
    assert response.status_code == 401
    assert response.headers["X-ClickHouse-Exception-Code"] == "516"


def test_wrong_password_is_refused(protected_gateway):
    url, user, _ = protected_gateway
    response = httpx.post(url, content=b"SELECT 1", auth=(user, "wrong"))
    assert response.status_code == 401


def test_basic_auth_and_clickhouse_headers_are_accepted(protected_gateway):
    url, user, password = protected_gateway
    assert httpx.post(url, content=b"SELECT 1", auth=(user, password)).text == "1\n"
    headers = {"X-ClickHouse-User": user, "X-ClickHouse-Key": password}
    assert httpx.post(url, content=b"SELECT 2", headers=headers).text == "2\n"
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert (
        httpx.post(url, content=b"SELECT 3", headers={"Authorization": f"Basic {token}"}).text
        == "3\n"
    )


def test_ping_needs_no_credentials(protected_gateway):
    url, _, _ = protected_gateway
    assert httpx.get(f"{url}/ping").text == "Ok.\n"


def test_clickhouse_connect_logs_in_with_the_configured_password(protected_gateway):
    url, user, password = protected_gateway
    port = int(url.rsplit(":", 1)[1])
    client = clickhouse_connect.get_client(
        host="127.0.0.1", port=port, username=user, password=password
    )
    assert client.command("SELECT 42") == 42
    with pytest.raises(DatabaseError):
        clickhouse_connect.get_client(host="127.0.0.1", port=port, username=user, password="nope")
