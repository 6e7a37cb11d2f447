"""Cost of a dbt build: full refresh vs incremental after 1% new events, per warehouse size.

Starts its own ClickHouse gateway in a temporary home on free ports and stops it at the end.
For each size N (default 1M and 5M events) it generates N * 1.01 simulated events of one world
(time-ordered delivery), writes the first N straight into an isolated raw copy the way the
consumer writes them (decode + table_columns, see tests/support/dbt_harness.py), times
`dbt run --full-refresh` (models only, no tests), then writes the remaining 1% (the later time
window of the same world: same users, courses, enrollments) and times an incremental `dbt run`.

Prints size, full-refresh seconds, incremental seconds, their ratio and the five slowest models
of each run, plus a second incremental run with nothing new (the fixed cost of any run).
Target: incremental <= 10% of the full refresh at 5M events.

Vars: `ingest_lookback_minutes: 0`. Rows are written here with a synthetic `ingested_at`: the
N base rows at T0, the 1% at T0 + 1 hour. With the project default (10 minutes) an incremental
run re-reads raw rows ingested up to 10 minutes before its watermark; in production that is the
tail of the stream, but here every base row shares one ingested_at, so the default lookback would
re-read the whole warehouse and measure a full rebuild. A lookback of 0 makes the incremental run
read exactly the new rows (strictly after the watermark).

Usage: python benchmarks/build_cost.py [--sizes 1000000,5000000] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ingestion.simulator import SimulationConfig  # noqa: E402
from ingestion.simulator.simulation import Simulation, relaxed_gc  # noqa: E402
from lms_analytics.settings import Settings  # noqa: E402
from lms_analytics.stack.clickhouse import ClickHouse  # noqa: E402
from lms_analytics.stack.manager import StackManager  # noqa: E402
from tests.support.dbt_harness import DbtHarness, DbtRun  # noqa: E402

SIMULATED_END = datetime(2026, 11, 1, tzinfo=UTC)
NEW_SHARE = 0.01
TARGET_RATIO = 0.10
CHUNK = 100_000
VARS = {"ingest_lookback_minutes": 0}
BASE_CONFIG = {"orgs": 4, "courses": 40, "days": 30, "seed": 11, "end": SIMULATED_END}
DRY_USERS = 300


# --- stack ------------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


@contextlib.contextmanager
def local_stack(keep: bool) -> Iterator[Settings]:
    """A ClickHouse gateway only (no Kafka, no PostgreSQL) in a temporary home."""
    home = Path(tempfile.mkdtemp(prefix="build-cost-"))
    postgres_port, kafka_port, clickhouse_port, smtp_port = free_ports(4)
    for key in [key for key in os.environ if key.upper().startswith("LMS_ANALYTICS_")]:
        del os.environ[key]  # nothing from the caller's own stack
    settings = Settings(
        home=home,
        bind_host="127.0.0.1",
        postgres_url=None,
        postgres_port=postgres_port,
        kafka_bootstrap_servers=None,
        kafka_port=kafka_port,
        clickhouse_url=None,
        clickhouse_port=clickhouse_port,
        smtp_port=smtp_port,
    )
    manager = StackManager(settings, services=[ClickHouse(settings)])
    try:
        manager.up()
        yield settings
    finally:
        manager.down()
        if keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


# --- events -------------------------------------------------------------------------------------


def simulation_config(users: int) -> SimulationConfig:
    return SimulationConfig(users=users, **BASE_CONFIG)


def events_per_user() -> float:
    """Dry count: events a small world of the same shape yields, per user."""
    with relaxed_gc():
        count = sum(1 for _ in Simulation(simulation_config(DRY_USERS)))
    return count / DRY_USERS


def sized_config(total: int, per_user: float) -> SimulationConfig:
    """A world with about 10% more events than `total` (the stream is cut at `total`)."""
    return simulation_config(max(DRY_USERS, math.ceil(total * 1.10 / per_user)))


def load(harness: DbtHarness, messages: Iterator[Any], count: int, ingested_at: datetime) -> int:
    """Write the next `count` messages into the harness's raw tables; the number written."""
    written = 0
    while written < count:
        chunk = list(itertools.islice(messages, min(CHUNK, count - written)))
        if not chunk:
            break
        harness.load_events(chunk, ingested_at=ingested_at)
        written += len(chunk)
    return written


# --- dbt ------------------------------------------------------------------------------------------


def models(run: DbtRun) -> list[tuple[str, float]]:
    """(model, seconds) of the run's models, slowest first."""
    timed = [
        (r.node.name, float(r.execution_time or 0.0))
        for r in run.results
        if str(r.node.resource_type) == "model"
    ]
    return sorted(timed, key=lambda item: item[1], reverse=True)


