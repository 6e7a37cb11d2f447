"""The HTTP interface at the wire: bodies, encodings, sessions, streaming and honest errors."""

from __future__ import annotations

import gzip
import json
import threading
import uuid
import zlib

import httpx
import lz4.frame
import pytest
import zstandard


@pytest.fixture()
def table(http: httpx.Client) -> str:
    name = f"h_{uuid.uuid4().hex[:12]}"
    response = http.post(
        "/", content=f"CREATE TABLE {name} (a UInt32, b String) ENGINE = MergeTree ORDER BY a"
    )
    assert response.status_code == 200, response.text
    yield name
    http.post("/", content=f"DROP TABLE IF EXISTS {name}")


def count_and_sum(http: httpx.Client, table: str) -> str:
    return http.post("/", content=f"SELECT count(), sum(a) FROM {table}").text


def csv_rows(start: int, stop: int) -> bytes:
    return "".join(f"{i},row{i}\n" for i in range(start, stop)).encode()


def test_ping_and_root_answer_ok(http):
    assert http.get("/ping").text == "Ok.\n"
    assert http.get("/").text == "Ok.\n"


def test_statement_in_query_parameter_with_data_in_body(http, table):
    response = http.post(
        "/", params={"query": f"INSERT INTO {table} FORMAT CSV"}, content=csv_rows(0, 10)
    )
    assert response.status_code == 200, response.text
    assert json.loads(response.headers["X-ClickHouse-Summary"])["written_rows"] == "10"
    assert count_and_sum(http, table) == "10\t45\n"


def test_statement_and_data_in_body(http, table):
    body = f"INSERT INTO {table} (a, b) FORMAT CSV\n".encode() + csv_rows(0, 5)
    assert http.post("/", content=body).status_code == 200
    assert count_and_sum(http, table) == "5\t10\n"


def test_chunked_request_body_is_read_whole(http, table):
    def chunks():
        yield f"INSERT INTO {table} FORMAT CSV\n".encode()
        for start in range(0, 50_000, 5_000):
            yield csv_rows(start, start + 5_000)

    response = http.post("/", content=chunks())
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 200, response.text
    assert count_and_sum(http, table) == f"50000\t{sum(range(50_000))}\n"


@pytest.mark.parametrize(
    ("encoding", "compress_one"),
    [
        ("lz4", lz4.frame.compress),
        ("zstd", zstandard.ZstdCompressor().compress),
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
    ],
)
def test_body_of_several_frames_is_decoded_to_the_end(http, table, encoding, compress_one):
    parts = [f"INSERT INTO {table} FORMAT CSV\n".encode()] + [
        csv_rows(start, start + 20_000) for start in range(0, 100_000, 20_000)
    ]
    body = b"".join(compress_one(part) for part in parts)
    response = http.post("/", content=body, headers={"Content-Encoding": encoding})
    assert response.status_code == 200, response.text
    assert count_and_sum(http, table) == f"100000\t{sum(range(100_000))}\n"


def test_corrupt_compressed_body_is_a_400_and_writes_nothing(http, table):
    good = lz4.frame.compress(f"INSERT INTO {table} FORMAT CSV\n".encode() + csv_rows(0, 100))
    response = http.post("/", content=good[:-7], headers={"Content-Encoding": "lz4"})
    assert response.status_code == 400
    assert "lz4" in response.text
    assert count_and_sum(http, table) == "0\t0\n"


def test_unsupported_encoding_is_a_400_naming_the_supported_ones(http):
    response = http.post("/", content=b"SELECT 1", headers={"Content-Encoding": "br"})
    assert response.status_code == 400
    assert "zstd" in response.text


def test_empty_query_is_a_400(http):
    response = http.post("/", content=b"   ")
    assert response.status_code == 400
    assert response.headers["X-ClickHouse-Exception-Code"] == "62"


def test_bad_session_timeout_is_a_400(http):
    response = http.post(
        "/", params={"session_id": "s", "session_timeout": "soon"}, content=b"SELECT 1"
    )
    assert response.status_code == 400
    assert "session_timeout" in response.text


def test_engine_error_is_a_500_with_code_header_and_text(http):
    response = http.post("/", content=b"SELEC 1")
    assert response.status_code == 500
    assert response.headers["X-ClickHouse-Exception-Code"] == "62"
    assert response.text.startswith("Code: 62. DB::Exception:")


def test_engine_error_quoting_bytes_that_are_not_utf8_is_still_a_clickhouse_error(http):
    response = http.post("/", content=b"SELECT CAST(unhex('94') AS UInt8)")
    assert response.status_code == 500
    assert response.headers["X-ClickHouse-Exception-Code"] == "6"
    assert response.text.startswith("Code: 6. DB::Exception: Cannot parse string '\ufffd'")


