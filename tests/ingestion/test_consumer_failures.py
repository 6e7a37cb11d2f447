"""The consumer when things break: killed mid-stream, ClickHouse away for a while."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import clickhouse_connect
import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from event_samples import SAMPLES

from ingestion.consumer import IngestionConsumer, StopWhen
from ingestion.schema_migrations import migrate
from lms_analytics.stack.environment import child_environment

TOPIC = "tracking.user-activities"


def activities(start: int, stop: int) -> list:
    base, _ = SAMPLES[TOPIC]
    return [
        (TOPIC, "u-1", json.dumps({**base, "ID": f"act-{i}"}).encode(), None)
        for i in range(start, stop)
    ]


def counts(ch, settings) -> tuple[int, int, int]:
    """(rows, distinct event ids, rows after replacing merges) of this test's topic."""
    parameters = {"t": settings.kafka_topic(TOPIC)}
    rows, distinct = ch.query(
        "SELECT count(), uniqExact(event_id) FROM raw.user_activity WHERE kafka_topic = {t:String}",
        parameters=parameters,
    ).result_rows[0]
    final = ch.command(
        "SELECT count() FROM raw.user_activity FINAL WHERE kafka_topic = {t:String}",
        parameters=parameters,
    )
    return rows, distinct, final


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_kill_9_mid_stream_then_restart_leaves_every_event_exactly_once(
    ingest_settings, produce, ch, tmp_path
):
    total = 60_000
    migrate(ch)
    produce(activities(0, total))
    env = child_environment(ingest_settings)
    env["LMS_ANALYTICS_INGEST_BATCH_SIZE"] = "1000"
    command = [sys.executable, "-m", "lms_analytics", "ingest", "--until-idle", "3"]
    with (tmp_path / "first.log").open("wb") as log:
        first = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: counts(ch, ingest_settings)[0] > 0, 60, "the first batches")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    rows_at_kill = counts(ch, ingest_settings)[1]
    assert 0 < rows_at_kill < total, "the kill should land mid-stream"

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    rows, distinct, final = counts(ch, ingest_settings)
    assert distinct == total
    assert final == total
    assert rows >= total  # re-read rows may exist until merges fold them; staging dedupes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gateway:
    """A ClickHouse gateway of this test's own, to stop and start at will."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = (self.folder / "gateway.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lms_analytics",
                "clickhouse-gateway",
                "--data",
                str(self.folder / "data"),
                "--port",
                str(self.port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def up() -> bool:
            try:
                return httpx.get(f"{self.url}/ping", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 60, "the gateway")

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(30)


@pytest.fixture()
def own_gateway(tmp_path):
    gateway = Gateway(tmp_path)
    gateway.start()
    yield gateway
    if gateway.process and gateway.process.poll() is None:
        gateway.stop()


def committed_offset(settings) -> int:
    probe = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.consumer_group_id}
    )
    try:
        tp = TopicPartition(settings.kafka_topic(TOPIC), 0)
        return probe.committed([tp], timeout=10)[0].offset
    finally:
        probe.close()


def test_clickhouse_down_for_a_while_loses_and_doubles_nothing_and_commits_nothing_early(
    ingest_settings, produce, own_gateway
):
    settings = ingest_settings.model_copy(update={"clickhouse_url": own_gateway.url})
    ch = clickhouse_connect.get_client(host="127.0.0.1", port=own_gateway.port)
    migrate(ch)
    consumer = IngestionConsumer(settings, batch_seconds=0.2)
    result: dict[str, object] = {}
    worker = threading.Thread(target=lambda: result.update(stats=consumer.run(StopWhen())))
    worker.start()
    try:
        produce(activities(0, 100))
        wait_for(lambda: counts(ch, settings)[1] == 100, 60, "the first 100 events")
        wait_for(lambda: committed_offset(settings) == 100, 30, "the first commit")

        own_gateway.stop()
        produce(activities(100, 250))
        wait_for(lambda: consumer.stats.write_retries >= 2, 60, "write retries")
        assert committed_offset(settings) == 100  # nothing committed while ClickHouse is away

        own_gateway.start()
        wait_for(lambda: committed_offset(settings) == 250, 90, "the commit after recovery")
    finally:
        consumer.request_stop()
        worker.join(60)
    rows, distinct, final = counts(ch, settings)
    assert (rows, distinct, final) == (250, 250, 250)
    assert result["stats"].events["user_activity"] == 250
