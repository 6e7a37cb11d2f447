"""End-to-end ingestion throughput: Kafka -> consumer process(es) -> ClickHouse gateway.

Starts its own local stack (Kafka broker + ClickHouse gateway, no PostgreSQL) in a temporary
home on free ports and stops it at the end. For each consumer count (default 1 and 2) it
pre-produces `--events` simulated events into fresh topics (own prefix, `--partitions` each),
then starts that many `lms-analytics ingest` processes in one consumer group and measures:

- events/s from the spawn of the processes until every offset is committed (commit comes after
  the write, so committed = in ClickHouse; the raw rows are counted afterwards to confirm), and
  the steady rate between the first and the last commit (no process start-up or group join);
- CPU seconds per event of the consumer processes, of the gateway and of the broker;
- peak RSS (VmHWM) of the consumer processes and of the gateway.

Then it profiles one consumer in this process (cProfile, every thread) on `--profile-events`
fresh events and prints the top functions.
Usage: python benchmarks/ingest_throughput.py [--events N] [--consumers 1,2] [--partitions P]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import itertools
import os
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import clickhouse_connect
import psutil
from confluent_kafka import Consumer, TopicPartition

from ingestion.consumer import IngestionConsumer, StopWhen
from ingestion.raw_schema import DATABASE, ERRORS_TABLE, RAW_TABLES
from ingestion.schema_migrations import migrate
from ingestion.simulator import Simulation, SimulationConfig, relaxed_gc
from ingestion.simulator.producer import produce_messages
from ingestion.topics import event_topics
from lms_analytics.settings import Settings
from lms_analytics.stack.clickhouse import ClickHouse
from lms_analytics.stack.environment import child_environment
from lms_analytics.stack.kafka import Kafka
from lms_analytics.stack.manager import StackManager

TARGET_EVENTS_PER_SECOND = 50_000
SIMULATED_END = datetime(2026, 11, 1, tzinfo=UTC)
POLL_SECONDS = 0.2


# --- stack ------------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


@dataclass
class Stack:
    settings: Settings
    gateway: psutil.Process
    broker: psutil.Process


@contextlib.contextmanager
def local_stack(args: argparse.Namespace) -> Iterator[Stack]:
    home = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    kafka_port, clickhouse_port, postgres_port, smtp_port = free_ports(4)
    for key in [key for key in os.environ if key.upper().startswith("LMS_ANALYTICS_")]:
        del os.environ[key]  # nothing from the caller's own stack
    settings = Settings(
        home=home,
        bind_host="127.0.0.1",
        kafka_port=kafka_port,
        clickhouse_port=clickhouse_port,
        postgres_port=postgres_port,
        smtp_port=smtp_port,
        kafka_session_timeout_ms=args.session_timeout_ms,
        ingest_batch_size=args.batch_size or Settings().ingest_batch_size,
        ingest_batch_seconds=args.batch_seconds or Settings().ingest_batch_seconds,
    )
    manager = StackManager(settings, services=[Kafka(settings), ClickHouse(settings)])
    try:
        pids = {result.service: result.pid for result in manager.up()}
        yield Stack(settings, psutil.Process(pids["clickhouse"]), psutil.Process(pids["kafka"]))
    finally:
        manager.down()
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


# --- events -------------------------------------------------------------------------------------


def produce(settings: Settings, events: int, partitions: int, seed: int) -> int:
    """`events` simulated messages into the settings' topics; the number the broker acked."""
    config = SimulationConfig(
        orgs=max(2, events // 200_000),
        users=max(200, events // 170),  # about 180 events per user over 30 days
        courses=40,
        days=30,
        seed=seed,
        end=SIMULATED_END,
    )
    simulation = Simulation(config)
    with relaxed_gc():
        report = produce_messages(
            settings, itertools.islice(simulation, events), partitions=partitions
        )
    return report.sent


def committed_total(probe: Consumer, partitions: list[TopicPartition]) -> int:
    return sum(max(tp.offset, 0) for tp in probe.committed(partitions, timeout=10))


def raw_rows(client, prefix: str) -> tuple[int, int]:
    """(distinct Kafka coordinates, rows) in the raw tables and the error table for `prefix`."""
    distinct = rows = 0
    pattern = prefix.replace("_", "\\_") + "%"
    for table in [t.name for t in RAW_TABLES]:
        d, r = client.query(
            f"SELECT uniqExact(kafka_topic, kafka_partition, kafka_offset), count() "
            f"FROM {DATABASE}.{table} WHERE kafka_topic LIKE {{p:String}}",
            parameters={"p": pattern},
        ).result_rows[0]
        distinct, rows = distinct + d, rows + r
    d, r = client.query(
        f"SELECT uniqExact(topic, partition, offset), count() FROM {DATABASE}.{ERRORS_TABLE} "
        "WHERE topic LIKE {p:String}",
        parameters={"p": pattern},
    ).result_rows[0]
    return distinct + d, rows + r


# --- process figures ------------------------------------------------------------------------


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def main_thread_cpu(process: psutil.Process) -> float:
    """CPU seconds of the process's main thread (decoding; the writer and librdkafka excluded)."""
    for thread in process.threads():
        if thread.id == process.pid:
            return thread.user_time + thread.system_time
    return 0.0


def box_busy_seconds() -> float:
    """CPU seconds all processes on the machine used so far."""
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq + times.steal


def peak_rss_mb(process: psutil.Process) -> float:
    """VmHWM: the most resident memory the process ever had."""
    with open(f"/proc/{process.pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss(process: psutil.Process) -> bool:
    """Start VmHWM again from the current RSS (Linux: `5` into clear_refs)."""
    try:
        with open(f"/proc/{process.pid}/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


@dataclass
class RunResult:
    consumers: int
    events: int
    produce_seconds: float
    wall_seconds: float  # spawn -> everything committed
    steady_seconds: float  # first commit -> everything committed
    steady_events: int
    consumer_cpu: float
    consumer_main_cpu: float
    gateway_cpu: float
    broker_cpu: float
    consumer_peak_mb: list[float]
    gateway_peak_mb: float
    gateway_peak_reset: bool
    other_cpu: float  # CPU seconds of everything else on the machine during the run
    distinct_rows: int
    rows: int
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / self.wall_seconds

    @property
    def steady_rate(self) -> float:
        return self.steady_events / self.steady_seconds if self.steady_seconds else float("nan")


def run_consumers(stack: Stack, args: argparse.Namespace, consumers: int) -> RunResult:
    tag = uuid.uuid4().hex[:8]
    settings = stack.settings.model_copy(
        update={"kafka_topic_prefix": f"bench{tag}.", "consumer_group_id": f"bench-{tag}"}
    )
    print(f"[{consumers} consumer(s)] producing {args.events:,} events ...", flush=True)
    started = time.perf_counter()
    sent = produce(settings, args.events, args.partitions, args.seed)
    produce_seconds = time.perf_counter() - started

    partitions = [
        TopicPartition(topic, p) for topic in event_topics(settings) for p in range(args.partitions)
    ]
    probe = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.consumer_group_id}
    )
    env = child_environment(settings)
    command = [sys.executable, "-m", "lms_analytics", "ingest"]
    logs = [(settings.home / f"consumer-{tag}-{i}.log").open("wb") for i in range(consumers)]
    gateway_reset = reset_peak_rss(stack.gateway)
    gateway_cpu0, broker_cpu0 = cpu_seconds(stack.gateway), cpu_seconds(stack.broker)
    me = psutil.Process()
    box0, me0 = box_busy_seconds(), cpu_seconds(me)
    print(f"[{consumers} consumer(s)] consuming ...", flush=True)
    spawned = time.perf_counter()
    processes = [
        subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT) for log in logs
    ]
    watched = [psutil.Process(p.pid) for p in processes]
    cpu = [0.0] * consumers
    main_cpu = [0.0] * consumers
    peaks = [0.0] * consumers
    first_commit: tuple[float, int] | None = None
    done_at = None
    notes: list[str] = []
    try:
        deadline = spawned + args.timeout
        while time.perf_counter() < deadline:
            time.sleep(POLL_SECONDS)
            for i, process in enumerate(watched):  # last figures seen, in case one exits
                with contextlib.suppress(psutil.Error, OSError):
                    cpu[i] = cpu_seconds(process)
                    main_cpu[i] = main_thread_cpu(process)
                    peaks[i] = peak_rss_mb(process)
            if any(p.poll() is not None for p in processes):
                notes.append("a consumer exited early: see its log under the bench home")
                break
            total = committed_total(probe, partitions)
            now = time.perf_counter()
            if total and first_commit is None:
                first_commit = (now, total)
            if total >= sent:
                done_at = now
                break
        else:
            notes.append(f"timed out after {args.timeout:.0f} s")
        gateway_cpu = cpu_seconds(stack.gateway) - gateway_cpu0
        broker_cpu = cpu_seconds(stack.broker) - broker_cpu0
        other_cpu = box_busy_seconds() - box0 - (cpu_seconds(me) - me0)
        other_cpu -= sum(cpu) + gateway_cpu + broker_cpu
        gateway_peak = peak_rss_mb(stack.gateway)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()
        probe.close()
    end = done_at or time.perf_counter()
    committed = committed_total_after(settings, partitions)
    client = clickhouse_connect.get_client(**settings.clickhouse_client_kwargs())
    try:
        distinct, rows = raw_rows(client, settings.kafka_topic_prefix)
    finally:
        client.close()
    if committed != sent:
        notes.append(f"committed {committed:,} of {sent:,}")
    first_at, first_total = first_commit or (end, 0)
    return RunResult(
        consumers=consumers,
        events=sent,
        produce_seconds=produce_seconds,
        wall_seconds=end - spawned,
        steady_seconds=end - first_at,
        steady_events=sent - first_total,
        consumer_cpu=sum(cpu),
        consumer_main_cpu=sum(main_cpu),
        gateway_cpu=gateway_cpu,
        broker_cpu=broker_cpu,
        consumer_peak_mb=peaks,
        gateway_peak_mb=gateway_peak,
        gateway_peak_reset=gateway_reset,
        other_cpu=max(other_cpu, 0.0),
        distinct_rows=distinct,
        rows=rows,
        notes=notes,
    )


def committed_total_after(settings: Settings, partitions: list[TopicPartition]) -> int:
    probe = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.consumer_group_id}
    )
    try:
        return committed_total(probe, partitions)
    finally:
        probe.close()


