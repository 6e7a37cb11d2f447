"""`lms-analytics dagster` as a child process of a test, on a stack's settings."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from lms_analytics.settings import Settings
from lms_analytics.stack.environment import child_environment


@contextlib.contextmanager
def dagster_command(settings: Settings, port: int, log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "lms_analytics", "dagster", "--port", str(port)],
            env=child_environment(settings),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)


def wait_for_ui(process: subprocess.Popen, log: Path, timeout: float = 240) -> float:
    """Seconds until the command says the UI is up; fails with its output if it dies first."""
    started = time.monotonic()
    while "Dagster UI:" not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() - started < timeout, log.read_text()
        time.sleep(0.5)
    return time.monotonic() - started
