"""The ClickHouse HTTP interface over the chdb engine, as an ASGI app served by uvicorn.

Each request runs on its own engine connection (a named session keeps one between requests),
so a long query never blocks short ones. Engine work runs in worker threads; request bodies
are decoded and pushed into the engine as they arrive, and results stream back block by block.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from lms_analytics.clickhouse_gateway.compression import BodyDecoder, MalformedBody, decoder_for
from lms_analytics.clickhouse_gateway.engine import (
    Connection,
    Engine,
    EngineError,
    InsertStream,
    QueryResult,
    Summary,
    is_use_statement,
    may_change_settings,
    run_query,
)
from lms_analytics.clickhouse_gateway.protocol import (
    BadRequest,
    RequestOptions,
    content_type,
    engine_error,
    output_format,
    parse_options,
)
from lms_analytics.clickhouse_gateway.sessions import Session, SessionError, SessionRegistry
from lms_analytics.clickhouse_gateway.statement import (
    STATEMENT_PREFIX_LIMIT,
    InsertStatement,
    find_insert,
    statement_head,
)

log = logging.getLogger(__name__)

# Decoded insert data is handed to the engine in pieces of about this size.
APPEND_SIZE = 4 * 1024 * 1024
SESSION_SWEEP_SECONDS = 5.0
AUTHENTICATION_FAILED = 516
SYNTAX_ERROR = 62
CANNOT_DECOMPRESS = 271


@dataclass(frozen=True)
class Credentials:
    user: str = "default"
    password: str = ""


class Unauthorized(Exception):
    pass


@dataclass
class Lease:
    """The connection one request runs on, and how to give it back."""

    connection: Connection
    session: Session | None
    registry: SessionRegistry
    restore: dict[str, str | None] = field(default_factory=dict)
    released: bool = False

    @property
    def home_database(self) -> str:
        return self.session.database if self.session else "default"

    def prepare(self, options: RequestOptions) -> None:
        self.connection.use(options.database or self.home_database)
        if not options.settings:
            return
        if self.session is None:
            # The connection is this request's own and is closed after it: nothing to restore.
            self.connection.set_settings(options.settings)
            return
        previous = self.session.settings_of(list(options.settings))
        self.connection.set_settings(options.settings)
        self.restore = previous  # only once set: a failed SET changes nothing

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        if self.session is None:
            self.connection.close()
            return
        try:
            # URL settings belong to one query, as in ClickHouse; `SET` statements persist.
            self.connection.restore_settings(self.restore)
        except EngineError:
            log.warning("session %s: could not restore settings", self.session.session_id)
            self.session.forget_settings()
        self.registry.release(self.session)


class Gateway:
    def __init__(self, engine: Engine, credentials: Credentials, display_name: str) -> None:
        self.engine = engine
        self.credentials = credentials
        self.display_name = display_name
        self.sessions = SessionRegistry(engine)

    # --- HTTP plumbing --------------------------------------------------------------------

    def _headers(self, query_id: str, fmt: str | None, summary: Summary | None) -> dict[str, str]:
        headers = {
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": self.engine.timezone,
            "X-ClickHouse-Server-Display-Name": self.display_name,
            "Keep-Alive": "timeout=30",
        }
        if fmt is not None:
            headers["X-ClickHouse-Format"] = fmt
            headers["Content-Type"] = content_type(fmt)
        if summary is not None:
            headers["X-ClickHouse-Summary"] = json.dumps(summary.as_header())
        return headers

    def _error(self, status: int, code: int, text: str, query_id: str) -> Response:
        headers = self._headers(query_id, None, None)
        headers["X-ClickHouse-Exception-Code"] = str(code)
        if status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="ClickHouse"'
        body = text if text.startswith("Code: ") else f"Code: {code}. DB::Exception: {text}"
        return PlainTextResponse(body.rstrip("\n") + "\n", status_code=status, headers=headers)

    def _authenticate(self, request: Request) -> None:
        user, password = "default", ""
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise Unauthorized("malformed Basic authorization header") from None
            user, _, password = decoded.partition(":")
        else:
            user = request.headers.get("x-clickhouse-user") or request.query_params.get(
                "user", "default"
            )
            password = request.headers.get("x-clickhouse-key") or request.query_params.get(
                "password", ""
            )
        expected = self.credentials
        if not (
            hmac.compare_digest(user.encode(), expected.user.encode())
            and hmac.compare_digest(password.encode(), expected.password.encode())
        ):
            raise Unauthorized(
                f"{user}: Authentication failed: password is incorrect, "
                "or there is no user with such name"
            )

    def _lease(self, options: RequestOptions) -> Lease:
        if options.session_id is None:
            return Lease(self.engine.connect(), None, self.sessions)
        session = self.sessions.acquire(
            options.session_id, options.session_timeout, must_exist=options.session_check
        )
        return Lease(session.connection, session, self.sessions)

    # --- endpoints ------------------------------------------------------------------------

    async def ping(self, request: Request) -> Response:
        return PlainTextResponse("Ok.\n")

    async def query(self, request: Request) -> Response:
        query_id = request.query_params.get("query_id") or str(uuid.uuid4())
        if request.method == "GET" and not request.query_params:
            return PlainTextResponse("Ok.\n")
        try:
            self._authenticate(request)
        except Unauthorized as error:
            return self._error(401, AUTHENTICATION_FAILED, str(error), query_id)
        try:
            read_only = request.method == "GET" and "session_id" not in request.query_params
            options = parse_options(request.query_params, read_only=read_only)
            decoder = decoder_for(request.headers.get("content-encoding"))
            lease = self._lease(options)
        except BadRequest as error:
            return self._error(400, error.code, str(error), query_id)
        except MalformedBody as error:
            return self._error(400, CANNOT_DECOMPRESS, str(error), query_id)
        except SessionError as error:
            return self._error(500, error.code, str(error), query_id)
        except EngineError as error:
            return self._error(500, *engine_error(error), query_id)

        started = time.perf_counter()
        try:
            response = await self._run(request, options, decoder, lease, query_id)
        except MalformedBody as error:
            lease.release()
            return self._error(400, CANNOT_DECOMPRESS, str(error), query_id)
        except BadRequest as error:
            lease.release()
            return self._error(400, error.code, str(error), query_id)
        except EngineError as error:
            lease.release()
            code, text = engine_error(error)
            log.info("query %s failed: %s", query_id, text.splitlines()[0])
            return self._error(500, code, text, query_id)
        except ClientDisconnect:
            lease.release()
            log.info("query %s: client disconnected before sending the whole body", query_id)
            return self._error(400, CANNOT_DECOMPRESS, "client disconnected", query_id)
        except BaseException:
            lease.release()
            raise
        log.debug("query %s answered in %.1f ms", query_id, (time.perf_counter() - started) * 1e3)
        return response

    async def _run(
        self,
        request: Request,
        options: RequestOptions,
        decoder: BodyDecoder,
        lease: Lease,
        query_id: str,
    ) -> Response:
        body = _decoded(request.stream(), decoder)
        head = bytearray(statement_head(options.query))
        exhausted = False
        while len(head) < STATEMENT_PREFIX_LIMIT:
            chunk = await anext(body, None)
            if chunk is None:
                exhausted = True
                break
            head += chunk

        await run_in_threadpool(lease.prepare, options)
        insert = find_insert(bytes(head))
        if insert is not None:
            summary = await self._insert(lease, insert, body)
            lease.release()
            return Response(b"", headers=self._headers(query_id, None, summary))

        if not exhausted:
            async for chunk in body:
                head += chunk
        try:
            sql = head.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise BadRequest("the query is not valid UTF-8", code=SYNTAX_ERROR) from None
        if not sql:
            raise BadRequest("Empty query", code=SYNTAX_ERROR)

        # Settings the session remembers are void once a statement may have changed them
        # (an `INSERT ... FORMAT`, answered above, cannot).
        if lease.session is not None and may_change_settings(sql):
            lease.session.forget_settings()
        fmt = output_format(sql, options.default_format)
        result = await run_in_threadpool(
            run_query, lease.connection, sql, options.default_format, options.parameters
        )
        if lease.session is not None and is_use_statement(sql):
            lease.session.database = lease.connection.database
        headers = self._headers(query_id, fmt, result.summary)
        if result.complete:
            lease.release()
            return Response(b"".join(result.head), headers=headers)
        return StreamingResponse(_stream(result, lease), headers=headers)

    async def _insert(
        self, lease: Lease, insert: InsertStatement, body: AsyncIterator[bytes]
    ) -> Summary:
        stream = await run_in_threadpool(
            InsertStream, lease.connection, insert.sql, insert.data_format
        )
        try:
            pending = bytearray(insert.data_start)
            async for chunk in body:
                pending += chunk
                if len(pending) >= APPEND_SIZE:
                    await run_in_threadpool(stream.append, bytes(pending))
                    pending.clear()
            if pending:
                await run_in_threadpool(stream.append, bytes(pending))
            return await run_in_threadpool(stream.finish)
        except BaseException:
            await run_in_threadpool(stream.cancel)
            raise

    # --- lifecycle ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette):
        sweeper = asyncio.create_task(self._sweep_sessions())
        try:
            yield
        finally:
            sweeper.cancel()
            self.sessions.close_all()
            self.engine.close()

    async def _sweep_sessions(self) -> None:
        while True:
            await asyncio.sleep(SESSION_SWEEP_SECONDS)
            for connection in self.sessions.close_expired():
                await run_in_threadpool(connection.close)


async def _decoded(raw: AsyncIterator[bytes], decoder: BodyDecoder) -> AsyncIterator[bytes]:
    async for chunk in raw:
        data = decoder.feed(chunk)
        if data:
            yield data
    tail = decoder.finish()
    if tail:
        yield tail


async def _stream(result: QueryResult, lease: Lease) -> AsyncIterator[bytes]:
    try:
        for chunk in result.head:
            yield chunk
        rest = result.rest()
        while (chunk := await run_in_threadpool(next, rest, None)) is not None:
            yield chunk
    except EngineError as error:
        # Headers are gone: like ClickHouse, end the body with the exception text.
        yield ("\n" + engine_error(error)[1] + "\n").encode()
    finally:
        result.cancel()
        lease.release()


def create_app(engine: Engine, credentials: Credentials, display_name: str = "lms-analytics"):
    gateway = Gateway(engine, credentials, display_name)
    routes = [
        Route("/ping", gateway.ping, methods=["GET", "HEAD"]),
        Route("/replicas_status", gateway.ping, methods=["GET", "HEAD"]),
        Route("/", gateway.query, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes, lifespan=gateway.lifespan)
    app.state.gateway = gateway
    return app
