"""The project's dbt unit tests (`unit_tests:` in the YAML) run and pass on the real engine;
`lms_engine` renders the Replicated engines when the profile names a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dbt_harness import DbtHarness

pytestmark = pytest.mark.slow

INTERMEDIATE_UNIT_TESTS = {
    "int_course_structure_latest_item_wins",
    "int_course_structure_resolves_module_lesson_quiz",
    "int_enrollments_state_rules",
    "int_learner_progress_ratio_cap_and_completion",
    "int_learner_items_sums_and_flags_per_learner_item",
    "int_learner_course_items_lessons_completion_and_dropoff",
    "int_learner_course_items_module_completion_needs_every_lesson",
    "int_page_view_sessions_gap_rule_and_key",
    "int_as_of_is_the_latest_event_time",
    "int_as_of_takes_the_var",
}
PATH_ARGS = "'/clickhouse/tables/{uuid}/{shard}', '{replica}'"


def test_every_dbt_unit_test_runs_and_passes(dbt_harness: DbtHarness) -> None:
    # Unit tests read the column types of their inputs, so every relation must exist: an
    # --empty build creates them all without reading data (as the dbt docs recommend).
    dbt_harness.dbt("seed")
    dbt_harness.dbt("run", "--empty")
    manifest = dbt_harness.manifest()
    defined = {test.name for test in manifest.unit_tests.values()}

    run = dbt_harness.dbt("test", "--select", "test_type:unit", check=False)

    assert run.success, run.describe()
    unit_results = [r for r in run.results if str(r.node.resource_type) == "unit_test"]
    ran = {r.node.name for r in unit_results}
    assert ran == defined
    assert len(unit_results) == len(defined) >= len(INTERMEDIATE_UNIT_TESTS)
    assert ran >= INTERMEDIATE_UNIT_TESTS
    assert {str(r.status) for r in unit_results} == {"pass"}, run.describe()


def _engines(manifest) -> dict[str, str]:
    return {
        node.name: node.config.get("engine")
        for node in manifest.nodes.values()
        if node.resource_type == "model" and node.config.materialized != "view"
    }


@pytest.fixture
def cluster_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMS_ANALYTICS_DBT_CLICKHOUSE_CLUSTER", "lms_cluster")


def test_cluster_target_with_atomic_databases_gets_replicated_engines_with_paths(
    dbt_harness: DbtHarness, cluster_env: None, tmp_path: Path
) -> None:
    # The project's `cluster` target as shipped: dbt-clickhouse issues ON CLUSTER DDL and the
    # tables need their replication path.
    profiles = yaml.safe_load((dbt_harness.project_dir / "profiles.yml").read_text())
    assert "database_engine" not in profiles["lms_analytics"]["outputs"]["cluster"]

    engines = _engines(dbt_harness.manifest(target="cluster"))

    assert engines["int_enrollments"] == f"ReplicatedMergeTree({PATH_ARGS})"
    assert engines["int_as_of"] == f"ReplicatedMergeTree({PATH_ARGS})"
    not_replicated = {name: e for name, e in engines.items() if not str(e).startswith("Replicated")}
    assert not_replicated == {}
    replacing = {e for e in engines.values() if "ReplacingMergeTree" in e}
    assert replacing <= {f"ReplicatedReplacingMergeTree({PATH_ARGS}, updated_at)"}


def test_cluster_target_with_replicated_databases_gets_replicated_engines(
    dbt_harness: DbtHarness, cluster_env: None, tmp_path: Path
) -> None:
    # The same target on Replicated databases: the database replicates the DDL itself.
    profiles = yaml.safe_load((dbt_harness.project_dir / "profiles.yml").read_text())
    profiles["lms_analytics"]["outputs"]["cluster"]["database_engine"] = (
        "Replicated('/clickhouse/databases/{database}', '{shard}', '{replica}')"
    )
    (tmp_path / "profiles.yml").write_text(yaml.safe_dump(profiles))

    engines = _engines(dbt_harness.manifest(target="cluster", profiles_dir=tmp_path))

    # a Replicated database replicates the DDL and gives tables their default path
    assert engines["int_page_view_sessions"] == "ReplicatedMergeTree()"
    not_replicated = {name: e for name, e in engines.items() if not str(e).startswith("Replicated")}
    assert not_replicated == {}


def test_local_target_keeps_plain_engines(dbt_harness: DbtHarness) -> None:
    engines = _engines(dbt_harness.manifest())

    assert engines["int_course_structure"] == "MergeTree"
    assert not any(str(e).startswith("Replicated") for e in engines.values())
