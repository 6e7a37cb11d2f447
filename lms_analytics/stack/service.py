"""What the stack manager needs to know about one server: how to start it and how to tell it works.

A `Service` describes; the manager acts (ports, spawning, records, waiting, stopping).
"""

from __future__ import annotations

import os
import signal
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from lms_analytics.settings import Settings
from lms_analytics.stack.environment import child_environment


@dataclass(frozen=True)
class Launch:
    """How to run the server process."""

    command: list[str]
    cwd: Path
    env: dict[str, str]
    user: str | None = None  # run as this system user (PostgreSQL refuses to run as root)


class Service(ABC):
    name: ClassVar[str]
    # Environment variables a user changes to move the port or point at an existing server.
    port_variable: ClassVar[str]
    url_variable: ClassVar[str]
    # Whether data survives `stack down` / `stack up`.
    persistent: ClassVar[bool] = True
    note: ClassVar[str] = ""
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # --- where it is -----------------------------------------------------------------------

    @property
    @abstractmethod
    def is_external(self) -> bool:
        """True when its URL setting points at a server the stack does not run."""

    @property
    @abstractmethod
    def port(self) -> int: ...

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """The address clients use, safe to print (no password)."""

    @property
    def log_path(self) -> Path:
        return self.settings.log_dir / f"{self.name}.log"

    @property
    def data_path(self) -> Path:
        return self.settings.data_dir / self.name

    # --- starting --------------------------------------------------------------------------

    def check_can_start(self) -> None:
        """Raise `StackError` when it cannot start (missing binary, data folder in use)."""
        return None

    def prepare(self) -> None:
        """One-time work before the process starts (create folders, initialise data)."""
        self.data_path.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def launch(self) -> Launch: ...

    def environment(self) -> dict[str, str]:
        return child_environment(self.settings)

    def default_cwd(self) -> Path:
        return self.settings.home if self.settings.home.is_dir() else Path(os.sep)

    @abstractmethod
    def is_healthy(self, timeout: float) -> bool:
        """One health probe: True when the server answers as it should."""

    def after_healthy(self) -> None:
        """Work that needs the running server (create databases, ...)."""
        return None

    def retry_reason(self, log_tail: str) -> str | None:
        """If an exit before healthy is worth retrying (e.g. port still in TIME_WAIT), why."""
        return None
