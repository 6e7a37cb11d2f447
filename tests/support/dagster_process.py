"""`lms-analytics dagster` as a child process of a test, on a stack's settings."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

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
        if process.poll() is None:  # a failed test: stop it as Ctrl-C would, then for good
            family = psutil.Process(process.pid).children(recursive=True)
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)
            for child in family:  # webserver, daemon and code servers run in own sessions
                with contextlib.suppress(psutil.Error):
                    child.kill()


def wait_for_ui(process: subprocess.Popen, log: Path, timeout: float = 240) -> float:
    """Seconds until the command says the UI is up; fails with its output if it dies first."""
    started = time.monotonic()
    while "Dagster UI:" not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() - started < timeout, log.read_text()
        time.sleep(0.5)
    return time.monotonic() - started
