"""`lms-analytics clickhouse-gateway`: serve the ClickHouse HTTP interface over a data folder."""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from lms_analytics.errors import LmsAnalyticsError
from lms_analytics.settings import get_settings

log = logging.getLogger(__name__)

LOCK_FILE = ".gateway.lock"


class DataFolderHeld(LmsAnalyticsError):
    pass


def hold_data_folder(data: Path) -> int:
    """Lock the data folder for this process: the engine allows one process per folder."""
    data.mkdir(parents=True, exist_ok=True)
    fd = os.open(data / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise DataFolderHeld(
            f"ClickHouse data folder {data} is held by another gateway (pid {holder}): "
            "stop it first (`lms-analytics stack down`) or point LMS_ANALYTICS_HOME elsewhere"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def clickhouse_gateway(
    data: Annotated[Path, typer.Option(help="Data folder of the ClickHouse engine.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the HTTP interface.")] = 18123,
) -> None:
    """Serve the ClickHouse HTTP interface over the embedded chdb engine."""
    from lms_analytics.clickhouse_gateway.engine import Engine, EngineError
    from lms_analytics.clickhouse_gateway.server import Credentials, create_app

    settings = get_settings()
    data = data.expanduser().resolve()
    lock_fd = hold_data_folder(data)  # held until the process exits
    try:
        engine = Engine(data)
    except EngineError as error:
        raise LmsAnalyticsError(f"ClickHouse engine could not open {data}: {error}") from None
    credentials = Credentials(settings.clickhouse_user, settings.clickhouse_password)
    app = create_app(engine, credentials)
    log.info(
        "ClickHouse gateway %s (engine %s) listening on http://%s:%d, data in %s",
        os.getpid(),
        engine.version,
        host,
        port,
        data,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()
    os.close(lock_fd)
