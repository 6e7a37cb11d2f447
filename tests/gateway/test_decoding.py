"""Property tests of the pure parts: body decoders and the statement/data split."""

from __future__ import annotations

import gzip
import zlib

import lz4.frame
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from lms_analytics.clickhouse_gateway.compression import MalformedBody, decoder_for
from lms_analytics.clickhouse_gateway.statement import find_insert

COMPRESSORS = {
    "lz4": lz4.frame.compress,
    "zstd": zstandard.ZstdCompressor().compress,
    "gzip": gzip.compress,
    "deflate": zlib.compress,
}


@settings(max_examples=60, deadline=None)
@given(
    encoding=st.sampled_from(sorted(COMPRESSORS)),
    frames=st.lists(st.binary(max_size=5000), min_size=1, max_size=6),
    chunk=st.integers(min_value=1, max_value=4096),
)
def test_any_frames_in_any_chunking_decode_to_the_original(encoding, frames, chunk):
    body = b"".join(COMPRESSORS[encoding](frame) for frame in frames)
    decoder = decoder_for(encoding)
    out = b"".join(decoder.feed(body[i : i + chunk]) for i in range(0, len(body), chunk))
    out += decoder.finish()
    assert out == b"".join(frames)


@pytest.mark.parametrize("encoding", sorted(COMPRESSORS))
def test_truncated_body_is_reported(encoding):
    body = COMPRESSORS[encoding](b"x" * 10_000)
    decoder = decoder_for(encoding)
    with pytest.raises(MalformedBody):
        decoder.feed(body[: len(body) // 2])
        decoder.finish()


identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(
    table=identifiers,
    columns=st.lists(identifiers, max_size=4),
    fmt=st.sampled_from(["Native", "CSV", "TSV", "RowBinary", "JSONEachRow"]),
    newline=st.sampled_from(["\n", "\r\n", " \n", "\t\n"]),
    data=st.binary(max_size=200),
)
def test_insert_data_starts_right_after_the_format_line(table, columns, fmt, newline, data):
    column_list = f" ({', '.join(columns)})" if columns else ""
    head = f"INSERT INTO {table}{column_list} FORMAT {fmt}{newline}".encode() + data
    statement = find_insert(head)
    assert statement is not None
    assert statement.sql == f"INSERT INTO {table}{column_list}"
    assert statement.data_format == fmt
    assert statement.data_start == data


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO t VALUES (1, 'FORMAT CSV')",
        "INSERT INTO t SELECT * FROM s FORMAT TSV",
        "SELECT 1 FORMAT JSON",
        "CREATE TABLE t (a UInt8) ENGINE = Memory",
    ],
)
def test_statements_without_raw_data_are_not_inserts(sql):
    assert find_insert(sql.encode()) is None
