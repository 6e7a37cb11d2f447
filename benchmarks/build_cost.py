"""Cost of a dbt build: full refresh vs incremental after 1% new events, per warehouse size.

Starts its own ClickHouse gateway in a temporary home on free ports and stops it at the end.
For each size N (default 1M and 5M events) it generates N * 1.01 + FIXED_NEW simulated events
of one world (time-ordered delivery), writes the first N straight into an isolated raw copy the
way the consumer writes them (decode + table_columns, see tests/support/dbt_harness.py), then
per round (`--rounds`, default 1), back to back:
  1. `dbt run --full-refresh` (models only, no tests) over the N events;
  2. writes the next 1% (the later time window of the same world: same users, courses,
     enrollments) and times an incremental `dbt run`;
  3. an incremental run with nothing new (the fixed cost of any run);
  4. writes the next FIXED_NEW events (`--fixed-new`, default 10,000: the same absolute number
     at every size) and times an incremental run: "the incremental cost grows with the new
     data, not with the warehouse" is this column staying flat across sizes.
A later round first deletes the raw rows written after the N events, so it measures the same
data again without generating it again.
After the full refresh it merges the tables the models wrote into one part per partition
(`compact`, untimed), and before each timed run it waits until the engine runs no background
merge or mutation (`settle`); `--no-settle` does neither, as sessions 1-7 measured: the merge of
a full refresh's parts costs 13-17 s of CPU at 5M events and otherwise lands in one of the next
runs.

Prints per round: size, new events, full-refresh seconds, incremental seconds, their ratio,
the no-op and fixed-size incremental seconds; then the CPU seconds of each run, of the
ClickHouse gateway process (the engine and its HTTP handling) and of this process (dbt's
Python, every thread): on a small box their sum against cores x wall tells whether a run waits
on CPU; then the slowest models of each run with the rows each incremental model recomputed
(`rows_affected` of its adapter response, set by macros/incremental_delete_insert.sql; `-` for
models that append or rebuild).
Target: incremental <= 10% of the full refresh at 5M events.

Vars: `ingest_lookback_minutes: 0`. Rows are written here with a synthetic `ingested_at`: the
N base rows at T0, the 1% at T0 + 1 hour. Staging re-reads the raw rows ingested up to the
lookback (project default 10 minutes) before the newest row it holds, and keeps the event ids it
does not hold yet; in production that is the tail of the stream, but here every base row shares
one ingested_at, so the default lookback would make staging re-read (and skip) the whole raw
copy. A lookback of 0 makes it read exactly the new rows. The models after staging do not use
the lookback: they read what staging added by staged_at (exact).

Usage: python benchmarks/build_cost.py [--sizes 1000000,5000000] [--rounds 2] [--fixed-new 10000]
       [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

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
FIXED_NEW = 10_000
TARGET_RATIO = 0.10
CHUNK = 100_000
VARS = {"ingest_lookback_minutes": 0}
BASE_CONFIG = {"orgs": 4, "courses": 40, "days": 30, "seed": 11, "end": SIMULATED_END}
DRY_USERS = 300
SETTLE_TIMEOUT = 600.0  # seconds
SETTLE_POLL = 0.5
MODEL_LAYERS = ("staging", "intermediate", "analytics")


# --- stack ------------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


@contextlib.contextmanager
def local_stack(keep: bool) -> Iterator[tuple[Settings, psutil.Process]]:
    """A ClickHouse gateway only (no Kafka, no PostgreSQL) in a temporary home; yields the
    settings and the gateway's process (for its CPU time)."""
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
        record = manager.records.load(ClickHouse.name)
        if record is None:
            raise SystemExit("the ClickHouse gateway left no run record")
        yield settings, psutil.Process(record.pid)
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


def models(run: DbtRun) -> list[tuple[str, float, int | None]]:
    """(model, seconds, rows recomputed or None) of the run's models, slowest first."""
    timed = []
    for r in run.results:
        if str(r.node.resource_type) != "model":
            continue
        response = r.adapter_response or {}
        rows = response.get("rows_affected") if isinstance(response, dict) else None
        timed.append((r.node.name, float(r.execution_time or 0.0), rows))
    return sorted(timed, key=lambda item: item[1], reverse=True)


