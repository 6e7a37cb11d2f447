from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import clickhouse_connect
import httpx
import pytest

from lms_analytics.settings import Settings


@pytest.fixture(scope="session")
def gateway_url(local_stack: Settings) -> str:
    return local_stack.clickhouse_http_url


@pytest.fixture(scope="session")
def new_client(local_stack: Settings) -> Callable[..., object]:
    """Make a clickhouse-connect client of the stack's gateway (extra kwargs pass through)."""

    def make(**kwargs):
        return clickhouse_connect.get_client(**{**local_stack.clickhouse_client_kwargs(), **kwargs})

    return make


@pytest.fixture()
def http(gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url, timeout=60) as client:
        yield client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def protected_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A gateway of its own that requires a password: (url, user, password)."""
    port = _free_port()
    data = tmp_path_factory.mktemp("protected-gateway")
    env = {
        **os.environ,
        "LMS_ANALYTICS_CLICKHOUSE_USER": "analyst",
        "LMS_ANALYTICS_CLICKHOUSE_PASSWORD": "s3cret",
    }
    log_path = Path(data) / "gateway.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lms_analytics",
                "clickhouse-gateway",
                "--data",
                str(data / "clickhouse"),
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/ping", timeout=1).text == "Ok.\n":
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"protected gateway did not start: {log_path.read_text()}")
        time.sleep(0.1)
    yield url, "analyst", "s3cret"
    process.terminate()
    process.wait(timeout=30)
