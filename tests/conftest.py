"""Shared fixtures: one real local stack per test session, isolated from the user's own.

Every stack a test starts lives in a pytest temporary folder and listens on ports picked free
for it; the user's `.lms-analytics` folders and `LMS_ANALYTICS_*` variables are never used.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lms_analytics.settings import Settings
from lms_analytics.stack.environment import settings_environment
from lms_analytics.stack.manager import StackManager

ENV_PREFIX = "LMS_ANALYTICS_"
SettingsFactory = Callable[..., Settings]


def _free_ports(count: int) -> list[int]:
    """`count` distinct ports the kernel gave out as free (all held until all are picked)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def isolated_settings(home: Path, **overrides: Any) -> Settings:
    """Settings for a stack under `home` on free ports; `overrides` win."""
    postgres_port, kafka_port, clickhouse_port, smtp_port, dagster_port, api_port = _free_ports(6)
    values: dict[str, Any] = {
        "home": home,
        "bind_host": "127.0.0.1",
        "postgres_url": None,
        "postgres_port": postgres_port,
        "kafka_bootstrap_servers": None,
        "kafka_port": kafka_port,
        "clickhouse_url": None,
        "clickhouse_port": clickhouse_port,
        "smtp_port": smtp_port,
        "dagster_url": None,
        "dagster_port": dagster_port,  # a schedule change never reloads the user's own Dagster
        "api_port": api_port,
        "public_base_url": None,
    }
    values.update(overrides)
    with pytest.MonkeyPatch.context() as patch:  # nothing from the caller's environment
        for key in [key for key in os.environ if key.upper().startswith(ENV_PREFIX)]:
            patch.delenv(key)
        return Settings(**values)


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The session stack's settings: home in a temporary folder, free ports."""
    return isolated_settings(tmp_path_factory.mktemp("stack"))


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(stack_settings: Settings) -> Iterator[None]:
    """Replace the caller's LMS_ANALYTICS_* variables by the session stack's, for the session.

    Code under test that reads `get_settings()` then talks to the test stack, never to the
    user's own stack or home.
    """
    with pytest.MonkeyPatch.context() as patch:
        for key in [key for key in os.environ if key.upper().startswith(ENV_PREFIX)]:
            patch.delenv(key)
        for key, value in settings_environment(stack_settings).items():
            if value is not None:
                patch.setenv(key, value)
        yield


@pytest.fixture(scope="session")
def settings_factory(tmp_path_factory: pytest.TempPathFactory) -> SettingsFactory:
    """Makes Settings for an extra stack: its own temporary home and free ports."""

    def make(**overrides: Any) -> Settings:
        return isolated_settings(tmp_path_factory.mktemp("extra-stack"), **overrides)

    return make


@pytest.fixture(scope="session")
def local_stack(stack_settings: Settings) -> Iterator[Settings]:
    """PostgreSQL, the Kafka broker and the ClickHouse gateway, started once per session."""
    manager = StackManager(stack_settings)
    try:
        manager.up()
    except BaseException:
        manager.down()
        raise
    yield stack_settings
    manager.down()


@pytest.fixture
def pg_conn(local_stack: Settings) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(local_stack.postgres_dsn, autocommit=True) as connection:
        yield connection


@pytest.fixture
def clickhouse_client(local_stack: Settings) -> Iterator[Any]:
    import clickhouse_connect

    client = clickhouse_connect.get_client(**local_stack.clickhouse_client_kwargs())
    try:
        yield client
    finally:
        client.close()
