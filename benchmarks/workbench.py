"""A persistent warehouse for iterating on build cost (issue #4): load once, time runs in minutes.

benchmarks/build_cost.py starts from nothing every time (generating and loading 5M events
takes about 7 minutes of its 25). The workbench keeps one warehouse in a fixed folder, served
by a gateway on a fixed port, and the two later batches (the next 1% and FIXED_NEW events)
aside in their own raw databases, so a trial is the four timed runs of build_cost.py's round:

  python benchmarks/workbench.py serve          # the gateway, until Ctrl-C (keep it running)
  python benchmarks/workbench.py load           # once: 5M events (--size) and the two batches
  python benchmarks/workbench.py trial          # full refresh, +1%, nothing new, +FIXED_NEW
  python benchmarks/workbench.py replay Q.sql   # ClickHouse CPU and wall of one query, repeated
  python benchmarks/workbench.py snapshot       # full refresh, then keep the warehouse's state
  python benchmarks/workbench.py rerun          # from that state: the +1% run, --rounds times

A trial first deletes the raw rows of earlier trials (build_cost.forget_after), then prints
each run's seconds, CPU (gateway + dbt) and slowest models. dbt's debug log of the runs is
<home>/work/bench/logs/dbt.log; `python benchmarks/statement_costs.py <that log> --run -3`
shows where the SQL time of the +1% run went, statement by statement. `replay` takes a query
saved from that log (e.g. a model's SELECT) and runs it with FORMAT Null, to measure a rewrite
alone.
`snapshot` and `rerun` are for A/B comparisons of incremental runs: a trial's single +1% run
moves 15-20% with the box, and each costs a full refresh. `snapshot` does the full refresh
once and keeps every table's parts (hard links, no copy) in the database `bench_snapshot`;
each `rerun` round puts them back and times the +1% (or `--batch fixed`) run again, in about a
tenth of a trial's time, so rounds of two variants can alternate.
The numbers are for comparing changes on one box; the figures of record come from
build_cost.py, which starts from a fresh stack.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import build_cost  # noqa: E402
from ingestion.simulator.simulation import Simulation, relaxed_gc  # noqa: E402
from lms_analytics.settings import Settings  # noqa: E402
from lms_analytics.stack.clickhouse import ClickHouse  # noqa: E402
from lms_analytics.stack.manager import StackManager  # noqa: E402
from tests.support.dbt_harness import DbtHarness  # noqa: E402

HOME = Path("/tmp/lms-workbench")
PORT = 18923
T0 = datetime(2026, 12, 1, tzinfo=UTC)  # synthetic ingested_at of the base rows
WAREHOUSE, PERCENT, FIXED = "bench_", "bench_percent_", "bench_fixed_"  # harness prefixes
SNAPSHOT = "bench_snapshot"


def settings(home: Path, port: int) -> Settings:
    # the other services are not started; their ports only need to differ
    return Settings(
        home=home,
        bind_host="127.0.0.1",
        postgres_url=None,
        postgres_port=port + 1,
        kafka_bootstrap_servers=None,
        kafka_port=port + 2,
        clickhouse_url=None,
        clickhouse_port=port,
        smtp_port=port + 3,
    )


def harness(config: Settings, prefix: str) -> DbtHarness:
    return DbtHarness(config, work_dir=config.home / "work" / prefix.rstrip("_"), prefix=prefix)


def gateway(config: Settings) -> psutil.Process:
    record = StackManager(config, services=[ClickHouse(config)]).records.load(ClickHouse.name)
    if record is None or not psutil.pid_exists(record.pid):
        raise SystemExit("no gateway: start `python benchmarks/workbench.py serve` first")
    return psutil.Process(record.pid)


def serve(config: Settings) -> None:
    manager = StackManager(config, services=[ClickHouse(config)])
    manager.up()
    print(f"gateway on 127.0.0.1:{config.clickhouse_port}, data in {config.home}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    finally:
        manager.down()


def load(config: Settings, size: int) -> None:
    gateway(config)
    warehouse, percent, fixed = (harness(config, p) for p in (WAREHOUSE, PERCENT, FIXED))
    new = math.ceil(size * build_cost.NEW_SHARE)
    world = build_cost.sized_config(size + new + build_cost.FIXED_NEW, build_cost.events_per_user())
    for h in (warehouse, percent, fixed):
        h.create_raw()
    warehouse.build(command="seed", vars=build_cost.VARS)
    with relaxed_gc():
        messages = iter(Simulation(world))
        for h, count, at in (
            (warehouse, size, T0),
            (percent, new, T0 + timedelta(hours=1)),
            (fixed, build_cost.FIXED_NEW, T0 + timedelta(hours=2)),
        ):
            started = time.perf_counter()
            written = build_cost.load(h, messages, count, at)
            print(f"{h.raw_schema}: {written:,} events in {time.perf_counter() - started:.0f}s")


def add_batch(warehouse: DbtHarness, batch: str) -> None:
    """Copy a batch's raw rows into the warehouse's raw tables."""
    tables = warehouse.client.query(
        f"SELECT name FROM system.tables WHERE database = '{batch}raw'"
    ).result_rows
    for (name,) in tables:
        warehouse.client.command(
            f"INSERT INTO {warehouse.raw_schema}.{name} SELECT * FROM {batch}raw.{name}"
        )


def base_warehouse(config: Settings) -> tuple[psutil.Process, DbtHarness]:
    """The gateway and the warehouse, its raw tables back to the base rows."""
    process = gateway(config)
    warehouse = harness(config, WAREHOUSE)
    build_cost.forget_after(warehouse, base_ingested_at(warehouse))
    return process, warehouse


def trial(config: Settings) -> None:
    process, warehouse = base_warehouse(config)
    seconds = {}
    for label, batch, full_refresh in (
        ("full refresh", None, True),
        ("+1%", PERCENT, False),
        ("nothing new", None, False),
        (f"+{build_cost.FIXED_NEW:,}", FIXED, False),
    ):
        if batch:
            add_batch(warehouse, batch)
        timed = build_cost.timed_run(warehouse, process, full_refresh=full_refresh)
        seconds[label] = timed.seconds
        if full_refresh:
            print(f"merged the tables in {build_cost.compact(warehouse):.1f}s (untimed)")
        slowest = ", ".join(
            f"{name} {s:.2f}s" + (f" ({rows:,})" if rows is not None else "")
            for name, s, rows in build_cost.models(timed.run)[:8]
        )
        print(
            f"{label:>12}: {timed.seconds:5.1f}s  CPU gateway {timed.clickhouse_cpu:5.1f}s "
            f"+ dbt {timed.dbt_cpu:4.1f}s{build_cost.waited(timed)}  | {slowest}",
            flush=True,
        )
    print(f"ratio +1% / full refresh: {seconds['+1%'] / seconds['full refresh']:.1%}")


def kept_tables(warehouse: DbtHarness) -> list[tuple[str, str]]:
    """The MergeTree tables of the raw copy and of every model layer."""
    databases = [warehouse.raw_schema, *map(warehouse.database, build_cost.MODEL_LAYERS)]
    listed = ", ".join(f"'{name}'" for name in databases)
    return warehouse.client.query(
        f"SELECT database, name FROM system.tables WHERE database IN ({listed})"
        " AND engine LIKE '%MergeTree' AND name NOT LIKE '%__dbt_%' ORDER BY database, name"
    ).result_rows


def partitions(warehouse: DbtHarness, database: str, table: str) -> set[str]:
    return {
        partition
        for (partition,) in warehouse.client.query(
            "SELECT DISTINCT partition_id FROM system.parts WHERE active"
            f" AND database = '{database}' AND table = '{table}'"
        ).result_rows
    }


def copy_parts(warehouse: DbtHarness, source: str, target: str, *, exact: bool) -> None:
    """Make target's parts source's (REPLACE PARTITION hard-links them: no data is copied)."""
    source_db, source_table = source.split(".")
    target_db, target_table = target.split(".")
    wanted = partitions(warehouse, source_db, source_table)
    stale = partitions(warehouse, target_db, target_table) - wanted if exact else set()
    for partition in sorted(stale):
        warehouse.client.command(f"ALTER TABLE {target} DROP PARTITION ID '{partition}'")
    for partition in sorted(wanted):
        warehouse.client.command(
            f"ALTER TABLE {target} REPLACE PARTITION ID '{partition}' FROM {source}"
        )


def snapshot(config: Settings) -> None:
    """Full refresh over the base rows, merge, and keep every table's parts."""
    process, warehouse = base_warehouse(config)
    timed = build_cost.timed_run(warehouse, process, full_refresh=True)
    print(f"full refresh: {timed.seconds:.1f}s; merged in {build_cost.compact(warehouse):.1f}s")
    build_cost.settle(warehouse)
    warehouse.client.command(f"DROP DATABASE IF EXISTS {SNAPSHOT} SYNC")
    warehouse.client.command(f"CREATE DATABASE {SNAPSHOT}")
    tables = kept_tables(warehouse)
    for database, table in tables:
        kept = f"{SNAPSHOT}.{database}__{table}"
        warehouse.client.command(f"CREATE TABLE {kept} AS {database}.{table}")
        copy_parts(warehouse, f"{database}.{table}", kept, exact=False)
    print(f"kept the parts of {len(tables)} tables in {SNAPSHOT}")


