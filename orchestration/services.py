"""`lms-analytics dagster`: the Dagster webserver and daemon of a stack, as child processes.

Both load the code location of `workspace.yaml` with `DAGSTER_HOME=<home>/dagster` (instance
storage in the stack's PostgreSQL, see `dagster_instance`). The webserver listens on the
stack's bind host (loopback by default); the daemon runs schedules, sensors (dbt automation,
freshness checks), the run queue and freshness evaluation. Each runs in its own session, so
Ctrl-C reaches this process only, which then stops both: SIGINT (Dagster's clean shutdown,
which also stops the code servers they spawned), then SIGKILL for whatever is left of their
process groups after the shutdown timeout. Their output goes to `<home>/logs/dagster-*.log`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import psutil

from lms_analytics.errors import LmsAnalyticsError
from lms_analytics.settings import Settings
from lms_analytics.stack.environment import child_environment
from lms_analytics.stack.ports import port_holder, port_is_free
from lms_analytics.stack.process import tail_lines
from orchestration.dagster_instance import dagster_environment, write_dagster_yaml

log = logging.getLogger(__name__)

WORKSPACE_FILE = Path(__file__).resolve().parents[1] / "workspace.yaml"
LOG_TAIL_LINES = 15
LOCK_FILE = "lms-analytics-dagster.lock"
POLL_SECONDS = 0.5

LOCATIONS_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""


class DagsterServiceError(LmsAnalyticsError):
    """The Dagster webserver or daemon could not start, or stopped on its own."""


def _executable(name: str) -> str:
    """A console script of this Python's environment (no activated virtualenv needed)."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def _group_members(pgid: int) -> list[int]:
    """Live processes of a process group (zombies aside)."""
    members = []
    for process in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if process.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(process.pid) == pgid:
                members.append(process.pid)
    return members


def _signal_process(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_start: int

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self) -> str:
        return "\n".join(tail_lines(self.log_path, LOG_TAIL_LINES, self.log_start))


