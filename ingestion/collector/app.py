"""The collector's ASGI app: browser tracking events over HTTP, produced to Kafka.

- `POST /v1/track`: one event object or a JSON array of them (envelope: `ingestion.collector.
  intake`), with a write key in the `X-Write-Key` header or the `write_key` query parameter
  (`navigator.sendBeacon` cannot set headers). Any Content-Type is read as JSON, so the tracker
  can send `text/plain` and stay a CORS "simple request" without a preflight. Answers
  `202 {"accepted": n, "rejected": m, "errors": [{"index": i, "error": "..."}]}` once Kafka
  acknowledged the accepted events (acks=all); 400 for a body that is not a JSON object or
  array, 401 without a valid write key, 413 over `collector_max_body_bytes`, 503 when Kafka did
  not acknowledge (retry: events keep their IDs).
- `GET /v1/tracker.js`: the browser tracker. `GET /healthz`: liveness.

Every error is `{"error": "..."}`.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ingestion.collector.client_metadata import client_ip, client_metadata, warm_up
from ingestion.collector.delivery import DeliveryFailed, KafkaSink
from ingestion.collector.intake import ItemError, MalformedBody, Message, parse_body, prepare
from lms_analytics.settings import Settings, get_settings

log = logging.getLogger(__name__)

WRITE_KEY_HEADER = "X-Write-Key"
WRITE_KEY_PARAMETER = "write_key"
TRACKER_CONTENT_TYPE = "text/javascript; charset=utf-8"


def tracker_source() -> bytes:
    return resources.files("ingestion.collector").joinpath("static/tracker.js").read_bytes()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class BodyTooLarge(Exception):
    pass


class Collector:
    """The request handlers over one settings object and one Kafka sink."""

    def __init__(self, settings: Settings, kafka_config: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.kafka_config = kafka_config
        self.write_keys = [key.encode() for key in settings.collector_write_keys if key]
        self.max_body = settings.collector_max_body_bytes
        self.tracker = tracker_source()
        self.sink: KafkaSink | None = None

    @asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        sink = KafkaSink(self.settings.kafka_bootstrap, self.kafka_config)
        await run_in_threadpool(sink.connect)
        await run_in_threadpool(warm_up)
        self.sink = sink
        if not self.write_keys:
            log.warning("no collector write keys configured: every request is accepted")
        log.info(
            "collector producing to %s (topic prefix %r)",
            self.settings.kafka_bootstrap,
            self.settings.kafka_topic_prefix,
        )
        try:
            yield
        finally:
            self.sink = None
            await run_in_threadpool(sink.close)

    def authorized(self, request: Request) -> bool:
        if not self.write_keys:
            return True
        sent = request.headers.get(WRITE_KEY_HEADER) or request.query_params.get(
            WRITE_KEY_PARAMETER
        )
        if not sent:
            return False
        candidate = sent.encode()
        # compare with every key, so the time taken does not tell which key is close
        return any([hmac.compare_digest(candidate, key) for key in self.write_keys])

    async def read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise MalformedBody(f"invalid Content-Length header {declared!r}")
            if int(declared) > self.max_body:
                raise BodyTooLarge
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body:
                raise BodyTooLarge
        return bytes(body)

    async def track(self, request: Request) -> Response:
        if not self.authorized(request):
            return _error(
                401,
                f"missing or invalid write key: send it in the {WRITE_KEY_HEADER} header "
                f"or the {WRITE_KEY_PARAMETER} query parameter",
            )
        try:
            items = parse_body(await self.read_body(request))
        except BodyTooLarge:
            return _error(
                413, f"body is larger than the limit of {self.max_body} bytes: send fewer events"
            )
        except MalformedBody as error:
            return _error(400, str(error))

        ip = client_ip(
            request.client.host if request.client else None,
            request.headers,
            self.settings.collector_trusted_proxy_header,
            self.settings.collector_anonymize_ip,
        )
        metadata = client_metadata(request.headers.get("user-agent", ""), ip)
        now = datetime.now(UTC)
        accepted: list[Message] = []
        rejected: list[ItemError] = []
        for index, item in enumerate(items):
            result = prepare(index, item, metadata, now)
            (accepted if isinstance(result, Message) else rejected).append(result)

        if accepted:
            sink = self.sink
            if sink is None:
                return _error(503, "the collector is not connected to Kafka yet: retry")
            topic = self.settings.kafka_topic
            try:
                await sink.deliver([(topic(m.topic), m.key, m.value) for m in accepted])
            except DeliveryFailed as error:
                log.warning("delivery failed: %s", error)
                return _error(503, f"{error}; retry the request", {"Retry-After": "1"})
        if rejected:
            log.debug("rejected %d of %d events: %s", len(rejected), len(items), rejected[0].error)
        return JSONResponse(
            {
                "accepted": len(accepted),
                "rejected": len(rejected),
                "errors": [error.as_json() for error in rejected],
            },
            status_code=202,
        )

    async def tracker_js(self, _request: Request) -> Response:
        return Response(
            self.tracker,
            media_type=TRACKER_CONTENT_TYPE,
            headers={"Cache-Control": "public, max-age=300"},
        )

    async def healthz(self, _request: Request) -> Response:
        if self.sink is None:
            return _error(503, "not started")
        return JSONResponse({"status": "ok"})


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS handling, with a refused preflight answered in JSON like every error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        reason = bytes(response.body).decode(errors="replace")
        return _error(400, f"CORS preflight refused: {reason}")


async def _http_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return _error(error.status_code, error.detail, error.headers)


async def _unexpected_error(_request: Request, error: Exception) -> Response:
    log.error("unexpected error", exc_info=error)
    return _error(500, "internal error in the collector; see its log")


def create_app(
    settings: Settings | None = None, kafka_config: dict[str, Any] | None = None
) -> Starlette:
    """The collector app for `settings` (default: from the environment).

    `kafka_config` adds or overrides confluent-kafka Producer options.
    """
    settings = settings or get_settings()
    collector = Collector(settings, kafka_config)
    middleware = []
    if settings.collector_cors_origins:
        middleware.append(
            Middleware(
                JsonCORSMiddleware,
                allow_origins=settings.collector_cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Content-Type", WRITE_KEY_HEADER],
                max_age=3600,
            )
        )
    app = Starlette(
        routes=[
            Route("/v1/track", collector.track, methods=["POST"]),
            Route("/v1/tracker.js", collector.tracker_js, methods=["GET", "HEAD"]),
            Route("/healthz", collector.healthz, methods=["GET", "HEAD"]),
        ],
        middleware=middleware,
        exception_handlers={HTTPException: _http_error, Exception: _unexpected_error},
        lifespan=collector.lifespan,
    )
    app.state.collector = collector
    return app