def test_response_headers_describe_the_answer(http):
    response = http.post("/", params={"query_id": "q-123"}, content=b"SELECT 1 FORMAT JSONEachRow")
    assert response.headers["X-ClickHouse-Query-Id"] == "q-123"
    assert response.headers["X-ClickHouse-Format"] == "JSONEachRow"
    assert response.headers["X-ClickHouse-Timezone"]
    assert json.loads(response.text) == {"1": 1}


def test_default_format_parameter_applies(http):
    response = http.post("/", params={"default_format": "JSONCompact"}, content=b"SELECT 2 AS x")
    assert json.loads(response.text)["data"] == [[2]]


def test_empty_result_keeps_the_format_envelope(http):
    response = http.post("/", content=b"SELECT number FROM numbers(0) FORMAT JSON")
    document = json.loads(response.text)
    assert document["data"] == []
    assert document["meta"] == [{"name": "number", "type": "UInt64"}]


def test_interface_options_do_not_reach_the_engine(http):
    params = {
        "client_protocol_version": "54405",
        "wait_end_of_query": "1",
        "send_progress_in_http_headers": "1",
        "http_headers_progress_interval_ms": "100",
        "cancel_http_readonly_queries_on_client_close": "1",
        "date_time_input_format": "best_effort",
    }
    response = http.post("/", params=params, content=b"SELECT getSetting('date_time_input_format')")
    assert response.status_code == 200, response.text
    assert response.text == "best_effort\n"


def test_get_request_is_read_only(http, table):
    assert http.get("/", params={"query": "SELECT 1"}).text == "1\n"
    response = http.get("/", params={"query": f"INSERT INTO {table} VALUES (1, 'x')"})
    assert response.status_code == 500
    assert count_and_sum(http, table) == "0\t0\n"


def test_session_keeps_use_and_set_between_requests(http):
    database = f"sdb_{uuid.uuid4().hex[:8]}"
    session = {"session_id": f"s-{uuid.uuid4()}"}
    http.post("/", content=f"CREATE DATABASE {database}")
    assert http.post("/", params=session, content=f"USE {database}").status_code == 200
    assert (
        http.post("/", params=session, content=b"SELECT currentDatabase()").text == f"{database}\n"
    )
    # The database parameter applies to its own query only.
    scoped = http.post(
        "/", params={**session, "database": "system"}, content=b"SELECT currentDatabase()"
    )
    assert scoped.text == "system\n"
    assert (
        http.post("/", params=session, content=b"SELECT currentDatabase()").text == f"{database}\n"
    )
    assert http.post("/", content=b"SELECT currentDatabase()").text == "default\n"
    http.post("/", content=f"DROP DATABASE {database}")


def test_url_setting_does_not_leak_into_the_next_query_of_the_session(http):
    session = {"session_id": f"s-{uuid.uuid4()}"}
    with_token = http.post(
        "/",
        params={**session, "insert_deduplication_token": "tok-1"},
        content=b"SELECT getSetting('insert_deduplication_token')",
    )
    assert with_token.text == "tok-1\n"
    after = http.post(
        "/", params=session, content=b"SELECT getSetting('insert_deduplication_token')"
    )
    assert after.text == "\n"


# Settings dbt-clickhouse sends as URL parameters with every request (values off the defaults).
DBT_URL_SETTINGS = {
    "mutations_sync": "2",
    "lightweight_deletes_sync": "1",
    "alter_sync": "2",
    "insert_distributed_sync": "1",
}
DBT_SETTINGS_APPLIED = {
    "mutations_sync": "2",
    "lightweight_deletes_sync": "1",
    "alter_sync": "2",
    "insert_distributed_sync": "true",
}


def settings_seen(http: httpx.Client, params: dict[str, str], names: list[str]) -> dict[str, str]:
    """The values of settings as the query of a request with `params` sees them."""
    sql = "SELECT " + ", ".join(f"toString(getSetting('{name}'))" for name in names)
    response = http.post("/", params=params, content=sql)
    assert response.status_code == 200, response.text
    return dict(zip(names, response.text.rstrip("\n").split("\t"), strict=True))


def test_url_settings_apply_to_one_query_and_the_session_values_come_back(http):
    session = {"session_id": f"s-{uuid.uuid4()}"}
    assert http.post("/", params=session, content=b"SET max_block_size = 1234").status_code == 200
    names = [*DBT_URL_SETTINGS, "max_block_size"]
    session_values = settings_seen(http, session, names)
    assert session_values["max_block_size"] == "1234"
    scoped = {**session, **DBT_URL_SETTINGS, "max_block_size": "77"}
    applied = {**DBT_SETTINGS_APPLIED, "max_block_size": "77"}
    for _ in range(3):  # the first request reads the session's values, the others remember them
        assert settings_seen(http, scoped, names) == applied
        assert settings_seen(http, session, names) == session_values


