"""The README's main command: `lms-analytics demo` on the local stack."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from lms_analytics.health import HealthCheckFailed, check_kafka, check_postgres
from lms_analytics.settings import Settings


def test_demo_brings_the_stack_up_and_round_trips_through_every_server(local_stack: Settings):
    # The session's LMS_ANALYTICS_* environment points at the test stack (tests/conftest.py).
    completed = subprocess.run(
        [sys.executable, "-m", "lms_analytics", "demo"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    output = " ".join(completed.stdout.split())
    assert "already running" in output
    assert f"database {local_stack.postgres_database}" in output
    assert "produced and consumed a message" in output
    assert "counted 142,858 rows" in output
    assert "report metadata schema migrated" in output
    # A month of a small school: every raw table gets rows, bad messages get reasons.
    for table in ("raw.user_enrolled", "raw.quiz_completed", "raw.page_view", "raw.user_activity"):
        assert table in output
    assert "Rejected into raw.ingestion_errors" in output
    assert "invalid_json" in output
    # Sample reports saved through the stack's API, one run now and mailed to the sink.
    assert "Weekly course report" in output and "Daily learner engagement" in output
    ran = re.search(r"execution (\S+) completed", output)
    assert ran, output[-3000:]
    [mail] = re.findall(r"mail: (\S+\.eml)", output)
    message = Path(mail).read_text()
    assert f"X-LMS-Report-Execution: {ran.group(1)}" in message
    assert "dean@demo-school.example" in message and "application/pdf" in message
    assert re.search(r"export TOKEN=\S+\.\S+\.\S+", output)
    # The dashboard's share link opens on the stack's API without a login.
    [url] = re.findall(r"Course overview dashboard \(public share link\): (\S+)", output)
    page = httpx.get(url, timeout=30)
    assert page.status_code == 200 and "Course overview" in page.text


def test_kafka_check_reads_back_its_own_message(local_stack: Settings):
    result = check_kafka(local_stack)
    assert result.service == "kafka"
    assert "produced and consumed" in result.detail


def test_health_check_failure_names_the_service(settings_factory):
    unreachable = settings_factory(postgres_url="postgresql://postgres@127.0.0.1:1/nothing")
    with pytest.raises(HealthCheckFailed, match=r"^postgres: health check failed"):
        check_postgres(unreachable)