def timed_run(harness: DbtHarness, *, full_refresh: bool) -> tuple[float, DbtRun]:
    started = time.perf_counter()
    run = harness.build(command="run", full_refresh=full_refresh, vars=VARS)
    return time.perf_counter() - started, run


def measure(settings: Settings, size: int, per_user: float, work: Path) -> dict[str, Any]:
    new = math.ceil(size * NEW_SHARE)
    config = sized_config(size + new, per_user)
    harness = DbtHarness(settings, work_dir=work / f"n{size}")
    try:
        harness.create_raw()
        harness.build(command="seed", vars=VARS)  # fx_rates; not timed
        simulation = Simulation(config)
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        with relaxed_gc():
            messages = iter(simulation)
            started = time.perf_counter()
            base = load(harness, messages, size, t0)
            load_seconds = time.perf_counter() - started
            if base < size:
                raise SystemExit(f"the world gave {base} events, fewer than {size}")
            print(
                f"[{size:,}] loaded {base:,} events ({config.users:,} users, "
                f"{config.courses} courses, {config.days} days) in {load_seconds:.0f}s",
                flush=True,
            )
            full_seconds, full = timed_run(harness, full_refresh=True)
            print(f"[{size:,}] full refresh {full_seconds:.1f}s", flush=True)
            added = load(harness, messages, new, t0 + timedelta(hours=1))
        if added < new:
            raise SystemExit(f"the world gave {added} new events, fewer than {new}")
        incremental_seconds, incremental = timed_run(harness, full_refresh=False)
        print(f"[{size:,}] incremental {incremental_seconds:.1f}s (+{added:,})", flush=True)
        # the same incremental run with nothing new: the fixed cost of a run (hooks, 32 models)
        idle_seconds, _ = timed_run(harness, full_refresh=False)
        print(f"[{size:,}] incremental, nothing new {idle_seconds:.1f}s", flush=True)
        raw_rows = sum(
            harness.scalar(f"SELECT count() FROM {harness.raw_schema}.{name}")
            for name in [
                row[0]
                for row in harness.client.query(
                    f"SELECT name FROM system.tables WHERE database = '{harness.raw_schema}'"
                ).result_rows
            ]
        )
        return {
            "size": size,
            "new": added,
            "raw_rows": raw_rows,
            "full": full_seconds,
            "incremental": incremental_seconds,
            "idle": idle_seconds,
            "full_models": models(full),
            "incremental_models": models(incremental),
        }
    finally:
        harness.drop()


# --- report ---------------------------------------------------------------------------------------


def report(results: list[dict[str, Any]]) -> None:
    print()
    print(
        "vars: ingest_lookback_minutes=0 (base rows share one synthetic ingested_at; the default "
        "10-minute lookback would re-read them all, see the module doc)"
    )
    header = (
        f"{'events':>10} {'new':>7} {'full refresh s':>15} {'incremental s':>14} {'ratio':>7} "
        f"{'no-op incremental s':>20}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        ratio = r["incremental"] / r["full"] if r["full"] else float("nan")
        print(
            f"{r['size']:>10,} {r['new']:>7,} {r['full']:>15.1f} {r['incremental']:>14.1f} "
            f"{ratio:>7.1%} {r['idle']:>20.1f}"
        )
    for r in results:
        for label in ("full", "incremental"):
            top = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in r[f"{label}_models"][:5])
            print(f"{r['size']:>10,} {label:<11} top 5: {top}")
    biggest = max(results, key=lambda r: r["size"])
    ratio = biggest["incremental"] / biggest["full"] if biggest["full"] else float("nan")
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(
        f"at {biggest['size']:,} events the incremental run is {ratio:.1%} of the full refresh: "
        f"{verdict} the {TARGET_RATIO:.0%} target"
    )
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(
            f"incremental {first['incremental']:.1f}s -> {last['incremental']:.1f}s for "
            f"{last['size'] / first['size']:.1f}x the warehouse and "
            f"{last['new'] / first['new']:.1f}x the new events"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="1000000,5000000",
        help="comma-separated warehouse sizes in events (default 1000000,5000000)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary stack home")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # stop the gateway on `kill` too (the stack is stopped in a `finally`)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = [int(part.replace("_", "")) for part in args.sizes.split(",") if part.strip()]
    per_user = events_per_user()
    print(f"dry count: {per_user:.0f} events per user ({DRY_USERS} users, {BASE_CONFIG})")
    results: list[dict[str, Any]] = []
    with local_stack(args.keep) as settings, tempfile.TemporaryDirectory() as work:
        for size in sizes:
            results.append(measure(settings, size, per_user, Path(work)))
    report(results)


if __name__ == "__main__":
    main()