@pytest.mark.parametrize(
    "statement", ["SET max_block_size = 1234", "/* dbt */ set\tmax_block_size = 1234"]
)
def test_set_after_a_url_setting_is_the_session_value_a_later_url_setting_gives_back(
    http, statement
):
    session = {"session_id": f"s-{uuid.uuid4()}"}
    scoped = {**session, "max_block_size": "77"}
    default = settings_seen(http, session, ["max_block_size"])
    # The session now remembers max_block_size at its default ...
    assert settings_seen(http, scoped, ["max_block_size"]) == {"max_block_size": "77"}
    assert settings_seen(http, session, ["max_block_size"]) == default
    # ... until a SET changes it.
    assert http.post("/", params=session, content=statement).status_code == 200
    assert settings_seen(http, scoped, ["max_block_size"]) == {"max_block_size": "77"}
    assert settings_seen(http, session, ["max_block_size"]) == {"max_block_size": "1234"}


def test_url_settings_without_a_session_apply_to_that_request_only(http):
    names = list(DBT_URL_SETTINGS)
    defaults = settings_seen(http, {}, names)
    assert defaults != DBT_SETTINGS_APPLIED
    assert settings_seen(http, DBT_URL_SETTINGS, names) == DBT_SETTINGS_APPLIED
    assert settings_seen(http, {}, names) == defaults


def test_unknown_url_setting_in_a_session_is_refused_and_changes_no_setting(http):
    session = {"session_id": f"s-{uuid.uuid4()}"}
    assert http.post("/", params=session, content=b"SET max_block_size = 1234").status_code == 200
    refused = http.post(
        "/", params={**session, "max_block_size": "77", "no_such_setting": "1"}, content=b"SELECT 1"
    )
    assert refused.status_code == 500
    assert refused.headers["X-ClickHouse-Exception-Code"] == "115"  # UNKNOWN_SETTING
    assert settings_seen(http, session, ["max_block_size"]) == {"max_block_size": "1234"}


def test_unknown_session_with_session_check_is_an_error(http):
    response = http.post(
        "/", params={"session_id": "never-made", "session_check": "1"}, content=b"SELECT 1"
    )
    assert response.status_code == 500
    assert response.headers["X-ClickHouse-Exception-Code"] == "372"


def test_concurrent_request_on_a_busy_session_is_refused_not_queued(http, gateway_url):
    session = {"session_id": f"s-{uuid.uuid4()}"}
    started = threading.Event()
    long_answer: dict[str, httpx.Response] = {}

    def long_query():
        with httpx.Client(base_url=gateway_url, timeout=60) as other:
            started.set()
            while True:  # this test's own polling may hold the session for a moment
                long_answer["r"] = other.post(
                    "/", params=session, content=b"SELECT sleepEachRow(0.5) FROM numbers(6)"
                )
                if long_answer["r"].headers.get("X-ClickHouse-Exception-Code") != "373":
                    break

    worker = threading.Thread(target=long_query)
    worker.start()
    started.wait()
    refused = None
    while worker.is_alive():  # until the long query is seen holding the session
        refused = http.post("/", params=session, content=b"SELECT 1")
        if refused.status_code != 200:
            break
    worker.join()
    assert refused is not None and refused.headers["X-ClickHouse-Exception-Code"] == "373"
    assert long_answer["r"].status_code == 200
    assert http.post("/", params=session, content=b"SELECT 1").text == "1\n"


def test_large_result_streams_in_many_chunks_with_exact_bytes(http):
    rows = 20_000_000
    with http.stream(
        "POST", "/", content=f"SELECT number FROM numbers({rows}) FORMAT RowBinary".encode()
    ) as response:
        assert response.status_code == 200
        chunks = 0
        total = 0
        last = b""
        for chunk in response.iter_raw():
            chunks += 1
            total += len(chunk)
            last = chunk
    assert total == rows * 8
    assert int.from_bytes(last[-8:], "little") == rows - 1
    assert chunks > 10


def test_insert_select_runs_once(http, table):
    response = http.post(
        "/", content=f"INSERT INTO {table} SELECT number, toString(number) FROM numbers(10)"
    )
    assert response.status_code == 200, response.text
    assert count_and_sum(http, table) == "10\t45\n"


def test_server_survives_a_client_that_disconnects_mid_body(gateway_url, http, table):
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(gateway_url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(
            f"POST /?query=INSERT%20INTO%20{table}%20FORMAT%20CSV HTTP/1.1\r\nHost: x\r\n"
            "Content-Length: 1000000\r\n\r\n".encode()
            + csv_rows(0, 100)
        )
    assert http.get("/ping").text == "Ok.\n"
    assert http.post("/", content=b"SELECT 1").text == "1\n"


def test_engine_runs_merges_and_mutations_on_a_server_sized_pool(http):
    # chdb's own default is 2 threads; a DELETE then queues behind merges (engine.SERVER_SETTINGS)
    answer = http.post(
        "/",
        content=b"SELECT value FROM system.server_settings WHERE name = 'background_pool_size'",
    )
    assert answer.status_code == 200, answer.text
    assert answer.text.strip() == "16"