def rerun(config: Settings, rounds: int, batch: str) -> None:
    """Put the snapshot back, add the batch and time the incremental run, `rounds` times."""
    process = gateway(config)
    warehouse = harness(config, WAREHOUSE)
    warehouse.manifest(vars=build_cost.VARS)  # parsed before the first timed run, as in a trial
    for number in range(1, rounds + 1):
        for database, table in kept_tables(warehouse):
            copy_parts(
                warehouse, f"{SNAPSHOT}.{database}__{table}", f"{database}.{table}", exact=True
            )
        add_batch(warehouse, batch)
        timed = build_cost.timed_run(warehouse, process, full_refresh=False)
        slowest = ", ".join(f"{name} {s:.2f}s" for name, s, _ in build_cost.models(timed.run)[:5])
        print(
            f"round {number}: {timed.seconds:5.2f}s  CPU gateway {timed.clickhouse_cpu:5.2f}s "
            f"+ dbt {timed.dbt_cpu:4.2f}s{build_cost.waited(timed)}  | {slowest}",
            flush=True,
        )


def base_ingested_at(warehouse: DbtHarness) -> datetime:
    """The base rows' ingested_at (T0 when `load` wrote them; read, so another T0 works too)."""
    (base_at,) = warehouse.client.query(
        f"SELECT min(ingested_at) FROM {warehouse.raw_schema}.user_activity"
    ).result_rows[0]
    return base_at