# --- profile ------------------------------------------------------------------------------------


@contextlib.contextmanager
def profile_all_threads() -> Iterator[list[cProfile.Profile]]:
    """cProfile the calling thread and every thread started inside the block."""
    profiles: list[cProfile.Profile] = []
    original_run = threading.Thread.run

    def profiled_run(thread: threading.Thread) -> None:
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.enable()
        try:
            original_run(thread)
        finally:
            profile.disable()

    main = cProfile.Profile()
    profiles.append(main)
    threading.Thread.run = profiled_run  # type: ignore[method-assign]
    main.enable()
    try:
        yield profiles
    finally:
        main.disable()
        threading.Thread.run = original_run  # type: ignore[method-assign]


def profile_consumer(stack: Stack, args: argparse.Namespace) -> tuple[float, int, str]:
    tag = uuid.uuid4().hex[:8]
    settings = stack.settings.model_copy(
        update={"kafka_topic_prefix": f"prof{tag}.", "consumer_group_id": f"prof-{tag}"}
    )
    print(f"[profile] producing {args.profile_events:,} events ...", flush=True)
    sent = produce(settings, args.profile_events, args.partitions, args.seed + 1)
    consumer = IngestionConsumer(settings)
    print("[profile] consuming under cProfile ...", flush=True)
    with profile_all_threads() as profiles:
        started = time.perf_counter()
        stats = consumer.run(StopWhen(max_messages=sent, max_seconds=args.timeout))
        seconds = time.perf_counter() - started
    combined = pstats.Stats(profiles[0])
    for profile in profiles[1:]:
        with contextlib.suppress(TypeError):  # a thread that never ran code
            combined.add(profile)
    text = io.StringIO()
    combined.stream = text  # type: ignore[attr-defined]
    combined.sort_stats("tottime").print_stats(args.top)
    combined.sort_stats("cumulative").print_stats(args.top)
    return seconds, stats.messages, _trim(text.getvalue())


