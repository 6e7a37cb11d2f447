"""dbt-clickhouse (driver http) works unchanged against the ClickHouse gateway.

The small project in `dbt_conformance/` is run through dbt's Python API: `dbt debug`, `dbt seed`,
a first `dbt run` (a view, a table and incremental models with the default, delete+insert and
append strategies), then NEW and UPDATED raw rows are inserted with clickhouse-connect and a
second `dbt run` must leave every incremental model exactly where a full recompute would. Every
model stamps its rows with dbt's invocation id, so the tests can also see which rows each run
wrote. `dbt test` must pass, must fail when bad rows arrive, and `dbt run --full-refresh` must
rebuild the incremental models from the source.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest
import yaml
from dbt.cli.main import dbtRunner, dbtRunnerResult

from lms_analytics.settings import Settings

pytestmark = pytest.mark.slow

PROJECT_DIR = Path(__file__).parent / "dbt_conformance"
PROJECT_FILES_BEFORE = frozenset(p.relative_to(PROJECT_DIR) for p in PROJECT_DIR.rglob("*"))

MODELS = {
    "stg_events": "View",
    "user_totals": "MergeTree",
    "events_current_default": "MergeTree",
    "user_totals_delete_insert": "MergeTree",
    "event_log_append": "MergeTree",
}
RAW_COLUMNS = ["event_id", "user_id", "kind", "amount", "ts"]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

# The full recompute of each model, written independently of the dbt project.
LATEST_EVENTS = """
    select r.event_id as event_id, argMax(r.user_id, r.ts) as user_id,
           argMax(r.kind, r.ts) as kind, argMax(r.amount, r.ts) as amount, max(r.ts) as ts
    from {db}.raw_events as r group by r.event_id
