"""The dbt project as Dagster assets: lineage, automation, an in-process build, and the UI."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import psutil
import pytest
from dagster_process import dagster_command
from dbt_harness import DbtHarness

from ingestion.raw_schema import RAW_TABLES
from ingestion.simulator.simulation import SimulationConfig, generate_messages
from lms_analytics.settings import Settings
from lms_analytics.stack.environment import child_environment
from lms_analytics.stack.ports import free_port
from orchestration.dbt_project import ensure_manifest

ensure_manifest()  # `make test` made it; after an edit to dbt_project/, parse before importing

from orchestration.build import BuildReport, build_models  # noqa: E402
from orchestration.checks import MART_KEYS  # noqa: E402
from orchestration.dagster_instance import stack_instance  # noqa: E402
from orchestration.dbt_assets import MANIFEST, TRANSLATOR, lms_dbt_models  # noqa: E402
from orchestration.dbt_project import DBT_PROJECT  # noqa: E402
from orchestration.definitions import defs  # noqa: E402
from orchestration.ingestion_assets import RAW_SPECS, raw_asset_key, topic_asset_key  # noqa: E402

LAYERS = {"staging": "staging", "intermediate": "intermediate", "marts": "analytics"}
DBT_NODES = {
    unique_id: node
    for unique_id, node in MANIFEST["nodes"].items()
    if node["resource_type"] in ("model", "seed")
}


def dbt_key(name: str) -> dg.AssetKey:
    for node in DBT_NODES.values():
        if node["name"] == name:
            return TRANSLATOR.get_asset_key(node)
    raise KeyError(name)


def ancestors(graph, key: dg.AssetKey) -> set[dg.AssetKey]:
    seen: set[dg.AssetKey] = set()
    stack = [key]
    while stack:
        for parent in graph.get(stack.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


# --- definitions -----------------------------------------------------------------------------


def test_definitions_load_with_one_asset_per_model_keyed_and_grouped_by_layer():
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    models = [node for node in DBT_NODES.values() if node["resource_type"] == "model"]
    assert models, "the manifest has no models"
    for node in models:
        layer = node["fqn"][1]
        asset = graph.get(TRANSLATOR.get_asset_key(node))
        assert asset.key == dg.AssetKey([LAYERS[layer], node["name"]])
        assert asset.group_name == layer
        assert asset.owners, f"{asset.key} has no owner"
        assert asset.automation_condition is not None
    fx_rates = graph.get(dg.AssetKey(["analytics", "fx_rates"]))
    assert fx_rates.group_name == "staging"


def test_every_dbt_parent_is_a_dagster_parent_and_sources_are_the_raw_assets():
    graph = defs.resolve_asset_graph()
    for node in DBT_NODES.values():
        expected = set()
        for parent_id in node["depends_on"].get("nodes", []):
            if parent_id.startswith("source."):
                source = MANIFEST["sources"][parent_id]
                assert source["source_name"] == "raw"
                expected.add(raw_asset_key(source["name"]))
            elif parent_id in DBT_NODES:
                expected.add(TRANSLATOR.get_asset_key(DBT_NODES[parent_id]))
        key = TRANSLATOR.get_asset_key(node)
        assert expected <= graph.get(key).parent_keys, key
    # Each raw asset is both the ingestion's output and the dbt source it feeds.
    for table in RAW_TABLES:
        staging = graph.get(dbt_key(f"stg_lms__{table.name}"))
        assert staging.parent_keys == {raw_asset_key(table.name)}
        assert graph.get(raw_asset_key(table.name)).parent_keys == {
            topic_asset_key(table.model.topic)
        }


def test_lineage_runs_from_the_topic_through_raw_and_staging_to_the_marts():
    graph = defs.resolve_asset_graph()
    assert MART_KEYS, "the manifest has no marts yet"
    for mart in MART_KEYS:
        upstream = ancestors(graph, mart)
        assert any(key.path[0] == "staging" for key in upstream), mart
        assert any(key.path[0] == "raw" for key in upstream), mart
        assert any(key.path[0] == "kafka" for key in upstream), mart
    paths = {
        "quiz_analytics": ["quiz_completed", "question_answered"],
        "course_analytics": ["user_enrolled", "content_published", "payment_completed"],
        "sessions": ["page_view"],
    }
    for mart, tables in paths.items():
        if dg.AssetKey(["analytics", mart]) not in MART_KEYS:
            continue  # that mart is not in the project yet
        upstream = ancestors(graph, dg.AssetKey(["analytics", mart]))
        for table in tables:
            assert raw_asset_key(table) in upstream, (mart, table)
            assert dg.AssetKey(["staging", f"stg_lms__{table}"]) in upstream, (mart, table)


def test_dbt_tests_are_asset_checks_and_marts_carry_freshness():
    graph = defs.resolve_asset_graph()
    tests = [node for node in MANIFEST["nodes"].values() if node["resource_type"] == "test"]
    check_names = {key.name for key in lms_dbt_models.check_keys}
    model_tests = [t for t in tests if not t["depends_on"]["nodes"][0].startswith("source.")]
    assert model_tests
    for test in model_tests:
        assert test["name"] in check_names
    freshness_checked = {
        key.asset_key for key in graph.asset_check_keys if key.name == "freshness_check"
    }
    for mart in MART_KEYS:
        assert graph.get(mart).freshness_policy is not None
        assert mart in freshness_checked
    assert defs.resolve_job_def("dbt_full_refresh_job") is not None
    sensors = {sensor.name: sensor for sensor in defs.sensors or []}
    for name in ("dbt_automation_sensor", "mart_freshness_checks_sensor"):
        assert sensors[name].default_status == dg.DefaultSensorStatus.RUNNING


def test_new_raw_data_refreshes_its_staging_model_and_everything_downstream_once_per_tick():
    graph = defs.resolve_asset_graph()
    selection = dg.AssetSelection.assets(lms_dbt_models)
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    tick = now + dt.timedelta(minutes=5 - now.minute % 5)  # a tick of */5 * * * *

    def requested(result) -> set[dg.AssetKey]:
        return {key for key in lms_dbt_models.keys if result.get_num_requested(key)}

    def evaluate(at: dt.datetime, cursor=None):
        return dg.evaluate_automation_conditions(
            defs=defs,
            instance=instance,
            asset_selection=selection,
            evaluation_time=at,
            cursor=cursor,
        )

    with dg.instance_for_test() as instance:
        result = evaluate(tick - dt.timedelta(minutes=4))
        # Nothing ingested yet: only the seed loads (models wait for their raw tables).
        assert requested(result) == {dg.AssetKey(["analytics", "fx_rates"])}
        for spec in RAW_SPECS:
            instance.report_runless_asset_event(dg.AssetMaterialization(spec.key))
        result = evaluate(tick - dt.timedelta(minutes=3), result.cursor)
        assert requested(result) == set(lms_dbt_models.keys)  # never built: build all
        for key in lms_dbt_models.keys:
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        result = evaluate(tick - dt.timedelta(minutes=2), result.cursor)
        assert requested(result) == set()
        # New quiz events before the tick: nothing until the tick has passed.
        instance.report_runless_asset_event(
            dg.AssetMaterialization(raw_asset_key("quiz_completed"))
        )
        result = evaluate(tick - dt.timedelta(minutes=1), result.cursor)
        assert requested(result) == set()
        instance.report_runless_asset_event(
            dg.AssetMaterialization(raw_asset_key("quiz_completed"))
        )
        result = evaluate(tick + dt.timedelta(seconds=30), result.cursor)
        staging = dg.AssetKey(["staging", "stg_lms__quiz_completed"])
        downstream = {key for key in lms_dbt_models.keys if staging in ancestors(graph, key)}
        assert requested(result) == {staging} | downstream
        assert dg.AssetKey(["staging", "stg_lms__user_created"]) not in requested(result)
        # Once handled, no second run in the same interval without new data.
        for key in requested(result):
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        result = evaluate(tick + dt.timedelta(minutes=1), result.cursor)
        assert requested(result) == set()


# --- against the local stack -----------------------------------------------------------------


@pytest.fixture(scope="module")
def harness(
    local_stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DbtHarness]:
    """An isolated raw database with a small simulated history, dropped afterwards."""
    harness = DbtHarness(local_stack, work_dir=tmp_path_factory.mktemp("dbt"))
    config = SimulationConfig(
        orgs=2, users=40, courses=3, days=10, seed=7, duplicates=0.02, late=0.02, malformed=0.0
    )
    harness.load_events(generate_messages(config), strict=False)
    yield harness
    harness.drop()


@pytest.fixture(scope="module")
def first_build(local_stack: Settings, harness: DbtHarness) -> BuildReport:
    """Every dbt asset built in process into the harness's databases; the run is recorded in
    the stack's Dagster instance (the default)."""
    return build_models(
        local_stack, dbt_vars={"schema_prefix": harness.prefix, "raw_schema": harness.raw_schema}
    )


