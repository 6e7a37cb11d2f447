"""The local stack with real processes: up, status, down, restarts, errors and the CLI.

Most tests reuse the session stack (`local_stack`); the ones that need a failing or external
stack make their own home with `settings_factory` and never disturb the session's.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from lms_analytics.errors import StackError
from lms_analytics.settings import Settings
from lms_analytics.stack.environment import child_environment
from lms_analytics.stack.kafka import Kafka
from lms_analytics.stack.manager import StackManager, State, UpAction
from lms_analytics.stack.process import (
    Liveness,
    ProcessRecord,
    RecordStore,
    StopOutcome,
    liveness,
)
from lms_analytics.stack.service import Launch, Service

SERVICES = ["postgres", "kafka", "clickhouse", "smtp", "api"]


def _statuses(settings: Settings) -> dict[str, dict]:
    return {status.service: status.to_dict() for status in StackManager(settings).status()}


def _running_pids(settings: Settings) -> dict[str, int]:
    statuses = _statuses(settings)
    assert all(statuses[name]["state"] == "running" for name in SERVICES), statuses
    return {name: statuses[name]["pid"] for name in SERVICES}


def _external_settings(local_stack: Settings, settings_factory, **overrides) -> Settings:
    """Another home whose Kafka and ClickHouse are the session stack's (external)."""
    values = {
        "kafka_bootstrap_servers": local_stack.kafka_bootstrap,
        "clickhouse_url": local_stack.clickhouse_http_url,
        "smtp_host": "mail.example.invalid",  # not loopback: the SMTP sink is external
        "public_base_url": "https://reports.example.invalid",  # the API is deployed elsewhere
    }
    values.update(overrides)
    return settings_factory(**values)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def _topics(bootstrap: str) -> set[str]:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        return set(admin.list_topics(timeout=10).topics)
    finally:
        del admin


