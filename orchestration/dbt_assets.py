"""The dbt project as Dagster assets: staging -> intermediate -> marts, fed by the raw tables.

(No `from __future__ import annotations`: Dagster reads the annotations at run time.)

One `@dbt_assets` multi-asset covers every model and seed of the manifest; a model added to
`dbt_project/` shows up here without Python changes. `LmsDbtTranslator` decides:

- asset keys: `[<database>, <name>]`, the ClickHouse table without the `schema_prefix` var:
  `staging/stg_lms__quiz_completed`, `intermediate/int_enrollments`,
  `analytics/course_analytics`, `analytics/fx_rates` (seed). A dbt source `raw.<table>` is the
  ingestion asset `raw/<table>`, so the lineage reads topic -> raw -> staging -> ... -> marts.
- groups by layer (the model's folder): `staging` (with the seeds), `intermediate`, `marts`.
- owners: `meta.dagster.owners` when a model sets it, else the layer's team.
- automation: `refresh_after_new_data` below; marts also carry a freshness policy.
- dbt data tests are asset checks on the model they test (unit tests run in CI, not here).

A run executes `dbt build` for the selected assets and checks, with the connection settings of
`LMS_ANALYTICS_*` (`lms_analytics.dbt_env`), optional `--full-refresh` and `--vars` from the
run config, and records each table's row count.
"""

import contextlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)
from pydantic import Field

from lms_analytics.dbt_env import dbt_environment
from lms_analytics.settings import Settings
from orchestration.dbt_project import DBT_PROJECT, dbt_executable, load_manifest
from orchestration.ingestion_assets import raw_asset_key
from orchestration.resources import LmsAnalyticsResource

RAW_SOURCE = "raw"  # the dbt source whose tables the ingestion assets fill
DEFAULT_DATABASE = "analytics"  # the profile's schema: where a model without +schema lands
SEEDS_GROUP = "staging"  # seeds are inputs, next to the typed raw data
LAYER_OWNERS = {
    "staging": ["team:data-platform"],
    "intermediate": ["team:data-platform"],
    "marts": ["team:analytics"],
}
# Marts are refreshed every few minutes while data arrives: an hour without a refresh warns,
# a day fails (the data team looks before reports go out).
MART_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=24), warn_window=timedelta(hours=1)
)
# How often dbt may run: on each tick, models whose upstream tables got new data are rebuilt
# (incrementally, for the keys the new rows touch). Request: setting `dbt_refresh_cron`.
REFRESH_CRON = "*/5 * * * *"
ROW_COUNT = "dagster/row_count"  # the UI shows it on the asset page and plots it over time
KEEP_RUN_TARGETS = 20  # per-run dbt target folders kept for inspection
DBT_POOL = "dbt"  # one dbt build at a time (dagster.yaml sets every pool's limit to 1)


def never_built() -> dg.AutomationCondition:
    """Missing (a new model, a fresh warehouse), unless its last run failed: no retry loop."""
    return (
        dg.AutomationCondition.missing() & ~dg.AutomationCondition.execution_failed()
    ).with_label("never built")


