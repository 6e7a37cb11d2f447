"""Insert rate of the ClickHouse gateway: 1M rows, each Content-Encoding, two views.

- `gateway`: the HTTP request alone, with a Native body built and compressed beforehand,
  so the figure is the gateway + engine (decode, parse, write) and nothing of the client.
- `clickhouse-connect`: `client.insert` of numpy columns, as application code does it
  (the client's serialisation and compression included).

Runs its own gateway on a free loopback port in a temporary folder and prints a table.
Usage: python benchmarks/gateway_insert.py [--rows N] [--repeat K]
"""

from __future__ import annotations

import argparse
import gzip
import os
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import clickhouse_connect
import httpx
import lz4.frame
import numpy as np
import zstandard

BLOCK_ROWS = 65_536
TABLE = "bench_insert"
COLUMNS = "id UInt64, user_id UInt32, score Float64, tag String"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gateway(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = (folder / "gateway.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lms_analytics",
            "clickhouse-gateway",
            "--data",
            str(folder / "data"),
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"gateway did not start, see {folder / 'gateway.log'}")


def native_blocks(http: httpx.Client, rows: int) -> list[bytes]:
    """The rows as Native blocks, produced by the engine itself."""
    blocks = []
    for start in range(0, rows, BLOCK_ROWS):
        count = min(BLOCK_ROWS, rows - start)
        sql = (
            f"SELECT number AS id, toUInt32(number % 9973) AS user_id, number * 0.25 AS score, "
            f"concat('t', toString(number % 100)) AS tag FROM numbers({start}, {count}) "
            "FORMAT Native"
        )
        blocks.append(http.post("/", content=sql.encode()).content)
    return blocks


COMPRESSORS = {
    "none": None,
    "lz4": lz4.frame.compress,
    "zstd": zstandard.ZstdCompressor().compress,
    "gzip": gzip.compress,
    "deflate": zlib.compress,
}


def reset(http: httpx.Client) -> None:
    http.post("/", content=f"DROP TABLE IF EXISTS {TABLE}".encode()).raise_for_status()
    http.post(
        "/", content=f"CREATE TABLE {TABLE} ({COLUMNS}) ENGINE = MergeTree ORDER BY id".encode()
    ).raise_for_status()


def check(http: httpx.Client, rows: int) -> None:
    count = int(http.post("/", content=f"SELECT count() FROM {TABLE}".encode()).text)
    if count != rows:
        raise SystemExit(f"expected {rows} rows, found {count}")


def bench_gateway(http: httpx.Client, blocks: list[bytes], rows: int, repeat: int):
    prefix = f"INSERT INTO {TABLE} FORMAT Native\n".encode()
    for name, compress in COMPRESSORS.items():
        if compress is None:
            body, headers = prefix + b"".join(blocks), {}
        else:
            body = b"".join(compress(part) for part in [prefix, *blocks])
            headers = {"Content-Encoding": name}
        best = float("inf")
        for _ in range(repeat):
            reset(http)
            started = time.perf_counter()
            http.post("/", content=body, headers=headers).raise_for_status()
            best = min(best, time.perf_counter() - started)
            check(http, rows)
        yield name, len(body), best


def bench_client(url: str, rows: int, repeat: int):
    host, port = url.removeprefix("http://").split(":")
    ids = np.arange(rows, dtype=np.uint64)
    columns = [
        ids,
        (ids % 9973).astype(np.uint32),
        ids * 0.25,
        [f"t{i % 100}" for i in range(rows)],
    ]
    for compression in ["lz4", "zstd", "gzip", None]:
        client = clickhouse_connect.get_client(
            host=host, port=int(port), compress=compression or False
        )
        best = float("inf")
        for _ in range(repeat):
            client.command(f"DROP TABLE IF EXISTS {TABLE}")
            client.command(f"CREATE TABLE {TABLE} ({COLUMNS}) ENGINE = MergeTree ORDER BY id")
            started = time.perf_counter()
            client.insert(
                TABLE, columns, column_names=["id", "user_id", "score", "tag"], column_oriented=True
            )
            best = min(best, time.perf_counter() - started)
            assert client.command(f"SELECT count() FROM {TABLE}") == rows
        yield compression or "none", best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        process, url = start_gateway(Path(tmp))
        try:
            with httpx.Client(base_url=url, timeout=600) as http:
                blocks = native_blocks(http, args.rows)
                print(
                    f"{args.rows:,} rows x 4 columns, best of {args.repeat}, {os.cpu_count()} cores"
                )
                print(f"{'path':<20}{'encoding':<10}{'body MB':>9}{'seconds':>9}{'rows/s':>13}")
                for name, size, seconds in bench_gateway(http, blocks, args.rows, args.repeat):
                    print(
                        f"{'gateway':<20}{name:<10}{size / 1e6:>9.1f}{seconds:>9.3f}"
                        f"{args.rows / seconds:>13,.0f}"
                    )
            for name, seconds in bench_client(url, args.rows, args.repeat):
                print(
                    f"{'clickhouse-connect':<20}{name:<10}{'':>9}{seconds:>9.3f}"
                    f"{args.rows / seconds:>13,.0f}"
                )
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