def _create_topic(bootstrap: str, topic: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        for future in admin.create_topics([NewTopic(topic, num_partitions=1)]).values():
            future.result(timeout=10)
    finally:
        del admin


def _run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lms_analytics", "stack", *args],
        env=child_environment(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- the session stack ---------------------------------------------------------------------


def test_up_runs_every_service_healthy_with_a_run_record_and_log(local_stack: Settings) -> None:
    statuses = _statuses(local_stack)
    assert [statuses[name]["state"] for name in SERVICES] == ["running"] * len(SERVICES)
    assert all(statuses[name]["healthy"] for name in SERVICES)
    assert statuses["postgres"]["endpoint"] == local_stack.postgres_dsn
    assert statuses["kafka"]["endpoint"] == local_stack.kafka_bootstrap
    assert statuses["clickhouse"]["endpoint"] == local_stack.clickhouse_http_url
    for name in SERVICES:
        record = json.loads((local_stack.run_dir / f"{name}.json").read_text())
        process = psutil.Process(record["pid"])
        assert process.create_time() == pytest.approx(record["create_time"], abs=0.05)
        assert process.cmdline()[0] == record["command"][0]
        assert record["log_path"] == str(local_stack.log_dir / f"{name}.log")
        assert Path(record["log_path"]).stat().st_size > 0


def test_up_creates_the_application_and_dagster_databases(pg_conn) -> None:
    names = {row[0] for row in pg_conn.execute("SELECT datname FROM pg_database")}
    assert {"lms_analytics", "dagster"} <= names


def test_up_twice_is_harmless_and_keeps_the_same_processes(local_stack: Settings) -> None:
    before = _running_pids(local_stack)

    results = StackManager(local_stack).up()

    assert [result.action for result in results] == [UpAction.ALREADY_RUNNING] * len(SERVICES)
    assert {result.service: result.pid for result in results} == before
    assert _running_pids(local_stack) == before


def test_down_then_up_keeps_postgres_and_clickhouse_data_and_loses_kafka_topics(
    local_stack: Settings,
) -> None:
    import clickhouse_connect
    import psycopg

    manager = StackManager(local_stack)
    table = f"stack_probe_{uuid.uuid4().hex[:8]}"
    topic = f"stack-probe-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(local_stack.postgres_dsn, autocommit=True) as connection:
        connection.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text)")
        connection.execute(f"INSERT INTO {table} VALUES (1, 'ada'), (2, 'grace')")
    client = clickhouse_connect.get_client(**local_stack.clickhouse_client_kwargs())
    client.command(f"CREATE TABLE {table} (id UInt32, name String) ENGINE = MergeTree ORDER BY id")
    client.insert(table, [[1, "ada"], [2, "grace"], [3, "linus"]], column_names=["id", "name"])
    client.close()
    _create_topic(local_stack.kafka_bootstrap, topic)
    store = RecordStore(local_stack.run_dir)
    old_records = [store.load(name) for name in SERVICES]

    stopped = manager.down()

    assert {result.service: result.outcome for result in stopped} == {
        name: StopOutcome.STOPPED for name in SERVICES
    }
    assert all(
        liveness(record.pid, record.create_time) is Liveness.DEAD
        for record in old_records
        if record is not None
    )
    assert {s["state"] for s in _statuses(local_stack).values()} == {"stopped"}
    assert store.services() == []

    started = manager.up()

    assert [result.action for result in started] == [UpAction.STARTED] * len(SERVICES)
    with psycopg.connect(local_stack.postgres_dsn) as connection:
        rows = connection.execute(f"SELECT id, name FROM {table} ORDER BY id").fetchall()
    assert rows == [(1, "ada"), (2, "grace")]
    client = clickhouse_connect.get_client(**local_stack.clickhouse_client_kwargs())
    try:
        result = client.query(f"SELECT id, name FROM {table} ORDER BY id").result_rows
    finally:
        client.close()
    assert result == [(1, "ada"), (2, "grace"), (3, "linus")]
    assert topic not in _topics(local_stack.kafka_bootstrap)  # the broker is memory-only


# --- errors, external servers, foreign processes -------------------------------------------


def test_taken_port_fails_before_starting_anything_naming_port_and_variable(
    local_stack: Settings, settings_factory, taken_port: int
) -> None:
    settings = _external_settings(local_stack, settings_factory, postgres_port=taken_port)

    with pytest.raises(StackError) as failure:
        StackManager(settings).up()

    assert failure.value.service == "postgres"
    message = str(failure.value)
    assert f"port {taken_port}" in message
    assert "LMS_ANALYTICS_POSTGRES_PORT" in message
    assert RecordStore(settings.run_dir).services() == []
    assert not (settings.data_dir / "postgres" / "PG_VERSION").exists()


def test_external_settings_start_nothing_and_status_says_external(
    local_stack: Settings, settings_factory
) -> None:
    session_pids = _running_pids(local_stack)
    settings = _external_settings(
        local_stack, settings_factory, postgres_url=local_stack.postgres_dsn
    )
    manager = StackManager(settings)

    results = manager.up()

    assert [result.action for result in results] == [UpAction.EXTERNAL] * len(SERVICES)
    assert all(result.pid is None for result in results)
    statuses = _statuses(settings)
    assert {name: statuses[name]["state"] for name in SERVICES} == dict.fromkeys(
        SERVICES, "external"
    )
    assert statuses["postgres"]["endpoint"] == local_stack.postgres_dsn
    assert RecordStore(settings.run_dir).services() == []
    assert manager.down() == []
    assert _running_pids(local_stack) == session_pids


def test_down_leaves_alone_a_foreign_process_behind_a_recorded_pid(settings_factory) -> None:
    settings = settings_factory()
    foreign = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store = RecordStore(settings.run_dir)
        store.save(
            ProcessRecord(
                service="kafka",
                pid=foreign.pid,
                # what a reused pid looks like: same number, another process start
                create_time=psutil.Process(foreign.pid).create_time() - 1000,
                command=["tansu"],
                log_path=str(settings.log_dir / "kafka.log"),
                port=settings.kafka_port,
            )
        )

        results = StackManager(settings).down()

        assert [(r.service, r.outcome) for r in results] == [("kafka", StopOutcome.FOREIGN)]
        assert foreign.poll() is None
        assert store.services() == []
    finally:
        foreign.kill()
        foreign.wait()


def test_postgres_data_folder_held_by_another_server_is_reported(
    local_stack: Settings, settings_factory
) -> None:
    settings = _external_settings(local_stack, settings_factory)
    other_postmaster = _running_pids(local_stack)["postgres"]
    data = settings.data_dir / "postgres"
    data.mkdir(parents=True)
    (data / "postmaster.pid").write_text(f"{other_postmaster}\n{data}\n")

    with pytest.raises(StackError) as failure:
        StackManager(settings).up()

    assert failure.value.service == "postgres"
    assert f"pid {other_postmaster}" in str(failure.value)
    assert "in use by another PostgreSQL server" in str(failure.value)
    assert RecordStore(settings.run_dir).services() == []
    assert _running_pids(local_stack)["postgres"] == other_postmaster


class _CrashingService(Service):
    name = "crasher"
    port_variable = "LMS_ANALYTICS_CRASHER_PORT"
    url_variable = "LMS_ANALYTICS_CRASHER_URL"

    @property
    def is_external(self) -> bool:
        return False

    @property
    def port(self) -> int:
        return self.settings.smtp_port

    @property
    def endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def launch(self) -> Launch:
        script = "print('config line 1'); print('fatal: cannot open the data folder'); exit(3)"
        return Launch([sys.executable, "-c", script], self.default_cwd(), self.environment())

    def is_healthy(self, timeout: float) -> bool:
        return False


def test_crash_before_healthy_names_service_exit_code_and_log_tail(settings_factory) -> None:
    settings = settings_factory()
    manager = StackManager(settings, services=[_CrashingService(settings)])

    with pytest.raises(StackError) as failure:
        manager.up()

    assert failure.value.service == "crasher"
    assert "exited with code 3 before becoming healthy" in str(failure.value)
    assert "fatal: cannot open the data folder" in failure.value.log_tail
    assert manager.status()[0].state is State.CRASHED


class _PortStillClosingService(_CrashingService):
    """Exits with Tansu's AddrInUse error on its first run, serves on the second."""

    name = "flaky"

    def launch(self) -> Launch:
        attempts = self.data_path / "attempts"
        script = (
            "import pathlib, sys, time\n"
            f"attempts = pathlib.Path({str(attempts)!r})\n"
            "count = len(attempts.read_text()) if attempts.exists() else 0\n"
            "attempts.write_text('x' * (count + 1))\n"
            "if count == 0:\n"
            "    print('Error: Io(Os { code: 98, kind: AddrInUse })'); sys.exit(1)\n"
            "(attempts.parent / 'ready').touch(); time.sleep(60)\n"
        )
        return Launch([sys.executable, "-c", script], self.default_cwd(), self.environment())

    def is_healthy(self, timeout: float) -> bool:
        return (self.data_path / "ready").exists()

    retry_reason = Kafka.retry_reason


def test_exit_worth_retrying_is_started_again_until_healthy(settings_factory) -> None:
    settings = settings_factory()
    manager = StackManager(settings, services=[_PortStillClosingService(settings)])
    try:
        [result] = manager.up()

        assert result.action is UpAction.STARTED
        assert (settings.data_dir / "flaky" / "attempts").read_text() == "xx"
        assert manager.status()[0].state is State.RUNNING
    finally:
        manager.down()


def test_clickhouse_data_folder_held_by_another_gateway_is_reported_with_its_log(
    local_stack: Settings, settings_factory
) -> None:
    from lms_analytics.clickhouse_gateway.cli import hold_data_folder

    settings = _external_settings(
        local_stack,
        settings_factory,
        clickhouse_url=None,
        postgres_url=local_stack.postgres_dsn,
    )
    lock = hold_data_folder(settings.data_dir / "clickhouse")  # as a live gateway would
    try:
        with pytest.raises(StackError) as failure:
            StackManager(settings).up()
    finally:
        os.close(lock)

    assert failure.value.service == "clickhouse"
    assert "before becoming healthy" in str(failure.value)
    assert f"held by another gateway (pid {os.getpid()})" in failure.value.log_tail


# --- the CLI -------------------------------------------------------------------------------


def test_cli_status_json_is_machine_readable(local_stack: Settings) -> None:
    pids = _running_pids(local_stack)

    completed = _run_cli(local_stack, "status", "--json")

    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert document["home"] == str(local_stack.home)
    services = document["services"]
    assert {name: services[name]["state"] for name in SERVICES} == dict.fromkeys(
        SERVICES, "running"
    )
    assert {name: services[name]["pid"] for name in SERVICES} == pids
    assert services["kafka"]["persistent"] is False
    assert services["clickhouse"]["endpoint"] == local_stack.clickhouse_http_url


def test_cli_up_error_is_one_line_on_stderr_without_traceback(
    local_stack: Settings, settings_factory, taken_port: int
) -> None:
    settings = _external_settings(local_stack, settings_factory, postgres_port=taken_port)

    completed = _run_cli(settings, "up")

    assert completed.returncode != 0
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert "postgres" in lines[0]
    assert f"port {taken_port}" in lines[0]
    assert "LMS_ANALYTICS_POSTGRES_PORT" in lines[0]
    assert "Traceback" not in completed.stderr


def test_cli_logs_prints_the_end_of_a_service_log(local_stack: Settings) -> None:
    completed = _run_cli(local_stack, "logs", "kafka", "--lines", "4")

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == 4
    assert f"listening on: tcp://127.0.0.1:{local_stack.kafka_port}" in completed.stdout