def replay(config: Settings, files: list[Path], repeat: int) -> None:
    process = gateway(config)
    client = harness(config, WAREHOUSE).client
    for path in files:
        sql = path.read_text().strip().rstrip(";")
        client.raw_query(sql, fmt="Null", settings={"max_query_size": 16 * 1024 * 1024})
        cpu, started = build_cost.cpu_seconds(process), time.perf_counter()
        for _ in range(repeat):
            client.raw_query(sql, fmt="Null", settings={"max_query_size": 16 * 1024 * 1024})
        wall = (time.perf_counter() - started) / repeat
        cpu = (build_cost.cpu_seconds(process) - cpu) / repeat
        print(f"{path}: {cpu * 1000:.0f} ms CPU, {wall * 1000:.0f} ms wall (mean of {repeat})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command", choices=["serve", "load", "trial", "replay", "snapshot", "rerun"]
    )
    parser.add_argument("files", nargs="*", type=Path, help="replay: files holding one query")
    parser.add_argument("--home", type=Path, default=HOME)
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--size", type=int, default=5_000_000, help="load: base events")
    parser.add_argument("--repeat", type=int, default=3, help="replay: runs per query")
    parser.add_argument("--rounds", type=int, default=3, help="rerun: incremental runs timed")
    parser.add_argument(
        "--batch", choices=["percent", "fixed"], default="percent", help="rerun: the new rows"
    )
    args = parser.parse_args(argv)
    config = settings(args.home, args.port)
    if args.command == "serve":
        serve(config)
    elif args.command == "load":
        load(config, args.size)
    elif args.command == "trial":
        trial(config)
    elif args.command == "snapshot":
        snapshot(config)
    elif args.command == "rerun":
        rerun(config, args.rounds, PERCENT if args.batch == "percent" else FIXED)
    else:
        replay(config, args.files, args.repeat)


if __name__ == "__main__":
    main()