def test_in_process_build_materializes_every_model_and_its_checks_pass(
    local_stack: Settings, harness: DbtHarness, first_build: BuildReport
):
    report = first_build
    assert report.success, report.errors
    built = {dg.AssetKey(list(model.key)): model for model in report.models}
    assert set(built) == set(lms_dbt_models.keys)
    assert report.checks, "no asset check ran"
    assert report.failed_checks == []
    # Row counts come from the prefixed tables the run wrote, and match ClickHouse.
    enrolled = built[dg.AssetKey(["staging", "stg_lms__user_enrolled"])]
    assert enrolled.rows == harness.scalar(
        f"SELECT count() FROM {harness.relation('stg_lms__user_enrolled')}"
    )
    assert enrolled.rows > 0
    for mart in MART_KEYS:
        assert built[mart].rows is not None and built[mart].rows > 0, mart
    # The run is recorded in the stack's Dagster instance (PostgreSQL), like a daemon run.
    with stack_instance(local_stack) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        run = instance.get_run_by_id(report.run_id)
        assert run is not None and run.is_success
        latest = instance.get_latest_materialization_event(
            dg.AssetKey(["staging", "stg_lms__user_enrolled"])
        )
        assert latest is not None and latest.run_id == report.run_id


def test_a_run_keeps_its_dbt_log_but_writes_no_json_artifacts_by_default(
    first_build: BuildReport,
):
    """DbtBuildConfig.write_artifacts is off: Dagster takes every outcome from dbt's events."""
    assert first_build.success, first_build.errors
    root = Path(DBT_PROJECT.project_dir) / DBT_PROJECT.target_path
    [folder] = root.glob(f"{lms_dbt_models.op.name}-{first_build.run_id[:7]}-*")
    assert (folder / "dbt.log").is_file()
    assert not (folder / "run_results.json").exists()
    assert not (folder / "manifest.json").exists()


