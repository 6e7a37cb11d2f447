"""Rate of the traffic simulator: generation alone, then generation + production to Kafka.

- `generate`: iterate the message stream (no Kafka), wall and CPU time;
- `produce`: the same stream through `produce_messages` (lz4, acks=all) to a broker, wall time.

Without --bootstrap the benchmark runs its own memory-only Tansu broker on a free loopback port
and stops it at the end. Prints a table.
Usage: python benchmarks/simulator_rate.py [--users N] [--days D] [--skip-produce]
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from ingestion.simulator.producer import check_broker, produce_messages
from ingestion.simulator.simulation import Simulation, SimulationConfig, relaxed_gc
from lms_analytics.settings import Settings
from lms_analytics.stack.kafka import broker_binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def private_broker() -> Iterator[str]:
    binary = broker_binary()
    if binary is None:
        raise SystemExit("no Tansu binary: install the dependencies (make install)")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield f"127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(10)


def config(args: argparse.Namespace) -> SimulationConfig:
    return SimulationConfig(
        orgs=args.orgs,
        users=args.users,
        courses=args.courses,
        days=args.days,
        seed=args.seed,
        end=datetime(2026, 11, 1, tzinfo=UTC),
        duplicates=args.faults,
        late=args.faults,
        malformed=args.faults / 5,
    )


def measure_generation(args: argparse.Namespace) -> tuple[int, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    simulation = Simulation(config(args))
    with relaxed_gc():
        count = sum(1 for _ in simulation)
    return count, time.perf_counter() - wall, time.process_time() - cpu


def measure_production(args: argparse.Namespace, bootstrap: str) -> tuple[int, float]:
    settings = Settings(
        kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=f"bench{uuid.uuid4().hex[:6]}."
    )
    check_broker(settings)
    wall = time.perf_counter()
    simulation = Simulation(config(args))
    with relaxed_gc():
        report = produce_messages(settings, simulation)
    return report.sent, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=10)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--courses", type=int, default=40)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--faults", type=float, default=0.02, help="duplicates = late share")
    parser.add_argument("--bootstrap", help="an existing broker (default: a private one)")
    parser.add_argument("--skip-produce", action="store_true")
    args = parser.parse_args()

    count, wall, cpu = measure_generation(args)
    rows = [("generate", count, wall, f"cpu {cpu:.1f} s, {count / cpu:,.0f}/s cpu")]
    if not args.skip_produce:
        with contextlib.ExitStack() as stack:
            bootstrap = args.bootstrap or stack.enter_context(private_broker())
            sent, seconds = measure_production(args, bootstrap)
        rows.append(("generate + produce", sent, seconds, "lz4, acks=all, 1 partition"))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.users:,} users, {args.courses} courses, {args.orgs} orgs, {args.days} days, "
        f"faults {args.faults:g}; peak RSS {peak_mb:,.0f} MB"
    )
    print(f"{'step':<20} {'messages':>12} {'seconds':>8} {'messages/s':>12}  notes")
    for step, messages, seconds, notes in rows:
        print(f"{step:<20} {messages:>12,} {seconds:>8.1f} {messages / seconds:>12,.0f}  {notes}")


if __name__ == "__main__":
    main()
