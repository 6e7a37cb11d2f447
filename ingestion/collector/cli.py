"""`lms-analytics collector`: serve the tracking endpoint (`POST /v1/track`) with uvicorn."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
import uvicorn

from lms_analytics.settings import get_settings

log = logging.getLogger(__name__)

APP_FACTORY = "ingestion.collector.app:create_app"


def collector(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on. Default: LMS_ANALYTICS_BIND_HOST.")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on. Default: LMS_ANALYTICS_COLLECTOR_PORT.")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (each with its own Kafka producer).")
    ] = 1,
) -> None:
    """Serve the browser tracking collector: POST /v1/track -> Kafka, GET /v1/tracker.js."""
    settings = get_settings()
    host = host or settings.bind_host
    port = port or settings.collector_port
    log.info(
        "collector listening on http://%s:%d (%d worker%s), Kafka at %s",
        host,
        port,
        workers,
        "" if workers == 1 else "s",
        settings.kafka_bootstrap,
    )
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        # The client IP comes from the peer, or from the trusted proxy header only when
        # LMS_ANALYTICS_COLLECTOR_TRUSTED_PROXY_HEADER says so: uvicorn must not rewrite it.
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=10,
    )