class DagsterServices:
    """Start, watch and stop `dagster-webserver` and `dagster-daemon` for a stack."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.port = port
        self.children: list[_Child] = []
        self._lock: IO[str] | None = None

    def _take_lock(self) -> None:
        """One daemon per instance: two would run every schedule twice."""
        home = write_dagster_yaml(self.settings)
        lock = open(home / LOCK_FILE, "a+")  # noqa: SIM115 (held until stop)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            lock.close()
            raise DagsterServiceError(
                f"Dagster already runs for the stack in {self.settings.home} ({holder}). Use that "
                "one, or stop it (Ctrl-C in its terminal) first."
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}, UI on {self.url}\n")
        lock.flush()
        self._lock = lock

    def fail_orphaned_runs(self) -> list[str]:
        """Mark runs left "started" by a previous session that died (kill -9, reboot) failed.

        With the lock held no other daemon of this instance runs, so a run still marked as
        starting or started that the daemon or the UI launched has lost its worker; left as it
        is, it would also keep the every-minute ingestion schedule waiting forever. Runs of
        `lms-analytics build` (tagged) run in their own process and are left alone.
        """
        import dagster as dg

        from orchestration.build import RUN_TAGS
        from orchestration.dagster_instance import stack_instance

        statuses = [
            dg.DagsterRunStatus.STARTING,
            dg.DagsterRunStatus.STARTED,
            dg.DagsterRunStatus.CANCELING,
        ]
        failed = []
        with stack_instance(self.settings) as instance:
            for run in instance.get_runs(filters=dg.RunsFilter(statuses=statuses)):
                if all(run.tags.get(key) == value for key, value in RUN_TAGS.items()):
                    continue
                instance.report_run_failed(
                    run,
                    "The Dagster session that ran it stopped without finishing it "
                    "(found by `lms-analytics dagster` at start).",
                )
                # Its pool slot (the dbt pool's only one) would otherwise stay claimed.
                instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
                failed.append(run.run_id)
        return failed

    @property
    def url(self) -> str:
        return f"http://{self.settings.bind_host}:{self.port}"

    def commands(self) -> dict[str, list[str]]:
        workspace = ["--workspace", str(WORKSPACE_FILE)]
        return {
            "dagster-webserver": [
                _executable("dagster-webserver"),
                *workspace,
                "--host",
                self.settings.bind_host,
                "--port",
                str(self.port),
            ],
            "dagster-daemon": [_executable("dagster-daemon"), "run", *workspace],
        }

    def start(self) -> None:
        self._take_lock()
        orphans = self.fail_orphaned_runs()
        if orphans:
            log.warning("marked %d orphaned run(s) failed: %s", len(orphans), ", ".join(orphans))
        if not port_is_free(self.settings.bind_host, self.port):
            holder = port_holder(self.port)
            raise DagsterServiceError(
                f"dagster-webserver: port {self.port} on {self.settings.bind_host} is already in "
                f"use{f' by {holder}' if holder else ''}. Stop that program or choose another "
                "port with --port."
            )
        home = write_dagster_yaml(self.settings)
        env = child_environment(self.settings)
        env.update(dagster_environment(self.settings))
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        for name, command in self.commands().items():
            log_path = self.settings.log_dir / f"{name}.log"
            with open(log_path, "ab") as log_file:
                start = log_file.tell()
                log.info("starting %s (DAGSTER_HOME=%s)", name, home)
                process = subprocess.Popen(
                    command,
                    cwd=WORKSPACE_FILE.parent,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.children.append(_Child(name, process, log_path, start))

    def wait_ready(
        self, timeout: float, progress: Callable[[str], None] = lambda message: None
    ) -> None:
        """Until the webserver answers and its code location has loaded."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=5.0) as client:
            while True:
                self.raise_if_exited()
                status = self._location_status(client)
                if status == "LOADED":
                    return
                progress(
                    "waiting for the webserver"
                    if status is None
                    else "loading the code location (dbt manifest, definitions)"
                )
                if time.monotonic() > deadline:
                    raise DagsterServiceError(
                        f"dagster-webserver: not ready after {timeout:.0f} s. See "
                        f"{self.children[0].log_path}."
                    )
                time.sleep(POLL_SECONDS)

    def _location_status(self, client: httpx.Client) -> str | None:
        try:
            response = client.post("/graphql", json={"query": LOCATIONS_QUERY})
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        workspace = response.json().get("data", {}).get("workspaceOrError", {})
        entries = workspace.get("locationEntries") or []
        if not entries:
            return None
        for entry in entries:
            error = entry.get("locationOrLoadError") or {}
            if error.get("__typename") == "PythonError":
                raise DagsterServiceError(
                    f"the code location {entry['name']} failed to load: "
                    f"{error.get('message', '').strip()}"
                )
        if all(entry.get("loadStatus") == "LOADED" for entry in entries):
            return "LOADED"
        return "LOADING"

    def raise_if_exited(self) -> None:
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise DagsterServiceError(
                    f"{child.name} exited with code {code}. See {child.log_path}. Last log "
                    f"lines:\n{child.log_tail()}"
                )

    def watch(self) -> None:
        """Block while both run; raise when one stops on its own."""
        while True:
            self.raise_if_exited()
            time.sleep(POLL_SECONDS)

    def terminate_runs(self, timeout: float) -> list[str]:
        """Cancel the runs in flight that this session's daemon launched; wait for them.

        Dagster's own termination (the code server interrupts the run worker, which stops
        dbt and marks the run canceled), so a run never stays "started" after we stop.
        """
        import dagster as dg

        from orchestration.build import RUN_TAGS
        from orchestration.dagster_instance import stack_instance

        statuses = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
        deadline = time.monotonic() + timeout
        with stack_instance(self.settings) as instance:
            runs = [
                run
                for run in instance.get_runs(filters=dg.RunsFilter(statuses=statuses))
                if not all(run.tags.get(key) == value for key, value in RUN_TAGS.items())
            ]
            for run in runs:
                try:
                    instance.run_launcher.terminate(run.run_id)
                except Exception as error:  # stopping goes on: the processes are stopped next
                    log.warning("could not cancel run %s: %s", run.run_id, error)
            pending = {run.run_id for run in runs}
            while pending and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
                pending = {
                    run_id
                    for run_id in pending
                    if not (run := instance.get_run_by_id(run_id)) or not run.is_finished
                }
        return [run.run_id for run in runs]

    def kill(self) -> None:
        """SIGKILL the children and their process groups, without waiting for anything."""
        for child in self.children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(5)
        self.children.clear()
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def stop(self, timeout: float) -> None:
        """Cancel runs in flight; SIGINT to each child, then to what is left in their process
        groups (the code servers they spawned); SIGKILL whatever still runs at the deadline."""
        if self.children and all(child.alive() for child in self.children):
            with contextlib.suppress(Exception):  # e.g. PostgreSQL already gone
                canceled = self.terminate_runs(timeout)
                if canceled:
                    log.info("canceled %d run(s) in flight", len(canceled))
        deadline = time.monotonic() + timeout
        for child in self.children:
            _signal_process(child.process.pid, signal.SIGINT)
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(max(0.1, deadline - time.monotonic()))
        groups = [child.process.pid for child in self.children]  # each child leads its group
        for pgid in groups:
            for pid in _group_members(pgid):
                _signal_process(pid, signal.SIGINT)
        while any(_group_members(pgid) for pgid in groups) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pgid in groups:
            leftover = _group_members(pgid)
            if leftover:
                log.warning(
                    "killing %d process(es) still running after %.0f s", len(leftover), timeout
                )
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(5)
        self.children.clear()
        self._release_lock()