"""
EXPECTED = {
    "events_current_default": (
        f"select event_id, user_id, kind, amount, ts from ({LATEST_EVENTS}) order by event_id"
    ),
    "user_totals_delete_insert": (
        "select user_id, count(), sum(amount), max(ts) "
        f"from ({LATEST_EVENTS}) group by user_id order by user_id"
    ),
    "user_totals": (
        "select e.user_id, u.segment, count(), sum(e.amount), max(e.ts) "
        f"from ({LATEST_EVENTS}) as e inner join {{db}}.users as u on e.user_id = u.user_id "
        "group by e.user_id, u.segment order by e.user_id"
    ),
    "event_log_append": (
        "select event_id, user_id, kind, amount, ts from {db}.raw_events order by ts, event_id"
    ),
}
ACTUAL = {
    "events_current_default": (
        "select event_id, user_id, kind, amount, ts from {db}.events_current_default "
        "order by event_id"
    ),
    "user_totals_delete_insert": (
        "select user_id, event_count, total_amount, last_ts "
        "from {db}.user_totals_delete_insert order by user_id"
    ),
    "user_totals": (
        "select user_id, segment, event_count, total_amount, last_ts "
        "from {db}.user_totals order by user_id"
    ),
    "event_log_append": (
        "select event_id, user_id, kind, amount, ts from {db}.event_log_append "
        "order by ts, event_id"
    ),
}
INCREMENTAL_MODELS = ("events_current_default", "user_totals_delete_insert", "event_log_append")


def raw_row(event_id: int, user_id: int, kind: str, amount: str, minutes: int) -> list[Any]:
    return [event_id, user_id, kind, Decimal(amount), T0 + timedelta(minutes=minutes)]


KINDS = ("view", "purchase", "refund")
# Batch 1: 40 events of learners 1-5.
BATCH_1 = [raw_row(i, 1 + i % 5, KINDS[i % 3], f"{i * 1.25:.2f}", minutes=i) for i in range(1, 41)]
# Batch 2: 10 new events (learner 6 is new to the models) and 3 updates of batch-1 events
# (same event_id and learner, new kind and amount, later version).
UPDATES = {3: ("purchase", "99.99"), 7: ("refund", "-7.50"), 12: ("view", "0.01")}
BATCH_2 = [raw_row(i, 2 + i % 5, KINDS[i % 3], f"{i * 0.5:.2f}", minutes=i) for i in range(41, 51)]
BATCH_2 += [
    raw_row(event_id, 1 + event_id % 5, kind, amount, minutes=100 + event_id)
    for event_id, (kind, amount) in UPDATES.items()
]
BAD_EVENT_ID = 9_000_001


@dataclass(frozen=True)
class Invocation:
    """One dbt command, its outcome, and the invocation id dbt stamped on what it wrote."""

    command: str
    outcome: dbtRunnerResult
    invocation_id: str | None  # from run_results.json; `dbt debug` writes none
    log_path: Path

    @property
    def success(self) -> bool:
        return self.outcome.success

    def statuses(self) -> dict[str, str]:
        """Status of every node a run/seed/test invocation touched, by node name."""
        assert self.outcome.result is not None, f"dbt did not run: {self.outcome.exception}"
        return {r.node.name: str(r.status) for r in self.outcome.result.results}

    def failures(self) -> dict[str, int]:
        """Failing rows of every test that failed, by test name."""
        return {
            r.node.name: r.failures for r in self.outcome.result.results if str(r.status) == "fail"
        }

    def describe(self) -> str:
        """What went wrong, for assertion messages."""
        result = self.outcome.result
        if result is None or isinstance(result, bool):
            return f"dbt {self.command}: {self.outcome.exception!r}; log in {self.log_path}"
        failed = [
            f"{r.node.name}: {r.status} {r.message}"
            for r in result.results
            if str(r.status) not in ("success", "pass")
        ]
        return f"dbt {self.command}: {failed}; log in {self.log_path}"


@dataclass
class DbtProject:
    """The conformance project wired to the gateway through a profiles.yml in a temp dir."""

    database: str
    client: Any
    profiles_dir: Path
    target_path: Path
    log_path: Path

    def invoke(self, *args: str) -> Invocation:
        command = [
            *args,
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(self.profiles_dir),
            "--log-path",
            str(self.log_path),
            "--no-send-anonymous-usage-stats",
            "--no-version-check",
        ]
        if args[0] != "debug":
            command += ["--target-path", str(self.target_path)]
        run_results = self.target_path / "run_results.json"
        run_results.unlink(missing_ok=True)
        outcome = dbtRunner().invoke(command)
        invocation_id = None
        if run_results.is_file():
            invocation_id = json.loads(run_results.read_text())["metadata"]["invocation_id"]
        return Invocation(" ".join(args), outcome, invocation_id, self.log_path)

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(row) for row in self.client.query(sql.format(db=self.database)).result_rows]

    def insert_raw(self, rows: list[list[Any]]) -> None:
        self.client.insert(f"{self.database}.raw_events", rows, column_names=RAW_COLUMNS)


@dataclass(frozen=True)
class Build:
    """What the seed and the two runs produced, captured before any other test changes it."""

    project: DbtProject
    debug: Invocation
    seed: Invocation
    first_run: Invocation
    second_run: Invocation
    after_first: dict[str, list[tuple]]
    expected_after_first: dict[str, list[tuple]]
    after_second: dict[str, list[tuple]]
    expected_after_second: dict[str, list[tuple]]
    invocation_ids_after_second: dict[str, list[tuple]]


def write_profiles(directory: Path, settings: Settings, database: str) -> None:
    kwargs = settings.clickhouse_client_kwargs()
    profile = {
        "dbt_conformance": {
            "target": "gateway",
            "outputs": {
                "gateway": {
                    "type": "clickhouse",
                    "driver": "http",
                    "host": kwargs["host"],
                    "port": kwargs["port"],
                    "secure": kwargs["secure"],
                    "user": settings.clickhouse_user,
                    "password": settings.clickhouse_password,
                    "schema": database,
                    "threads": 2,
                    "connect_timeout": 10,
                    "send_receive_timeout": 120,
                }
            },
        }
    }
    (directory / "profiles.yml").write_text(yaml.safe_dump(profile, sort_keys=False))


@pytest.fixture(scope="module")
def dbt_project(
    local_stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DbtProject]:
    database = f"dbt_conformance_{uuid.uuid4().hex[:10]}"
    home = tmp_path_factory.mktemp("dbt_conformance")
    client = clickhouse_connect.get_client(**local_stack.clickhouse_client_kwargs())
    client.command(f"CREATE DATABASE {database}")
    client.command(
        f"CREATE TABLE {database}.raw_events (event_id UInt64, user_id UInt32, "
        "kind LowCardinality(String), amount Decimal(10, 2), ts DateTime64(3, 'UTC')) "
        "ENGINE = MergeTree ORDER BY (ts, event_id)"
    )
    write_profiles(home, local_stack, database)
    project = DbtProject(database, client, home, home / "target", home / "logs")
    yield project
    client.command(f"DROP DATABASE IF EXISTS {database}")
    client.close()


def snapshot(project: DbtProject, queries: dict[str, str]) -> dict[str, list[tuple]]:
    return {model: project.rows(sql) for model, sql in queries.items()}


@pytest.fixture(scope="module")
def build(dbt_project: DbtProject) -> Build:
    project = dbt_project
    debug = project.invoke("debug")
    assert debug.success, debug.describe()
    project.insert_raw(BATCH_1)
    seed = project.invoke("seed")
    assert seed.success, seed.describe()
    first_run = project.invoke("run")
    assert first_run.success, first_run.describe()
    after_first = snapshot(project, ACTUAL)
    expected_after_first = snapshot(project, EXPECTED)

    project.insert_raw(BATCH_2)
    second_run = project.invoke("run")
    assert second_run.success, second_run.describe()
    return Build(
        project=project,
        debug=debug,
        seed=seed,
        first_run=first_run,
        second_run=second_run,
        after_first=after_first,
        expected_after_first=expected_after_first,
        after_second=snapshot(project, ACTUAL),
        expected_after_second=snapshot(project, EXPECTED),
        invocation_ids_after_second={
            "events_current_default": project.rows(
                "select event_id, dbt_invocation_id from {db}.events_current_default "
                "order by event_id"
            ),
            "user_totals_delete_insert": project.rows(
                "select user_id, dbt_invocation_id from {db}.user_totals_delete_insert "
                "order by user_id"
            ),
            "event_log_append": project.rows(
                "select event_id, ts, dbt_invocation_id from {db}.event_log_append "
                "order by ts, event_id"
            ),
        },
    )


def test_dbt_debug_connects_to_the_gateway(build: Build) -> None:
    assert build.debug.success
    assert build.debug.outcome.result is True


def test_dbt_seed_loads_every_csv_row_with_the_configured_types(build: Build) -> None:
    assert build.seed.statuses() == {"users": "success"}
    csv_lines = (PROJECT_DIR / "seeds" / "users.csv").read_text().split()[1:]
    expected = [
        (int(user_id), name, segment)
        for user_id, name, segment in (line.split(",") for line in csv_lines)
    ]
    assert build.project.rows("select * from {db}.users order by user_id") == expected
    types = build.project.rows(
        "select name, type from system.columns "
        "where database = '{db}' and table = 'users' order by position"
    )
    assert types == [("user_id", "UInt32"), ("user_name", "String"), ("segment", "String")]


def test_first_run_builds_a_view_a_table_and_three_incremental_models(build: Build) -> None:
    assert build.first_run.statuses() == dict.fromkeys(MODELS, "success")
    engines = dict(
        build.project.rows(
            "select name, engine from system.tables where database = '{db}' "
            "and name not in ('raw_events', 'users') order by name"
        )
    )
    assert engines == MODELS  # and no leftover intermediate/backup tables
    assert build.after_first == build.expected_after_first
    assert len(build.after_first["events_current_default"]) == len(BATCH_1)
    assert len(build.after_first["user_totals_delete_insert"]) == 5


def test_second_run_updates_every_model_without_errors(build: Build) -> None:
    assert build.second_run.statuses() == dict.fromkeys(MODELS, "success")
    assert build.second_run.invocation_id != build.first_run.invocation_id


def test_default_strategy_incremental_matches_a_full_recompute(build: Build) -> None:
    model = "events_current_default"
    assert build.after_second[model] == build.expected_after_second[model]
    assert len(build.after_second[model]) == 50
    by_id = {row[0]: row for row in build.after_second[model]}
    for event_id, (kind, amount) in UPDATES.items():
        assert (by_id[event_id][2], by_id[event_id][3]) == (kind, Decimal(amount))
    # Only the new and updated events were written by the second run.
    first, second = build.first_run.invocation_id, build.second_run.invocation_id
    written = {eid: inv for eid, inv in build.invocation_ids_after_second[model]}
    touched = {row[0] for row in BATCH_2}
    assert written == {eid: second if eid in touched else first for eid in range(1, 51)}


def test_delete_insert_incremental_matches_a_full_recompute(build: Build) -> None:
    model = "user_totals_delete_insert"
    assert build.after_second[model] == build.expected_after_second[model]
    assert [row[0] for row in build.after_second[model]] == [1, 2, 3, 4, 5, 6]
    # Only learners with new or updated raw rows were deleted and re-inserted.
    first, second = build.first_run.invocation_id, build.second_run.invocation_id
    affected = {row[1] for row in BATCH_2}
    written = dict(build.invocation_ids_after_second[model])
    assert written == {uid: second if uid in affected else first for uid in range(1, 7)}
    assert affected != set(range(1, 7)), "test data must leave some learner untouched"


def test_append_incremental_appends_exactly_the_new_raw_rows(build: Build) -> None:
    model = "event_log_append"
    before, after = build.after_first[model], build.after_second[model]
    assert len(after) - len(before) == len(BATCH_2)
    assert sum(r[3] for r in after) - sum(r[3] for r in before) == sum(r[3] for r in BATCH_2)
    # The rows of the first run stayed, the second run wrote exactly batch 2.
    second = build.second_run.invocation_id
    appended = {
        (eid, ts) for eid, ts, inv in build.invocation_ids_after_second[model] if inv == second
    }
    # clickhouse-connect reads DateTime64(3, 'UTC') back as naive UTC datetimes.
    assert appended == {(row[0], row[4].replace(tzinfo=None)) for row in BATCH_2}
    assert after == build.expected_after_second[model]


def test_table_model_is_rebuilt_from_the_current_source(build: Build) -> None:
    assert build.after_second["user_totals"] == build.expected_after_second["user_totals"]
    assert len(build.after_second["user_totals"]) == 6


def test_dbt_test_passes_generic_and_singular_tests(build: Build) -> None:
    result = build.project.invoke("test")
    assert result.success, result.describe()
    statuses = result.statuses()
    assert set(statuses.values()) == {"pass"}
    names = set(statuses)
    for kind in ("unique_", "not_null_", "accepted_values_", "relationships_"):
        assert any(name.startswith(kind) for name in names), f"no {kind} test ran"
    assert "assert_incremental_user_totals_match_table" in names
    assert len(names) == 18


def test_dbt_test_reports_failures_when_bad_rows_arrive(build: Build) -> None:
    project = build.project
    # An unknown learner with an unknown kind, older than every watermark.
    project.insert_raw([raw_row(BAD_EVENT_ID, 999, "bogus", "1.00", minutes=-60)])
    try:
        result = project.invoke("test", "--select", "stg_events,test_type:generic")
    finally:
        project.client.command(
            f"DELETE FROM {project.database}.raw_events WHERE event_id = {BAD_EVENT_ID}"
        )
    assert not result.success
    statuses = result.statuses()
    failing = {name: status for name, status in statuses.items() if status != "pass"}
    assert set(failing.values()) == {"fail"}
    assert {name.split("_stg_events")[0] for name in failing} == {
        "accepted_values",
        "relationships",
    }
    assert len(statuses) == 5
    assert set(result.failures().values()) == {1}
    assert project.rows(f"select count() from {{db}}.raw_events where event_id = {BAD_EVENT_ID}")[
        0
    ] == (0,)


def test_full_refresh_rebuilds_incremental_models_from_the_source(build: Build) -> None:
    project = build.project
    result = project.invoke("run", "--full-refresh")
    assert result.success, result.describe()
    assert result.statuses() == dict.fromkeys(MODELS, "success")
    refreshed = result.invocation_id
    for model in INCREMENTAL_MODELS:
        assert project.rows(ACTUAL[model]) == project.rows(EXPECTED[model]), model
        assert project.rows(f"select distinct dbt_invocation_id from {{db}}.{model}") == [
            (refreshed,)
        ], model
    assert project.rows("select count() from {db}.event_log_append") == [
        (len(BATCH_1) + len(BATCH_2),)
    ]


def test_dbt_writes_nothing_into_the_project_folder(build: Build) -> None:
    files_now = frozenset(p.relative_to(PROJECT_DIR) for p in PROJECT_DIR.rglob("*"))
    assert files_now == PROJECT_FILES_BEFORE
    assert (build.project.target_path / "run_results.json").is_file()