def test_a_dbt_selection_with_full_refresh_rebuilds_only_the_selected_models(
    local_stack: Settings, harness: DbtHarness, first_build: BuildReport
):
    assert first_build.success, first_build.errors
    selected = {
        dg.AssetKey(["staging", "stg_lms__quiz_completed"]),
        dg.AssetKey(["staging", "stg_lms__question_answered"]),
    }
    with dg.instance_for_test() as instance:
        report = build_models(
            local_stack,
            full_refresh=True,
            select="stg_lms__quiz_completed stg_lms__question_answered",
            dbt_vars={"schema_prefix": harness.prefix, "raw_schema": harness.raw_schema},
            instance=instance,
        )
    assert report.success, report.errors
    assert {dg.AssetKey(list(model.key)) for model in report.models} == selected
    assert {dg.AssetKey(list(check.key)) for check in report.checks} == selected
    rows = {model.name: model.rows for model in report.models}
    assert rows["staging/stg_lms__quiz_completed"] == harness.scalar(
        f"SELECT uniqExact(event_id) FROM {harness.raw_schema}.quiz_completed"
    )


# --- lms-analytics dagster -------------------------------------------------------------------


def test_dagster_command_serves_the_ui_with_every_asset_and_stops_cleanly(
    local_stack: Settings, tmp_path: Path
):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "dagster.out"
    started = time.monotonic()
    with dagster_command(local_stack, port, log) as process:
        deadline = time.monotonic() + 240
        while "Dagster UI:" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        ready = time.monotonic() - started
        assert httpx.get(url + "/", timeout=10).status_code == 200
        response = httpx.post(
            url + "/graphql",
            json={"query": "{ assetNodes { assetKey { path } groupName } }"},
            timeout=30,
        )
        nodes = {
            tuple(node["assetKey"]["path"]): node["groupName"]
            for node in response.json()["data"]["assetNodes"]
        }
        for key in [*lms_dbt_models.keys, *(spec.key for spec in RAW_SPECS)]:
            assert tuple(key.path) in nodes, key
        assert nodes[("staging", "stg_lms__quiz_completed")] == "staging"
        info = httpx.post(url + "/graphql", json={"query": "{ instance { info } }"}, timeout=30)
        assert "PostgresRunStorage" in info.json()["data"]["instance"]["info"]
        # The webserver, the daemon and what they started (code servers, run workers); not a
        # stack service that `stack up` may have started on the way.
        family = [
            child
            for child in psutil.Process(process.pid).children(recursive=True)
            if "dagster" in " ".join(child.cmdline())
        ]
        assert {"dagster-webserver", "dagster-daemon"} <= {
            Path(part).name for child in family for part in child.cmdline()[:2]
        }

        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0, log.read_text()
    output = log.read_text()
    assert "Stopped." in output
    assert not [child for child in family if child.is_running() and child.status() != "zombie"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/", timeout=5)
    print(f"lms-analytics dagster: UI ready in {ready:.1f} s")  # shown with pytest -s


def test_build_command_names_a_selection_that_matches_nothing(local_stack: Settings):
    completed = subprocess.run(
        [sys.executable, "-m", "lms_analytics", "build", "--select", "no_such_model"],
        env=child_environment(local_stack),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 1
    assert "error: the dbt selection --select 'no_such_model'" in completed.stderr
    assert "Traceback" not in completed.stderr