@dataclass(frozen=True)
class Timed:
    """One timed dbt run: wall seconds and the CPU seconds it cost each process."""

    seconds: float
    clickhouse_cpu: float  # the gateway process: the ClickHouse engine and its HTTP handling
    dbt_cpu: float  # this process: dbt's Python, every thread
    run: DbtRun
    settled: float = 0.0  # seconds waited for merges and mutations before the run (settle)


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


@contextlib.contextmanager
def own_heap() -> Iterator[None]:
    """Keep the objects this process holds before a timed run out of that run's collections.

    dbt runs in this process, after the events were generated and after earlier invocations,
    each of which leaves 20-35k objects behind: a full garbage collection inside a timed run
    walked all of them and stopped both dbt threads for 0.53 s (a +10k run at 5M events: its
    page_views and int_learner_course_items took 0.7-0.9 s instead of 0.2-0.4 s). In production
    each dbt run is a process of its own (dagster-dbt starts `dbt build`) that holds none of
    them. Frozen too: dbt's modules and the cached manifest, which such a process does hold, but
    walks only in a full collection. The run's own objects are collected as usual.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def timed_run(
    harness: DbtHarness, gateway: psutil.Process, *, full_refresh: bool, settle_first: bool = True
) -> Timed:
    waited = settle(harness) if settle_first else 0.0
    with own_heap():
        clickhouse_before, dbt_before = cpu_seconds(gateway), time.process_time()
        started = time.perf_counter()
        # without dbt's JSON artifacts, as the Dagster assets run dbt
        # (DbtBuildConfig.write_artifacts)
        run = harness.build(
            command="run", full_refresh=full_refresh, vars=VARS, extra_args=["--no-write-json"]
        )
        seconds = time.perf_counter() - started
        clickhouse_cpu = cpu_seconds(gateway) - clickhouse_before
        dbt_cpu = time.process_time() - dbt_before
    return Timed(seconds, clickhouse_cpu, dbt_cpu, run, settled=waited)


def settle(harness: DbtHarness, timeout: float = SETTLE_TIMEOUT) -> float:
    """Wait until ClickHouse runs no merge or mutation; the seconds waited.

    A full refresh leaves its large tables in several parts, and merging them costs 13-17 s of
    CPU at 5M events in the background: without a wait that merge lands, at random, in one of
    the next timed runs and takes one of the box's two cores. An incremental run in production
    comes long after the rebuild it follows, so the runs here are timed on a settled engine.
    """
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        (busy,) = harness.client.query(
            "SELECT (SELECT count() FROM system.merges)"
            " + (SELECT count() FROM system.mutations WHERE NOT is_done)"
        ).result_rows[0]
        if not busy:
            break
        time.sleep(SETTLE_POLL)
    return time.perf_counter() - started


def compact(harness: DbtHarness) -> float:
    """Merge each table the models wrote into one part per partition; the seconds it took.

    A full refresh writes its large tables in parts of about a million rows, and ClickHouse
    merges them later, when new inserts wake its merge scheduler: at 5M events that merge cost
    13-17 s of CPU inside the next incremental run, whose wall time it then measured. In
    production the rebuild's merge is long done when the next scheduled run comes, so after a
    full refresh the benchmark does it at once (untimed, reported on its own)."""
    started = time.perf_counter()
    layers = ", ".join(f"'{harness.database(layer)}'" for layer in MODEL_LAYERS)
    tables = harness.client.query(
        "SELECT DISTINCT database, table FROM system.parts"
        f" WHERE active AND database IN ({layers})"
        " GROUP BY database, table, partition HAVING count() > 1"
    ).result_rows
    for database, table in tables:
        harness.client.command(f"OPTIMIZE TABLE `{database}`.`{table}` FINAL")
    return time.perf_counter() - started


def waited(timed: Timed) -> str:
    return f" (after {timed.settled:.1f}s of merges)" if timed.settled >= SETTLE_POLL else ""


def take(messages: Iterator[Any], count: int) -> list[Any]:
    taken = list(itertools.islice(messages, count))
    if len(taken) < count:
        raise SystemExit(f"the world gave {len(taken)} events, fewer than {count}")
    return taken


def forget_after(harness: DbtHarness, t0: datetime) -> None:
    """Delete the raw rows written after the base load (a later round writes them again)."""
    for (name,) in harness.client.query(
        f"SELECT table FROM system.columns "
        f"WHERE database = '{harness.raw_schema}' AND name = 'ingested_at'"
    ).result_rows:
        harness.client.command(
            f"DELETE FROM {harness.raw_schema}.{name} "
            f"WHERE ingested_at > toDateTime64('{t0:%Y-%m-%d %H:%M:%S}', 3, 'UTC')"
        )


def measure(
    settings: Settings,
    gateway: psutil.Process,
    size: int,
    per_user: float,
    work: Path,
    rounds: int,
    fixed_new: int,
    settle_first: bool,
) -> list[dict[str, Any]]:
    new = math.ceil(size * NEW_SHARE)
    config = sized_config(size + new + fixed_new, per_user)
    harness = DbtHarness(settings, work_dir=work / f"n{size}")
    results: list[dict[str, Any]] = []
    try:
        harness.create_raw()
        harness.build(command="seed", vars=VARS)  # fx_rates; not timed
        simulation = Simulation(config)
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
        with relaxed_gc():
            messages = iter(simulation)
            started = time.perf_counter()
            base = load(harness, messages, size, t0)
            load_seconds = time.perf_counter() - started
            if base < size:
                raise SystemExit(f"the world gave {base} events, fewer than {size}")
            later = take(messages, new)
            fixed = take(messages, fixed_new)
        print(
            f"[{size:,}] loaded {base:,} events ({config.users:,} users, "
            f"{config.courses} courses, {config.days} days) in {load_seconds:.0f}s",
            flush=True,
        )
        for round_number in range(1, rounds + 1):
            if round_number > 1:
                forget_after(harness, t0)
            label = f"[{size:,} #{round_number}]"
            full = timed_run(harness, gateway, full_refresh=True, settle_first=settle_first)
            print(f"{label} full refresh {full.seconds:.1f}s{waited(full)}", flush=True)
            if settle_first:
                print(f"{label} merged its tables in {compact(harness):.1f}s (untimed)", flush=True)
            with relaxed_gc():
                added = load(harness, iter(later), new, t0 + timedelta(hours=1))
            incremental = timed_run(harness, gateway, full_refresh=False, settle_first=settle_first)
            print(
                f"{label} incremental {incremental.seconds:.1f}s (+{added:,}){waited(incremental)}",
                flush=True,
            )
            # the same incremental run with nothing new: the fixed cost of a run (hooks, models)
            idle = timed_run(harness, gateway, full_refresh=False, settle_first=settle_first)
            print(f"{label} incremental, nothing new {idle.seconds:.1f}s{waited(idle)}", flush=True)
            with relaxed_gc():
                fixed_added = load(harness, iter(fixed), fixed_new, t0 + timedelta(hours=2))
            fixed_run = timed_run(harness, gateway, full_refresh=False, settle_first=settle_first)
            print(
                f"{label} incremental {fixed_run.seconds:.1f}s (+{fixed_added:,})"
                f"{waited(fixed_run)}",
                flush=True,
            )
            timed = {"full": full, "incremental": incremental, "idle": idle, "fixed": fixed_run}
            results.append(
                {
                    "size": size,
                    "round": round_number,
                    "new": added,
                    "fixed_new": fixed_added,
                    **{kind: t.seconds for kind, t in timed.items()},
                    **{f"{kind}_cpu": (t.clickhouse_cpu, t.dbt_cpu) for kind, t in timed.items()},
                    "full_models": models(full.run),
                    "incremental_models": models(incremental.run),
                    "fixed_models": models(fixed_run.run),
                }
            )
        return results
    finally:
        harness.drop()


# --- report ---------------------------------------------------------------------------------------


def ratio_of(r: dict[str, Any]) -> float:
    return r["incremental"] / r["full"] if r["full"] else float("nan")


def spread(values: list[float]) -> str:
    return f"{min(values):.1f}-{max(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def report(results: list[dict[str, Any]]) -> None:
    print()
    print(
        "vars: ingest_lookback_minutes=0 (base rows share one synthetic ingested_at; the default "
        "10-minute lookback would re-read them all, see the module doc)"
    )
    header = (
        f"{'events':>10} {'round':>5} {'new':>7} {'full refresh s':>15} {'incremental s':>14} "
        f"{'ratio':>7} {'no-op s':>8} {'fixed new':>10} {'fixed-new incremental s':>24}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['size']:>10,} {r['round']:>5} {r['new']:>7,} {r['full']:>15.1f} "
            f"{r['incremental']:>14.1f} {ratio_of(r):>7.1%} {r['idle']:>8.1f} "
            f"{r['fixed_new']:>10,} {r['fixed']:>24.1f}"
        )
    cores = os.cpu_count() or 1
    print()
    print(f"CPU seconds per run: ClickHouse gateway + dbt (this process); {cores} cores")
    for r in results:
        cells = []
        for kind, title in (
            ("full", "full"),
            ("incremental", "incremental"),
            ("idle", "no-op"),
            ("fixed", "fixed-new"),
        ):
            clickhouse, dbt = r[f"{kind}_cpu"]
            busy = (clickhouse + dbt) / (cores * r[kind]) if r[kind] else float("nan")
            cells.append(f"{title} {clickhouse:.1f} + {dbt:.1f} ({busy:.0%} of {cores}x wall)")
        print(f"{r['size']:>10,} #{r['round']}  " + "; ".join(cells))
    for r in results:
        for label in ("full", "incremental", "fixed"):
            top = ", ".join(
                f"{name} {seconds:.1f}s" + (f" ({rows:,} rows)" if rows is not None else "")
                for name, seconds, rows in r[f"{label}_models"][:6]
            )
            print(f"{r['size']:>10,} #{r['round']} {label:<11} top: {top}")
    sizes = sorted({r["size"] for r in results})
    biggest = [r for r in results if r["size"] == sizes[-1]]
    ratios = [ratio_of(r) for r in biggest]
    verdict = "meets" if max(ratios) <= TARGET_RATIO else "misses"
    print(
        f"at {sizes[-1]:,} events the incremental run is "
        + (f"{min(ratios):.1%}-{max(ratios):.1%}" if len(ratios) > 1 else f"{ratios[0]:.1%}")
        + f" of the full refresh over {len(ratios)} round(s): {verdict} the "
        f"{TARGET_RATIO:.0%} target"
    )
    if len(sizes) > 1:
        first = [r for r in results if r["size"] == sizes[0]]
        print(
            f"for {sizes[-1] / sizes[0]:.1f}x the warehouse: 1% incremental "
            f"{spread([r['incremental'] for r in first])}s -> "
            f"{spread([r['incremental'] for r in biggest])}s; "
            f"{first[0]['fixed_new']:,} new events {spread([r['fixed'] for r in first])}s -> "
            f"{spread([r['fixed'] for r in biggest])}s; no-op "
            f"{spread([r['idle'] for r in first])}s -> {spread([r['idle'] for r in biggest])}s"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="1000000,5000000",
        help="comma-separated warehouse sizes in events (default 1000000,5000000)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="measurements per size on the same data (default 1)"
    )
    parser.add_argument(
        "--fixed-new",
        type=int,
        default=FIXED_NEW,
        help=f"new events of the fixed-size incremental run (default {FIXED_NEW:,})",
    )
    parser.add_argument(
        "--no-settle",
        dest="settle",
        action="store_false",
        help="time each run at once, without waiting for the engine's background merges "
        "(sessions 1-7 measured this way: a full refresh's merge then lands in a later run)",
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
    with local_stack(args.keep) as (settings, gateway), tempfile.TemporaryDirectory() as work:
        for size in sizes:
            results.extend(
                measure(
                    settings,
                    gateway,
                    size,
                    per_user,
                    Path(work),
                    args.rounds,
                    args.fixed_new,
                    args.settle,
                )
            )
    report(results)


if __name__ == "__main__":
    main()