def _trim(report: str) -> str:
    """pstats output without the long absolute paths."""
    root = str(Path(__file__).resolve().parents[1]) + os.sep
    venv = os.path.dirname(os.path.dirname(os.__file__))
    return report.replace(root, "").replace(venv + os.sep, "")


# --- report -------------------------------------------------------------------------------------


def print_table(results: list[RunResult]) -> None:
    columns = (
        ("consumers", 9),
        ("events", 10),
        ("wall s", 7),
        ("events/s", 9),
        ("steady/s", 9),
        ("consumer cpu us/ev", 18),
        ("(main thread)", 13),
        ("gateway us/ev", 13),
        ("broker us/ev", 12),
        ("consumer peak MB", 16),
        ("gateway peak MB", 15),
        ("other load", 10),
        ("rows ok", 7),
    )
    header = " ".join(f"{name:>{width}}" for name, width in columns)
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        per_event = 1e6 / r.events
        values = (
            f"{r.consumers}",
            f"{r.events:,}",
            f"{r.wall_seconds:.1f}",
            f"{r.rate:,.0f}",
            f"{r.steady_rate:,.0f}",
            f"{r.consumer_cpu * per_event:.1f}",
            f"{r.consumer_main_cpu * per_event:.1f}",
            f"{r.gateway_cpu * per_event:.1f}",
            f"{r.broker_cpu * per_event:.1f}",
            "/".join(f"{p:,.0f}" for p in r.consumer_peak_mb),
            f"{r.gateway_peak_mb:,.0f}",
            f"{r.other_cpu / r.wall_seconds:.2f} cores",
            "yes" if r.distinct_rows == r.events else f"{r.distinct_rows:,}",
        )
        print(" ".join(f"{v:>{width}}" for v, (_, width) in zip(values, columns, strict=True)))
    print()
    for r in results:
        ours = (r.consumer_cpu + r.gateway_cpu + r.broker_cpu) / r.wall_seconds
        extra = f", {r.rows - r.distinct_rows:,} re-read rows" if r.rows != r.distinct_rows else ""
        print(
            f"{r.consumers} consumer(s): produced in {r.produce_seconds:.1f} s; consumers "
            f"{r.consumer_cpu:.1f} s cpu, gateway {r.gateway_cpu:.1f} s, broker "
            f"{r.broker_cpu:.1f} s: {ours:.2f} of {psutil.cpu_count()} cores busy with the "
            f"pipeline, {r.other_cpu / r.wall_seconds:.2f} with other processes{extra}"
            + ("" if r.gateway_peak_reset else "; gateway peak is since its start")
            + "".join(f"; {note}" for note in r.notes)
        )
    best_single = max((r.rate for r in results if r.consumers == 1), default=None)
    if best_single is not None:
        verdict = "met" if best_single >= TARGET_EVENTS_PER_SECOND else "NOT met"
        print(
            f"target {TARGET_EVENTS_PER_SECOND:,} events/s with one consumer: {verdict} "
            f"({best_single:,.0f}/s end to end)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="events per run")
    parser.add_argument("--consumers", default="1,2", help="consumer process counts to run")
    parser.add_argument("--partitions", type=int, default=4, help="partitions per topic")
    parser.add_argument("--profile-events", type=int, default=200_000, help="0: no profile")
    parser.add_argument("--top", type=int, default=25, help="profile lines to print")
    parser.add_argument("--batch-size", type=int, help="default: the settings' default")
    parser.add_argument("--batch-seconds", type=float, help="default: the settings' default")
    parser.add_argument("--session-timeout-ms", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    args = parser.parse_args()
    counts = [int(part) for part in args.consumers.split(",") if part.strip()]

    results: list[RunResult] = []
    profile = None
    with local_stack(args) as stack:
        with clickhouse_connect.get_client(**stack.settings.clickhouse_client_kwargs()) as client:
            migrate(client)
        for count in counts:
            results.append(run_consumers(stack, args, count))
            print_table(results[-1:])
        if args.profile_events:
            profile = profile_consumer(stack, args)
    print(
        f"\n{args.events:,} events per run, {args.partitions} partitions per topic, batch "
        f"{stack.settings.ingest_batch_size:,} rows / {stack.settings.ingest_batch_seconds:g} s"
    )
    print_table(results)
    if profile is not None:
        seconds, messages, report = profile
        print(
            f"\nProfile of one consumer, {messages:,} events in {seconds:.1f} s under cProfile "
            f"({messages / seconds:,.0f}/s with profiling overhead), all threads:"
        )
        print(report)


if __name__ == "__main__":
    main()