def refresh_after_new_data(cron: str = REFRESH_CRON) -> dg.AutomationCondition:
    """At most once per `cron` interval, when a parent has new data; or when never built.

    "Since the model was last requested or updated, a tick passed and a parent updated" (in
    either order). Unlike `on_cron`, one updated parent is enough: a mart reads many staging
    tables and a tick may bring events of a few types only. Parents requested in the same
    evaluation count as updated, so staging, intermediate and marts go in one run. Nothing
    starts while a parent (the ingestion run) or the model itself is in progress.
    """
    tick_passed = dg.AutomationCondition.cron_tick_passed(cron).since_last_handled()
    new_upstream_data = dg.AutomationCondition.any_deps_updated().since_last_handled()
    return (
        dg.AutomationCondition.in_latest_time_window()
        & ((tick_passed & new_upstream_data) | never_built())
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label(f"refresh after new data ({cron})")


def load_seed() -> dg.AutomationCondition:
    """Seeds (reference CSVs): load when missing or when the file changed."""
    return (
        (never_built() | dg.AutomationCondition.code_version_changed())
        & ~dg.AutomationCondition.in_progress()
    ).with_label("load seed when missing or changed")


def layer_of(dbt_resource_props: Mapping[str, Any]) -> str:
    """`staging`, `intermediate` or `marts`: the folder under models/ (seeds: staging)."""
    if dbt_resource_props["resource_type"] == "seed":
        return SEEDS_GROUP
    fqn = dbt_resource_props.get("fqn") or []
    return fqn[1] if len(fqn) > 2 else "marts"


class LmsDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            if dbt_resource_props["source_name"] == RAW_SOURCE:
                return raw_asset_key(dbt_resource_props["name"])
            return super().get_asset_key(dbt_resource_props)
        meta = dbt_resource_props.get("config", {}).get("meta") or {}
        if meta.get("dagster", {}).get("asset_key"):
            return super().get_asset_key(dbt_resource_props)
        database = dbt_resource_props.get("config", {}).get("schema") or DEFAULT_DATABASE
        return dg.AssetKey([database, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return super().get_group_name(dbt_resource_props) or layer_of(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str] | None:
        owners = super().get_owners(dbt_resource_props)
        if owners:
            return list(owners)
        return LAYER_OWNERS.get(layer_of(dbt_resource_props))

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        if dbt_resource_props["resource_type"] == "seed":
            return load_seed()
        return refresh_after_new_data()

    def get_asset_spec(self, manifest, unique_id, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "model" and layer_of(props) == "marts":
            spec = spec.replace_attributes(freshness_policy=MART_FRESHNESS)
        return spec


# Tests on the raw sources stay observations: as checks of the raw assets they would join
# every ingestion run (a job selecting an asset runs its checks), a dbt start per minute.
TRANSLATOR = LmsDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


class DbtBuildConfig(dg.Config):
    """Run config of the dbt assets (the Launchpad shows it)."""

    full_refresh: bool = Field(
        default=False,
        description="Rebuild incremental models from scratch (`dbt build --full-refresh`).",
    )
    dbt_vars: dict[str, str] = Field(
        default_factory=dict,
        description="dbt `--vars`, e.g. {as_of: '2024-05-01 00:00:00'} or {schema_prefix: 'x_'}.",
    )
    write_artifacts: bool = Field(
        default=False,
        description=(
            "Also write dbt's JSON artifacts (manifest.json, run_results.json) into the run's "
            "target folder, e.g. for an observability tool that reads them. Off by default: "
            "Dagster records every model's outcome from dbt's event stream, and serialising "
            "the manifest cost about 0.3 s of every run (measured at 5M events)."
        ),
    )


def dbt_cli_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=dbt_executable())


def dbt_args(config: DbtBuildConfig) -> list[str]:
    # Unit tests pin the models' logic on fixed inputs: they run in CI (`make test`), not
    # against production data on every refresh. Tests on the raw sources are not asset checks
    # (see TRANSLATOR): they stay out too.
    args = ["build", "--exclude-resource-type", "unit_test", "--exclude", "source:*"]
    if config.full_refresh:
        args.append("--full-refresh")
    if config.dbt_vars:
        args += ["--vars", json.dumps(config.dbt_vars)]
    if not config.write_artifacts:
        args.append("--no-write-json")
    return args


@contextlib.contextmanager
def process_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Set `variables` in os.environ for the block: the dbt subprocess inherits os.environ."""
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _table_models(manifest: Mapping[str, Any]) -> dict[dg.AssetKey, tuple[str, str]]:
    """Asset key -> (database without prefix, table) for every model or seed stored as a table."""
    tables = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] not in ("model", "seed"):
            continue
        if node["resource_type"] == "model" and node["config"].get("materialized") in (
            "view",
            "ephemeral",
        ):
            continue
        key = TRANSLATOR.get_asset_key(node)
        database = node.get("config", {}).get("schema") or DEFAULT_DATABASE
        tables[key] = (database, node.get("alias") or node["name"])
    return tables


def prune_run_targets(op_name: str, keep: int = KEEP_RUN_TARGETS) -> None:
    """Delete all but the newest `keep` per-run dbt target folders (`target/<op>-<run>-<id>`).

    dagster-dbt gives each dbt invocation its own target folder (dbt.log, the compiled SQL and,
    with `write_artifacts`, manifest.json and run_results.json): useful to look at after a
    run, but a refresh every few minutes would otherwise fill the disk.
    """
    root = Path(DBT_PROJECT.project_dir) / DBT_PROJECT.target_path
    folders = sorted(
        (path for path in root.glob(f"{op_name}-*") if path.is_dir()),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    for folder in folders[keep:]:
        shutil.rmtree(folder, ignore_errors=True)


class _RowCounter:
    """Counts the rows of each table a run built, in the database the run wrote to."""

    def __init__(self, settings: Settings, schema_prefix: str) -> None:
        self.settings = settings
        self.schema_prefix = schema_prefix
        self._client: Any = None

    def count(self, database: str, table: str) -> int | None:
        import clickhouse_connect

        if self._client is None:
            self._client = clickhouse_connect.get_client(**self.settings.clickhouse_client_kwargs())
        try:
            return int(
                self._client.command(
                    "SELECT count() FROM {db:Identifier}.{table:Identifier}",
                    parameters={"db": self.schema_prefix + database, "table": table},
                )
            )
        except Exception as error:  # a count is nice to have, never a reason to fail a run
            dg.get_dagster_logger().warning(f"no row count for {database}.{table}: {error}")
            return None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


MANIFEST = load_manifest()
DBT_TABLES = _table_models(MANIFEST)


@dbt_assets(
    manifest=MANIFEST,
    project=DBT_PROJECT,
    dagster_dbt_translator=TRANSLATOR,
    name="lms_dbt_models",
    pool=DBT_POOL,
)
def lms_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    lms: LmsAnalyticsResource,
    config: DbtBuildConfig,
):
    """`dbt build` of the selected models, seeds and tests (incremental unless configured)."""
    prune_run_targets(context.op_execution_context.op.name)
    settings = lms.settings()
    counter = _RowCounter(settings, config.dbt_vars.get("schema_prefix", ""))
    try:
        with process_environment(dbt_environment(settings)):
            invocation = dbt.cli(dbt_args(config), context=context)
            for event in invocation.stream():
                if isinstance(event, dg.Output | dg.AssetMaterialization):
                    key = (
                        context.asset_key_for_output(event.output_name)
                        if isinstance(event, dg.Output)
                        else event.asset_key
                    )
                    if key in DBT_TABLES:
                        rows = counter.count(*DBT_TABLES[key])
                        if rows is not None:
                            event = event.with_metadata(
                                {**event.metadata, ROW_COUNT: dg.MetadataValue.int(rows)}
                            )
                yield event
    finally:
        counter.close()


dbt_build_job = dg.define_asset_job(
    "dbt_build_job",
    selection=dg.AssetSelection.assets(lms_dbt_models),
    description="Incremental `dbt build` of every model and seed, with the dbt tests.",
)

dbt_full_refresh_job = dg.define_asset_job(
    "dbt_full_refresh_job",
    selection=dg.AssetSelection.assets(lms_dbt_models),
    description=(
        "`dbt build --full-refresh`: rebuild every model from all raw data (after a model's "
        "logic changed, or to repair a table). Marts equal what the incremental runs produce."
    ),
    config=dg.RunConfig(ops={"lms_dbt_models": DbtBuildConfig(full_refresh=True)}),
)

dbt_automation_sensor = dg.AutomationConditionSensorDefinition(
    "dbt_automation_sensor",
    target=dg.AssetSelection.assets(lms_dbt_models),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates the dbt models' automation conditions: rebuild after new raw data.",
)
