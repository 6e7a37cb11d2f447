"""What a ClickHouse HTTP request means: interface options, engine settings, query parameters.

URL parameters of the ClickHouse HTTP interface fall in three groups. Interface options steer
the HTTP handler itself and must never reach the engine; `param_<name>` values bind
`{name:Type}` placeholders; everything else is an engine setting applied to the query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from starlette.datastructures import QueryParams

# Options of the HTTP handler (ClickHouse's HTTPHandler), not engine settings.
INTERFACE_OPTIONS = frozenset(
    {
        "query",
        "query_id",
        "database",
        "default_format",
        "user",
        "password",
        "quota_key",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "cancel_http_readonly_queries_on_client_close",
        "enable_http_compression",
        "http_zlib_compression_level",
        "http_native_compression_disable_checksumming_on_decompress",
        "http_response_headers",
        "role",
        "stacktrace",
    }
)

DEFAULT_SESSION_TIMEOUT = 60.0
MAX_SESSION_TIMEOUT = 3600.0
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class BadRequest(ValueError):
    """A request the HTTP interface rejects before the engine sees it (HTTP 400)."""

    def __init__(self, message: str, code: int = 36) -> None:  # 36 = BAD_ARGUMENTS
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class RequestOptions:
    query: str = ""
    query_id: str | None = None
    database: str | None = None
    default_format: str = "TabSeparated"
    session_id: str | None = None
    session_timeout: float = DEFAULT_SESSION_TIMEOUT
    session_check: bool = False
    settings: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes"}


def parse_options(params: QueryParams, *, read_only: bool) -> RequestOptions:
    """Sort the URL parameters of one request; raise `BadRequest` for what cannot be honoured."""
    settings: dict[str, str] = {}
    parameters: dict[str, str] = {}
    for name, value in params.multi_items():
        if name.startswith("param_"):
            parameters[name.removeprefix("param_")] = value
        elif name not in INTERFACE_OPTIONS:
            if not _SETTING_NAME.match(name):
                raise BadRequest(f"invalid setting name {name!r}", code=115)  # UNKNOWN_SETTING
            settings[name] = value

    if _flag(params.get("decompress", "0")) or _flag(params.get("compress", "0")):
        raise BadRequest(
            "ClickHouse-native block compression (compress=1 / decompress=1) is not supported "
            "by this gateway; use HTTP Content-Encoding (lz4, zstd, gzip, deflate) instead"
        )
    if read_only and "readonly" not in settings:
        # As in ClickHouse: a GET request may only read and change settings.
        settings["readonly"] = "2"

    timeout_text = params.get("session_timeout")
    timeout = DEFAULT_SESSION_TIMEOUT
    if timeout_text is not None:
        try:
            timeout = float(timeout_text)
        except ValueError:
            raise BadRequest(f"session_timeout must be a number, got {timeout_text!r}") from None
        if not 0 < timeout <= MAX_SESSION_TIMEOUT:
            raise BadRequest(f"session_timeout must be in (0, {MAX_SESSION_TIMEOUT:g}] seconds")

    return RequestOptions(
        query=params.get("query", ""),
        query_id=params.get("query_id") or None,
        database=params.get("database") or None,
        default_format=params.get("default_format") or "TabSeparated",
        session_id=params.get("session_id") or None,
        session_timeout=timeout,
        session_check=_flag(params.get("session_check", "0")),
        settings=settings,
        parameters=parameters,
    )


# --- errors -------------------------------------------------------------------------------

_ERROR_CODE = re.compile(r"Code: (\d+)\.")
UNKNOWN_EXCEPTION = 1001  # STD_EXCEPTION


def engine_error(error: BaseException) -> tuple[int, str]:
    """The ClickHouse code and `Code: N. DB::Exception: ...` text of an engine error."""
    text = str(error)
    start = text.find("Code: ")
    if start >= 0:
        text = text[start:]
    match = _ERROR_CODE.match(text)
    if match:
        return int(match.group(1)), text
    return UNKNOWN_EXCEPTION, f"Code: {UNKNOWN_EXCEPTION}. DB::Exception: {text}"


# --- formats ------------------------------------------------------------------------------

_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*;?\s*$", re.IGNORECASE)

_CONTENT_TYPES = {
    "tabseparated": "text/tab-separated-values; charset=UTF-8",
    "tsv": "text/tab-separated-values; charset=UTF-8",
    "csv": "text/csv; charset=UTF-8; header=absent",
    "csvwithnames": "text/csv; charset=UTF-8; header=present",
    "json": "application/json; charset=UTF-8",
    "jsoncompact": "application/json; charset=UTF-8",
    "jsoneachrow": "application/x-ndjson; charset=UTF-8",
    "native": "application/octet-stream",
    "rowbinary": "application/octet-stream",
    "rowbinarywithnamesandtypes": "application/octet-stream",
    "arrow": "application/octet-stream",
    "arrowstream": "application/octet-stream",
    "parquet": "application/octet-stream",
}


def output_format(sql: str, default_format: str) -> str:
    """The format the answer comes in: the query's own FORMAT clause, else the default."""
    match = _TRAILING_FORMAT.search(sql)
    return match.group(1) if match else default_format


def content_type(fmt: str) -> str:
    return _CONTENT_TYPES.get(fmt.lower(), "text/plain; charset=UTF-8")
