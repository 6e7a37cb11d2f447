"""Run the project's dbt models in-process against a test stack, on an isolated copy of raw.

Every `DbtHarness` owns a unique prefix: its raw tables live in `<prefix>raw` (same structure
as `raw`, created with `CREATE TABLE ... AS raw.<table>` after the raw migrations ran) and dbt
builds into `<prefix>staging`, `<prefix>intermediate`, `<prefix>analytics` (dbt vars
`schema_prefix` and `raw_schema`). Events are written straight into the raw copy the way the
consumer writes them (`ingestion.decoding.decode` + `ingestion.writer.table_columns`), so dbt
tests need no Kafka.

    harness = DbtHarness(settings, work_dir=tmp_path)
    harness.load_events([UserEnrolled(...), ("course.user-enrolled", {"ID": ...}), message])
    harness.build()                                   # dbt build, incremental
    harness.build(full_refresh=True, select="+course_analytics")
    harness.rows("course_analytics")                  # dicts, bookkeeping columns left out
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import random
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import clickhouse_connect
from dbt.cli.main import dbtRunner, dbtRunnerResult

from ingestion.batch import Batch
from ingestion.decoding import Coordinates, Decoded, Rejected, decode, natural_event_id
from ingestion.events import Event
from ingestion.raw_schema import RAW_TABLES
from ingestion.schema_migrations import migrate
from ingestion.simulator import SimulationConfig, generate_messages
from ingestion.writer import table_columns
from lms_analytics.dbt_env import DBT_PROJECT_DIR, dbt_environment
from lms_analytics.settings import Settings

log = logging.getLogger(__name__)

BOOKKEEPING = ("created_at", "updated_at", "update_count")
LAYERS = ("staging", "intermediate", "analytics")

# What `load_events` accepts: an Event model, a (topic, payload dict) pair (Go or snake
# spelling; optional third item: the `event_id` header), a simulator Message (topic, key,
# value, headers, ...), or an already decoded message.
Loadable = Any


class DbtCommandError(AssertionError):
    """A dbt command failed; the message lists the failing nodes and the log folder."""


@dataclass
class DbtRun:
    """One dbt command and its outcome."""

    args: list[str]
    outcome: dbtRunnerResult
    log_path: Path

    @property
    def success(self) -> bool:
        return self.outcome.success

    @property
    def results(self) -> list[Any]:
        result = self.outcome.result
        return list(getattr(result, "results", None) or [])

    def statuses(self) -> dict[str, str]:
        """Status of every node the command touched, by node name."""
        return {r.node.name: str(r.status) for r in self.results}

    def count(self, resource_type: str) -> int:
        """Nodes of a resource type the command ran (`unit_test`, `model`, `test`, ...)."""
        return sum(1 for r in self.results if str(r.node.resource_type) == resource_type)

    def describe(self) -> str:
        if not self.results:
            return f"dbt {self.args[0]}: {self.outcome.exception}; logs in {self.log_path}"
        failed = [
            f"{r.node.name}: {r.status} {r.message}"
            for r in self.results
            if str(r.status) not in ("success", "pass")
        ]
        return f"dbt {' '.join(self.args[:1])}: {failed}; logs in {self.log_path}"


@dataclass
class DbtHarness:
    """The dbt project against one stack, isolated by a unique prefix (see the module doc)."""

    settings: Settings
    work_dir: Path
    project_dir: Path = DBT_PROJECT_DIR
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}_")
    vars: dict[str, Any] = field(default_factory=dict)
    _client: Any = field(default=None, init=False, repr=False)
    _manifests: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _offset: int = field(default=0, init=False, repr=False)
    _raw_ready: bool = field(default=False, init=False, repr=False)
    _invocations: int = field(default=0, init=False, repr=False)

    # --- names ----------------------------------------------------------------------------------

    @property
    def raw_schema(self) -> str:
        return f"{self.prefix}raw"

    def database(self, layer: str) -> str:
        """`staging`, `intermediate` or `analytics`, with this harness's prefix."""
        return f"{self.prefix}{layer}"

    def relation(self, model: str) -> str:
        """The qualified table of a model, found by its layer prefix (stg_, int_, else a mart)."""
        if model.startswith("stg_"):
            layer = "staging"
        elif model.startswith("int_"):
            layer = "intermediate"
        else:
            layer = "analytics"
        return f"{self.database(layer)}.{model}"

    @property
    def client(self):
        if self._client is None:
            self._client = clickhouse_connect.get_client(**self.settings.clickhouse_client_kwargs())
        return self._client

    # --- raw ------------------------------------------------------------------------------------

    def create_raw(self) -> None:
        """The isolated raw database: every raw table's structure, empty."""
        if self._raw_ready:
            return
        migrate(self.client)
        self.client.command(f"CREATE DATABASE IF NOT EXISTS {self.raw_schema}")
        for table in RAW_TABLES:
            self.client.command(
                f"CREATE TABLE IF NOT EXISTS {self.raw_schema}.{table.name} AS raw.{table.name}"
            )
        self.client.command(
            f"CREATE TABLE IF NOT EXISTS {self.raw_schema}.ingestion_errors AS raw.ingestion_errors"
        )
        self._raw_ready = True

    def decode_all(self, items: Iterable[Loadable]) -> tuple[list[Decoded], list[Rejected]]:
        decoded: list[Decoded] = []
        rejected: list[Rejected] = []
        for item in items:
            result = self._decode(item)
            (decoded if isinstance(result, Decoded) else rejected).append(result)
        return decoded, rejected

    def _decode(self, item: Loadable) -> Decoded | Rejected:
        self._offset += 1
        if isinstance(item, Decoded):
            return item
        if isinstance(item, Event):
            coordinates = Coordinates(item.topic, 0, self._offset, "")
            raw = item.to_message().decode()
            return Decoded(item, natural_event_id(item), 1, coordinates, raw)
        if hasattr(item, "topic") and hasattr(item, "value"):  # a simulator / Kafka message
            key = item.key.decode() if getattr(item, "key", None) else ""
            coordinates = Coordinates(item.topic, 0, self._offset, key)
            return decode(coordinates, item.value, list(item.headers or []) or None)
        if isinstance(item, tuple) and len(item) in (2, 3):
            topic, payload = item[0], item[1]
            headers = [("event_id", item[2].encode())] if len(item) == 3 else None
            value = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            return decode(Coordinates(topic, 0, self._offset, ""), value, headers)
        raise TypeError(f"cannot load {item!r}: give an Event, (topic, payload) or a message")

    def load_events(
        self,
        items: Iterable[Loadable],
        ingested_at: datetime | None = None,
        *,
        strict: bool = True,
    ) -> dict[str, int]:
        """Write events into the isolated raw tables as the consumer would; rows per table.

        Every copy lands (insert deduplication is off), so a duplicate in `items` is a second
        raw row with the same event_id. `strict`: a message that does not decode is an error
        (else it is skipped, as the consumer would dead-letter it).
        """
        self.create_raw()
        decoded, rejected = self.decode_all(items)
        if rejected and strict:
            raise ValueError(f"{len(rejected)} message(s) do not decode: {rejected[0].error}")
        now = ingested_at or datetime.now(UTC)
        batch = Batch()  # rows per raw table, in the form the consumer's writer takes
        for row in decoded:
            batch.add(row)
        written: dict[str, int] = {}
        for table, rows in batch.tables():
            self.client.insert(
                table.name,
                table_columns(table, rows, now),
                column_names=table.column_names,
                column_type_names=table.column_types,
                column_oriented=True,
                database=self.raw_schema,
                # every copy lands as given: no block deduplication, no merge on insert
                settings={"insert_deduplicate": 0, "optimize_on_insert": 0},
            )
            written[table.name] = len(rows)
        return written

    # --- dbt ------------------------------------------------------------------------------------

    def dbt_vars(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "schema_prefix": self.prefix,
            "raw_schema": self.raw_schema,
            **self.vars,
            **(extra or {}),
        }

    @contextlib.contextmanager
    def _environment(self, target: str | None = None) -> Iterator[None]:
        values = {
            **dbt_environment(self.settings, target),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
        saved = {key: os.environ.get(key) for key in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def dbt(
        self,
        *args: str,
        vars: dict[str, Any] | None = None,
        check: bool = True,
        target: str | None = None,
        profiles_dir: Path | None = None,
    ) -> DbtRun:
        """Run one dbt command in-process (`dbt <args>`); raise DbtCommandError on failure."""
        all_vars = self.dbt_vars(vars)
        vars_json = json.dumps(all_vars, sort_keys=True, default=str)
        self._invocations += 1
        target_path = self.work_dir / "target"
        log_path = self.work_dir / "logs"
        command = [
            *args,
            "--project-dir",
            str(self.project_dir),
            "--profiles-dir",
            str(profiles_dir or self.project_dir),
            "--target-path",
            str(target_path),
            "--log-path",
            str(log_path),
            "--vars",
            vars_json,
        ]
        # A parsed manifest is reused while the vars (they decide the schemas) stay the same.
        cache_key = f"{target}|{profiles_dir}|{vars_json}"
        manifest = self._manifests.get(cache_key)
        with self._environment(target):
            if manifest is None and args[0] not in ("parse", "debug", "deps", "clean"):
                parsed = dbtRunner().invoke(
                    [
                        "parse",
                        *command[len(args) :],
                    ]
                )
                if not parsed.success:
                    raise DbtCommandError(f"dbt parse: {parsed.exception}; logs in {log_path}")
                manifest = self._manifests[cache_key] = parsed.result
            outcome = dbtRunner(manifest=manifest).invoke(command)
        if args[0] == "parse" and outcome.success:
            self._manifests[cache_key] = outcome.result
        run = DbtRun(command, outcome, log_path)
        if check and not run.success:
            raise DbtCommandError(run.describe())
        return run

    def manifest(
        self,
        *,
        vars: dict[str, Any] | None = None,
        target: str | None = None,
        profiles_dir: Path | None = None,
    ) -> Any:
        """The parsed dbt Manifest for these vars and target (parsed once, then cached)."""
        run = self.dbt("parse", vars=vars, target=target, profiles_dir=profiles_dir)
        return run.outcome.result

    def build(
        self,
        *,
        full_refresh: bool = False,
        select: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        vars: dict[str, Any] | None = None,
        command: str = "build",
        check: bool = True,
        extra_args: Sequence[str] = (),
    ) -> DbtRun:
        """`dbt build` (or `command`) on the isolated raw data; unit tests run in their own test."""
        self.create_raw()
        args = [command]
        if full_refresh:
            args.append("--full-refresh")
        if select:
            args += ["--select", *([select] if isinstance(select, str) else select)]
            # only the tests whose every parent is selected (a relationship test to an
            # unselected model would read a table that does not exist)
            args += ["--indirect-selection", "cautious"]
        excluded = [exclude] if isinstance(exclude, str) else list(exclude or [])
        if command == "build":
            excluded.append("test_type:unit")
        if excluded:
            args += ["--exclude", *excluded]
        args += list(extra_args)
        return self.dbt(*args, vars=vars, check=check)

    # --- reading --------------------------------------------------------------------------------

    def columns(self, model: str) -> list[str]:
        result = self.client.query(f"DESCRIBE TABLE {self.relation(model)}")
        return [row[0] for row in result.result_rows]

    def rows(
        self,
        model: str,
        exclude: Sequence[str] = BOOKKEEPING,
        order_by: str | Sequence[str] | None = None,
        where: str | None = None,
    ) -> list[dict[str, Any]]:
        """The model's rows as dicts without the `exclude` columns, in a deterministic order."""
        columns = [c for c in self.columns(model) if c not in exclude]
        selected = ", ".join(f"`{c}`" for c in columns)
        if order_by is None:
            order = selected
        else:
            order = order_by if isinstance(order_by, str) else ", ".join(order_by)
        sql = f"SELECT {selected} FROM {self.relation(model)}"
        if where:
            sql += f" WHERE {where}"
        sql += f" ORDER BY {order}"
        result = self.client.query(sql)
        return [dict(zip(columns, row, strict=True)) for row in result.result_rows]

    def scalar(self, sql: str) -> Any:
        return self.client.query(sql).result_rows[0][0]

    # --- cleanup --------------------------------------------------------------------------------

    def drop(self) -> None:
        """Drop every database of this harness."""
        for database in (self.raw_schema, *(self.database(layer) for layer in LAYERS)):
            self.client.command(f"DROP DATABASE IF EXISTS {database}")
        if self._client is not None:
            self._client.close()
            self._client = None


# --- simulated histories --------------------------------------------------------------------------

SIMULATION_END = datetime(2026, 10, 1, tzinfo=UTC)


def simulated_messages(
    *,
    seed: int = 7,
    orgs: int = 2,
    users: int = 25,
    courses: int = 3,
    days: int = 10,
    duplicates: float = 0.05,
    late: float = 0.05,
    end: datetime = SIMULATION_END,
) -> list[Any]:
    """A small, deterministic simulated history (simulator messages, delivery order)."""
    config = SimulationConfig(
        orgs=orgs,
        users=users,
        courses=courses,
        days=days,
        seed=seed,
        end=end,
        duplicates=duplicates,
        late=late,
    )
    return list(generate_messages(config))


def random_batches(
    messages: Sequence[Any],
    rng: random.Random,
    batches: int = 3,
    *,
    redeliver: float = 0.1,
    hold_back: float = 0.05,
) -> list[list[Any]]:
    """`messages` cut at random points into `batches` deliveries, made harder:

    - `hold_back`: a share of the messages arrives one or more batches later than its place
      (late, out of order);
    - `redeliver`: a share of every batch's messages is delivered again in a later batch
      (duplicates across batches).
    Every message arrives at least once; the union of the batches is the history.
    """
    if batches < 1:
        raise ValueError("batches must be at least 1")
    cuts = sorted(
        rng.sample(range(1, len(messages)), k=min(batches - 1, max(len(messages) - 1, 0)))
    )
    bounds = [0, *cuts, len(messages)]
    out: list[list[Any]] = [list(messages[a:b]) for a, b in itertools.pairwise(bounds)]
    while len(out) < batches:
        out.append([])
    for index in range(len(out) - 1):
        kept: list[Any] = []
        for message in out[index]:
            if rng.random() < hold_back:
                out[rng.randrange(index + 1, len(out))].append(message)
            else:
                kept.append(message)
                if rng.random() < redeliver:
                    out[rng.randrange(index + 1, len(out))].append(message)
        out[index] = kept
    for batch in out:
        rng.shuffle(batch)
    return out
