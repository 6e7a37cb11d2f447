"""Detached server processes and the run records that let a later command find them again.

A record (`run/<service>.json`) holds the pid together with the process's creation time as the
kernel reports it: a pid alone can be reused by an unrelated process after a crash or a reboot,
the pair cannot. Nothing is signalled unless both match.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

# Two reads of one process's creation time agree to the clock tick; a reused pid does not.
CREATE_TIME_TOLERANCE_SECONDS = 0.05

# Popen handles of the processes this interpreter started, so that their exit is reaped
# (no zombies while a test session or a long-lived caller keeps running) and no
# "subprocess still running" warning fires when a handle would be garbage collected.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcessRecord:
    """What `stack up` wrote down about one server it started."""

    service: str
    pid: int
    create_time: float
    command: list[str]
    log_path: str
    port: int
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    log_offset: int = 0  # where this run's output starts in the (appended) log file

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ProcessRecord:
        data = json.loads(text)
        return cls(
            service=str(data["service"]),
            pid=int(data["pid"]),
            create_time=float(data["create_time"]),
            command=[str(part) for part in data["command"]],
            log_path=str(data["log_path"]),
            port=int(data["port"]),
            started_at=str(data.get("started_at", "")),
            log_offset=int(data.get("log_offset", 0)),
        )


class RecordStore:
    """One JSON file per service under the run folder."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def path(self, service: str) -> Path:
        return self.run_dir / f"{service}.json"

    def load(self, service: str) -> ProcessRecord | None:
        path = self.path(service)
        try:
            return ProcessRecord.from_json(path.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as error:
            log.warning("ignoring unreadable run record %s: %s", path, error)
            return None

    def save(self, record: ProcessRecord) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.path(record.service)
        partial = path.with_suffix(".json.tmp")
        partial.write_text(record.to_json())
        os.replace(partial, path)

    def remove(self, service: str) -> None:
        self.path(service).unlink(missing_ok=True)

    def services(self) -> list[str]:
        if not self.run_dir.is_dir():
            return []
        return sorted(path.stem for path in self.run_dir.glob("*.json"))


class Liveness(StrEnum):
    ALIVE = "alive"  # the recorded process is running
    DEAD = "dead"  # it exited (zombies count as exited)
    FOREIGN = "foreign"  # the pid now belongs to another process


def _reap(pid: int) -> None:
    """Collect the exit status of a child of ours, so it does not linger as a zombie."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is not None:
            _children.pop(pid, None)
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def liveness(pid: int, create_time: float) -> Liveness:
    _reap(pid)
    try:
        process = psutil.Process(pid)
        if abs(process.create_time() - create_time) > CREATE_TIME_TOLERANCE_SECONDS:
            return Liveness.FOREIGN
        if process.status() == psutil.STATUS_ZOMBIE:
            _reap(pid)
            return Liveness.DEAD
    except psutil.NoSuchProcess:
        return Liveness.DEAD
    return Liveness.ALIVE


def spawn_detached(
    command: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str],
    cwd: Path,
    user: str | None = None,
) -> tuple[subprocess.Popen[bytes], float]:
    """Start `command` in its own session with stdout and stderr appended to `log_path`.

    Returns the handle and the process's creation time (for its run record). The process
    does not die with the caller: it has its own session and no terminal.
    """
    kwargs: dict[str, object] = {}
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
            **kwargs,  # type: ignore[arg-type]
        )
    _children[process.pid] = process
    try:
        create_time = psutil.Process(process.pid).create_time()
    except psutil.NoSuchProcess:  # exited already: the caller sees it in poll()
        create_time = 0.0
    return process, create_time


def wait_for_exit(pid: int, create_time: float, timeout: float) -> bool:
    """Wait until the process is gone; True if it went within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if liveness(pid, create_time) is not Liveness.ALIVE:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


class StopOutcome(StrEnum):
    STOPPED = "stopped"
    KILLED = "killed (did not stop in time)"
    NOT_RUNNING = "had already exited (record cleared)"
    FOREIGN = "left alone (pid now belongs to another process)"


def stop_process(
    pid: int, create_time: float, stop_signal: signal.Signals, timeout: float
) -> StopOutcome:
    """Ask the recorded process to stop; kill its process group if it has not after `timeout`."""
    state = liveness(pid, create_time)
    if state is Liveness.DEAD:
        return StopOutcome.NOT_RUNNING
    if state is Liveness.FOREIGN:
        return StopOutcome.FOREIGN
    try:
        os.kill(pid, stop_signal)
    except ProcessLookupError:
        return StopOutcome.NOT_RUNNING
    if wait_for_exit(pid, create_time, timeout):
        return StopOutcome.STOPPED
    log.warning(
        "pid %d did not stop within %.0f s after %s: killing it", pid, timeout, stop_signal.name
    )
    # The server leads its own process group (start_new_session): take its workers with it.
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return StopOutcome.STOPPED
    wait_for_exit(pid, create_time, 5.0)
    return StopOutcome.KILLED


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def tail_lines(path: Path, lines: int, start_offset: int = 0) -> list[str]:
    """The last `lines` lines of `path`, reading no further back than `start_offset`."""
    if lines <= 0:
        return []
    try:
        with open(path, "rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            start = max(start_offset, end - max(64 * 1024, lines * 1024))
            if start > end:  # the file was truncated or replaced since the offset was taken
                start = max(0, end - lines * 1024)
            handle.seek(start)
            data = handle.read()
    except FileNotFoundError:
        return []
    text = data.decode("utf-8", errors="replace")
    return text.splitlines()[-lines:]
