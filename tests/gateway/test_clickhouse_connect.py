"""The gateway as clickhouse-connect sees it: query, command, insert, settings, errors, ping."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import numpy as np
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError


@pytest.fixture()
def client(new_client):
    client = new_client()
    yield client
    client.close()


@pytest.fixture()
def table(client) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    client.command(
        f"CREATE TABLE {name} (id UInt64, name String, amount Decimal(12, 2), "
        "at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY id"
    )
    yield name
    client.command(f"DROP TABLE IF EXISTS {name}")


def test_ping_answers_true(client):
    assert client.ping() is True


def test_query_returns_typed_rows(client):
    result = client.query(
        "SELECT number AS n, toString(number) AS s, toDecimal64(number, 2) / 4 AS d "
        "FROM numbers(3) ORDER BY n"
    )
    assert result.column_names == ("n", "s", "d")
    assert result.result_rows == [
        (0, "0", Decimal("0.00")),
        (1, "1", Decimal("0.25")),
        (2, "2", Decimal("0.50")),
    ]


def test_command_returns_scalar_and_runs_ddl(client):
    assert client.command("SELECT 40 + 2") == 42
    name = f"t_{uuid.uuid4().hex[:8]}"
    client.command(f"CREATE TABLE {name} (a UInt8) ENGINE = Memory")
    assert client.command(f"EXISTS TABLE {name}") == 1
    client.command(f"DROP TABLE {name}")
    assert client.command(f"EXISTS TABLE {name}") == 0


def test_insert_rows_round_trip_exactly(client, table):
    at = datetime(2026, 11, 24, 10, 15, 0, 123000)
    rows = [(1, "alpha", Decimal("10.50"), at), (2, "beta", Decimal("-3.25"), at)]
    summary = client.insert(table, rows, column_names=["id", "name", "amount", "at"])
    assert summary.written_rows == 2
    assert client.query(f"SELECT * FROM {table} ORDER BY id").result_rows == rows


def test_server_side_parameters_are_bound_not_spliced(client):
    hostile = "x'); DROP TABLE users; --"
    result = client.query(
        "SELECT {s:String} AS s, {n:UInt32} + 1 AS n", parameters={"s": hostile, "n": 41}
    )
    assert result.result_rows == [(hostile, 42)]


def test_settings_apply_to_one_query_only(client):
    assert client.command("SELECT getSetting('max_threads')", settings={"max_threads": 3}) == 3
    assert client.command("SELECT getSetting('max_threads')") != 3


def test_set_statement_persists_in_the_session(client):
    client.command("SET max_block_size = 1234")
    assert client.command("SELECT getSetting('max_block_size')") == 1234


def test_temporary_table_lives_in_the_session(client, new_client):
    client.command("CREATE TEMPORARY TABLE scratch (a Int32)")
    client.command("INSERT INTO scratch VALUES (7), (8)")
    assert client.command("SELECT sum(a) FROM scratch") == 15
    other = new_client()
    with pytest.raises(DatabaseError):
        other.command("SELECT sum(a) FROM scratch")


def test_database_parameter_selects_the_database(new_client):
    database = f"db_{uuid.uuid4().hex[:8]}"
    admin = new_client()
    admin.command(f"CREATE DATABASE {database}")
    admin.command(f"CREATE TABLE {database}.only_here (a UInt8) ENGINE = Memory")
    scoped = new_client(database=database)
    assert scoped.command("SELECT currentDatabase()") == database
    assert scoped.command("EXISTS TABLE only_here") == 1
    assert admin.command("SELECT currentDatabase()") == "default"
    admin.command(f"DROP DATABASE {database}")


def test_engine_error_raises_with_clickhouse_code(client):
    with pytest.raises(DatabaseError) as raised:
        client.query("SELECT * FROM no_such_table")
    assert "Code: 60" in str(raised.value)
    assert "UNKNOWN_TABLE" in str(raised.value)


def test_error_in_the_middle_of_a_stream_is_raised(client):
    with pytest.raises(DatabaseError) as raised:
        _ = client.query(
            "SELECT throwIf(number = 300000, 'boom') FROM numbers(1000000)"
        ).result_rows
    assert "boom" in str(raised.value)


def test_query_df_and_numpy_column_insert(client, table):
    ids = np.arange(1000, dtype=np.uint64)
    client.insert(
        table,
        [
            ids,
            [f"n{i}" for i in ids],
            [Decimal(i) / 4 for i in range(1000)],
            [datetime(2026, 1, 1)] * 1000,
        ],
        column_names=["id", "name", "amount", "at"],
        column_oriented=True,
    )
    frame = client.query_df(f"SELECT id, name FROM {table} ORDER BY id")
    assert len(frame) == 1000
    assert frame["id"].sum() == ids.sum()
    assert frame["name"].iloc[999] == "n999"


@pytest.mark.slow
@pytest.mark.parametrize("compression", ["lz4", "zstd", "gzip", None])
def test_million_row_insert_is_exact_for_each_compression(new_client, compression):
    client = new_client(compress=compression or False)
    name = f"million_{compression or 'plain'}_{uuid.uuid4().hex[:6]}"
    client.command(
        f"CREATE TABLE {name} (id UInt64, user UInt32, score Float64, tag String) "
        "ENGINE = MergeTree ORDER BY id"
    )
    n = 1_000_000
    ids = np.arange(n, dtype=np.uint64)
    users = (ids % 9973).astype(np.uint32)
    scores = ids.astype(np.float64) * 0.25
    tags = [f"t{i % 100}" for i in range(n)]
    summary = client.insert(
        name,
        [ids, users, scores, tags],
        column_names=["id", "user", "score", "tag"],
        column_oriented=True,
    )
    assert summary.written_rows == n
    count, id_sum, user_sum, score_sum, tags_distinct = client.query(
        f"SELECT count(), sum(id), sum(user), sum(score), uniqExact(tag) FROM {name}"
    ).result_rows[0]
    assert count == n
    assert id_sum == int(ids.sum())
    assert user_sum == int(users.astype(np.uint64).sum())
    assert score_sum == float(scores.sum())
    assert tags_distinct == 100
    client.command(f"DROP TABLE {name}")
