"""`up`, `down`, `status` and `logs` over the stack's services.

`up` checks everything it can before starting anything (binaries, data folders, ports), then
starts the services concurrently, one thread each, and waits until each answers its health
check. A service already running is confirmed healthy and left alone; an external one (its URL
setting is set) is not touched. `down` stops exactly the processes whose run records this stack
wrote, and only while the recorded pid still belongs to the recorded process.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from subprocess import Popen
from typing import Any

from lms_analytics.errors import StackError
from lms_analytics.settings import Settings
from lms_analytics.stack.api import ReportApi
from lms_analytics.stack.clickhouse import ClickHouse
from lms_analytics.stack.kafka import Kafka
from lms_analytics.stack.ports import port_holder, port_is_free
from lms_analytics.stack.postgres import Postgres
from lms_analytics.stack.process import (
    Liveness,
    ProcessRecord,
    RecordStore,
    StopOutcome,
    liveness,
    log_size,
    spawn_detached,
    stop_process,
    tail_lines,
)
from lms_analytics.stack.service import Service
from lms_analytics.stack.smtp import SmtpSink

log = logging.getLogger(__name__)

CRASH_LOG_LINES = 15
RETRY_PAUSE_SECONDS = 1.0
# (service name, what is happening): lets the CLI show progress without the manager printing.
Progress = Callable[[str, str], None]


def default_services(settings: Settings) -> list[Service]:
    return [
        Postgres(settings),
        Kafka(settings),
        ClickHouse(settings),
        SmtpSink(settings),
        ReportApi(settings),
    ]


class UpAction(StrEnum):
    STARTED = "started"
    ALREADY_RUNNING = "already running"
    EXTERNAL = "external"


@dataclass(frozen=True)
class UpResult:
    service: str
    action: UpAction
    endpoint: str
    pid: int | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class DownResult:
    service: str
    outcome: StopOutcome
    pid: int
    seconds: float


class State(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    EXTERNAL = "external"
    CRASHED = "crashed"  # recorded as started, no longer running, never stopped by `down`


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    state: State
    endpoint: str
    persistent: bool
    pid: int | None = None
    port: int | None = None
    healthy: bool | None = None
    started_at: str | None = None
    log_path: str | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "healthy": self.healthy,
            "pid": self.pid,
            "port": self.port,
            "endpoint": self.endpoint,
            "started_at": self.started_at,
            "log": self.log_path,
            "persistent": self.persistent,
            "note": self.note,
        }


def _ignore_progress(service: str, message: str) -> None:
    return None


class StackManager:
    def __init__(self, settings: Settings, services: Sequence[Service] | None = None) -> None:
        self.settings = settings
        self.services = list(services) if services is not None else default_services(settings)
        self.records = RecordStore(settings.run_dir)

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        known = ", ".join(service.name for service in self.services)
        raise StackError(name, "is not a service of the local stack", f"Use one of: {known}.")

    # --- up ------------------------------------------------------------------------------

    def up(self, progress: Progress = _ignore_progress) -> list[UpResult]:
        """Start every local service that is not running; return what happened to each."""
        with self._lock():
            results: dict[str, UpResult] = {}
            running: list[tuple[Service, ProcessRecord]] = []
            to_start: list[Service] = []
            for service in self.services:
                if service.is_external:
                    results[service.name] = UpResult(
                        service.name, UpAction.EXTERNAL, service.endpoint
                    )
                    continue
                record = self._live_record(service.name)
                if record is None:
                    to_start.append(service)
                else:
                    running.append((service, record))
            # Everything that can be checked up front is, before anything starts: a wrong
            # port or a missing binary must not leave half a stack behind.
            self._check_ports_distinct([service for service, _ in running] + to_start)
            for service in to_start:
                service.check_can_start()
                self._check_port(service)
            futures: dict[str, Future[UpResult]] = {}
            with ThreadPoolExecutor(max_workers=max(1, len(self.services))) as pool:
                for service, record in running:
                    futures[service.name] = pool.submit(self._confirm, service, record, progress)
                for service in to_start:
                    futures[service.name] = pool.submit(self._start, service, progress)
            errors: list[StackError] = []
            for service in self.services:
                future = futures.get(service.name)
                if future is None:
                    continue
                try:
                    results[service.name] = future.result()
                except StackError as error:
                    errors.append(error)
                except Exception as error:  # an unexpected failure still gets one clear line
                    log.debug("%s failed to start", service.name, exc_info=True)
                    errors.append(
                        StackError(
                            service.name,
                            f"failed to start: {type(error).__name__}: {error}",
                            f"See {service.log_path}; run with --verbose for details.",
                        )
                    )
            if errors:
                for other in errors[1:]:
                    log.error("%s", other)
                raise errors[0]
            return [results[service.name] for service in self.services]

    def _live_record(self, name: str) -> ProcessRecord | None:
        """The run record of a running process of ours; stale records are cleared."""
        record = self.records.load(name)
        if record is None:
            return None
        state = liveness(record.pid, record.create_time)
        if state is Liveness.ALIVE:
            return record
        if state is Liveness.DEAD:
            log.warning(
                "%s (pid %d) had stopped without `stack down`; starting it again", name, record.pid
            )
        self.records.remove(name)
        return None

    def _check_ports_distinct(self, services: Sequence[Service]) -> None:
        seen: dict[int, Service] = {}
        for service in services:
            other = seen.setdefault(service.port, service)
            if other is not service:
                raise StackError(
                    service.name,
                    f"port {service.port} is also configured for {other.name}",
                    f"Give each service its own port ({service.port_variable}, "
                    f"{other.port_variable}).",
                )

    def _check_port(self, service: Service) -> None:
        host = self.settings.bind_host
        if port_is_free(host, service.port):
            return
        holder = port_holder(service.port)
        held_by = f" by {holder}" if holder else ""
        raise StackError(
            service.name,
            f"port {service.port} on {host} is already in use{held_by}",
            f"Stop that program, or choose another port with {service.port_variable}=<port> "
            f"(or use an existing server with {service.url_variable}).",
        )

    def _confirm(self, service: Service, record: ProcessRecord, progress: Progress) -> UpResult:
        progress(service.name, "already running, checking health")
        if record.port != service.port:
            raise StackError(
                service.name,
                f"is running (pid {record.pid}) on port {record.port}, but the settings now say "
                f"port {service.port}",
                "Stop it with `lms-analytics stack down`, then run `lms-analytics stack up`.",
            )
        started = time.monotonic()
        deadline = started + self.settings.startup_timeout_seconds
        while not service.is_healthy(timeout=self._probe_timeout(deadline)):
            if liveness(record.pid, record.create_time) is not Liveness.ALIVE:
                raise StackError(
                    service.name,
                    f"pid {record.pid} exited while being checked",
                    "Run `lms-analytics stack up` again; see "
                    f"`lms-analytics stack logs {service.name}`.",
                    self._crash_tail(service, record.log_offset),
                )
            if time.monotonic() >= deadline:
                raise StackError(
                    service.name,
                    f"is running (pid {record.pid}) but failed its health check for "
                    f"{self.settings.startup_timeout_seconds:.0f} s",
                    "Restart it with `lms-analytics stack down` and `lms-analytics stack up`.",
                    self._crash_tail(service, record.log_offset),
                )
            time.sleep(0.1)
        progress(service.name, "already running")
        return UpResult(
            service.name,
            UpAction.ALREADY_RUNNING,
            service.endpoint,
            record.pid,
            time.monotonic() - started,
        )

    def _start(self, service: Service, progress: Progress) -> UpResult:
        started = time.monotonic()
        deadline = started + self.settings.startup_timeout_seconds
        progress(service.name, "preparing")
        service.prepare()
        while True:
            progress(service.name, "starting")
            process, record = self._spawn(service)
            exit_code = self._wait_healthy(service, process, record, deadline)
            if exit_code is None:
                break
            tail = self._crash_tail(service, record.log_offset)
            reason = service.retry_reason(tail)
            if reason is not None and deadline - time.monotonic() > RETRY_PAUSE_SECONDS:
                log.info("%s exited (%s); starting it again", service.name, reason)
                progress(service.name, f"waiting: {reason}")
                time.sleep(RETRY_PAUSE_SECONDS)
                continue
            cause = f"exited with code {exit_code} before becoming healthy"
            if reason is not None:
                cause += f" ({reason}, for {self.settings.startup_timeout_seconds:.0f} s)"
                remedy = (
                    f"Wait a minute and run `lms-analytics stack up` again, or choose another "
                    f"port with {service.port_variable}=<port>."
                )
            else:
                remedy = (
                    f"Fix the cause shown in its log ({service.log_path}, "
                    f"`lms-analytics stack logs {service.name}`) and run `lms-analytics stack up`."
                )
            raise StackError(service.name, cause, remedy, tail)
        progress(service.name, "finishing setup")
        service.after_healthy()
        progress(service.name, "healthy")
        log.debug("%s healthy in %.2f s", service.name, time.monotonic() - started)
        return UpResult(
            service.name,
            UpAction.STARTED,
            service.endpoint,
            record.pid,
            time.monotonic() - started,
        )

    def _spawn(self, service: Service) -> tuple[Popen[bytes], ProcessRecord]:
        launch = service.launch()
        log_path = service.log_path
        header = (
            f"--- {datetime.now(UTC).isoformat(timespec='seconds')} lms-analytics stack: "
            f"{shlex.join(launch.command)}\n"
        )
        with open(log_path, "a", encoding="utf-8") as log_file:
            log_file.write(header)
        offset = log_size(log_path)
        try:
            process, create_time = spawn_detached(
                launch.command, log_path, env=launch.env, cwd=launch.cwd, user=launch.user
            )
        except OSError as error:
            raise StackError(
                service.name,
                f"could not run {launch.command[0]}: {error.strerror or error}",
                "Reinstall the dependencies with `make install`.",
            ) from error
        record = ProcessRecord(
            service=service.name,
            pid=process.pid,
            create_time=create_time,
            command=launch.command,
            log_path=str(log_path),
            port=service.port,
            log_offset=offset,
        )
        self.records.save(record)
        log.debug("%s started as pid %d: %s", service.name, process.pid, launch.command)
        return process, record

    def _wait_healthy(
        self, service: Service, process: Popen[bytes], record: ProcessRecord, deadline: float
    ) -> int | None:
        """None once healthy; the exit code if the process exits first. Raises on timeout."""
        while True:
            exit_code = process.poll()
            if exit_code is not None:
                return exit_code
            if time.monotonic() >= deadline:
                break
            if service.is_healthy(timeout=self._probe_timeout(deadline)):
                return None
            time.sleep(0.05)
        tail = self._crash_tail(service, record.log_offset)
        stop_process(record.pid, record.create_time, service.stop_signal, 5.0)
        self.records.remove(service.name)
        raise StackError(
            service.name,
            f"did not become healthy within {self.settings.startup_timeout_seconds:.0f} s "
            "(stopped it again)",
            f"See {service.log_path}; on a slow machine raise "
            "LMS_ANALYTICS_STARTUP_TIMEOUT_SECONDS.",
            tail,
        )

    @staticmethod
    def _probe_timeout(deadline: float) -> float:
        return min(2.0, max(0.2, deadline - time.monotonic()))

    @staticmethod
    def _crash_tail(service: Service, offset: int) -> str:
        lines = tail_lines(service.log_path, CRASH_LOG_LINES, offset)
        return ("\n" + "\n".join(lines)) if lines else ""

    # --- down ----------------------------------------------------------------------------

    def down(self, progress: Progress = _ignore_progress) -> list[DownResult]:
        """Stop every process this stack started (per its run records); nothing else."""
        with self._lock():
            known = {service.name: service for service in self.services}
            names = self.records.services()
            order = [name for name in known if name in names]
            order += [name for name in names if name not in known]
            futures: dict[str, Future[DownResult | None]] = {}
            with ThreadPoolExecutor(max_workers=max(1, len(order))) as pool:
                for name in order:
                    futures[name] = pool.submit(self._stop, name, known.get(name), progress)
            results = [futures[name].result() for name in order]
            return [result for result in results if result is not None]

    def _stop(self, name: str, service: Service | None, progress: Progress) -> DownResult | None:
        record = self.records.load(name)
        if record is None:
            self.records.remove(name)
            return None
        progress(name, "stopping")
        started = time.monotonic()
        stop_signal = service.stop_signal if service is not None else Service.stop_signal
        outcome = stop_process(
            record.pid, record.create_time, stop_signal, self.settings.shutdown_timeout_seconds
        )
        if outcome is StopOutcome.FOREIGN:
            log.warning(
                "%s: pid %d now belongs to another process; not signalled", name, record.pid
            )
        self.records.remove(name)
        progress(name, outcome.value)
        return DownResult(name, outcome, record.pid, time.monotonic() - started)

    # --- status and logs -----------------------------------------------------------------

    def status(self, probe: bool = True) -> list[ServiceStatus]:
        """Each service's state; `probe` adds a quick health check of the running ones."""
        return [self._status(service, probe) for service in self.services]

    def _status(self, service: Service, probe: bool) -> ServiceStatus:
        common: dict[str, Any] = {
            "service": service.name,
            "endpoint": service.endpoint,
            "persistent": service.persistent,
            "note": service.note,
        }
        if service.is_external:
            return ServiceStatus(state=State.EXTERNAL, **common)
        record = self.records.load(service.name)
        if record is None:
            return ServiceStatus(
                state=State.STOPPED,
                port=service.port,
                log_path=self._log_if_any(service),
                **common,
            )
        state = liveness(record.pid, record.create_time)
        if state is not Liveness.ALIVE:
            return ServiceStatus(
                state=State.CRASHED,
                port=record.port,
                log_path=record.log_path,
                started_at=record.started_at,
                **common,
            )
        return ServiceStatus(
            state=State.RUNNING,
            pid=record.pid,
            port=record.port,
            healthy=service.is_healthy(timeout=1.0) if probe else None,
            started_at=record.started_at,
            log_path=record.log_path,
            **common,
        )

    @staticmethod
    def _log_if_any(service: Service) -> str | None:
        return str(service.log_path) if service.log_path.exists() else None

    def log_tail(self, name: str, lines: int) -> list[str]:
        service = self.service(name)
        if not service.log_path.exists():
            raise StackError(
                name,
                f"has no log yet ({service.log_path})",
                "Start the stack with `lms-analytics stack up`.",
            )
        return tail_lines(service.log_path, lines)

    # --- shared --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One `up` or `down` at a time per home folder."""
        for folder in (self.settings.run_dir, self.settings.log_dir, self.settings.data_dir):
            folder.mkdir(parents=True, exist_ok=True)
        lock_path: Path = self.settings.run_dir / ".lock"
        with open(lock_path, "a+b") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
