"""`lms-analytics build`: materialize the dbt assets through Dagster, in this process.

The run is the same as one the daemon starts: the `lms_dbt_models` multi-asset runs `dbt build`
for the selection, dbt tests become asset check results, the marts' freshness checks follow.
It is recorded in the stack's Dagster instance (PostgreSQL), so the UI shows it next to the
scheduled runs. The report lists each model built (rows, seconds) and the checks.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lms_analytics.errors import LmsAnalyticsError
from lms_analytics.settings import Settings

if TYPE_CHECKING:
    import dagster as dg

RUN_TAGS = {"lms_analytics/trigger": "cli"}
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


class BuildFailed(LmsAnalyticsError):
    """The dbt build ran and failed (a model or an error-severity test)."""


@dataclass(frozen=True)
class ModelResult:
    key: tuple[str, ...]
    group: str
    rows: int | None
    seconds: float | None

    @property
    def name(self) -> str:
        return "/".join(self.key)


@dataclass(frozen=True)
class CheckResult:
    key: tuple[str, ...]
    name: str
    passed: bool
    severity: str
    description: str = ""


@dataclass
class BuildReport:
    run_id: str
    success: bool
    seconds: float
    models: list[ModelResult] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.passed]


def build_selection(select: str | None, exclude: str | None = None) -> dg.AssetSelection:
    """dbt selection syntax (`marts`, `+course_analytics`, `tag:x`) -> Dagster assets+checks.

    The selected models bring the checks that target them: their dbt tests and, for marts,
    the freshness checks.
    """
    import dagster as dg
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
    from dagster_dbt import build_dbt_asset_selection

    from orchestration.dbt_assets import lms_dbt_models

    own_keys = set(lms_dbt_models.keys)
    if not select and not exclude:
        return dg.AssetSelection.assets(lms_dbt_models)
    dbt_selection = build_dbt_asset_selection(
        [lms_dbt_models], dbt_select=select or "fqn:*", dbt_exclude=exclude or ""
    )
    keys = dbt_selection.resolve(AssetGraph.from_assets([lms_dbt_models])) & own_keys
    if not keys:
        raise LmsAnalyticsError(
            f"the dbt selection --select {select!r} --exclude {exclude!r} matches no model or "
            "seed. Use dbt's syntax, e.g. `--select marts` or `--select +course_analytics`."
        )
    return dg.AssetSelection.assets(*keys)


def build_models(
    settings: Settings,
    *,
    full_refresh: bool = False,
    select: str | None = None,
    exclude: str | None = None,
    dbt_vars: Mapping[str, str] | None = None,
    instance: dg.DagsterInstance | None = None,
    on_output: Callable[[str], None] | None = None,
    log_level: str = "INFO",
) -> BuildReport:
    """Materialize the selected dbt assets in process and report on each model and check.

    `instance`: default, the stack's Dagster instance (PostgreSQL); tests may pass another.
    `on_output`: receives each line dbt prints (which otherwise goes to stdout), e.g. to show
    progress; sys.stdout is redirected meanwhile, so a rich console showing that progress must
    be bound to the real stdout (`Console(file=sys.stdout)`). `log_level`: of Dagster's
    console log for the run.
    The run reads its connections from `LMS_ANALYTICS_*`, like every Dagster run.
    """
    from orchestration.dbt_project import ensure_manifest

    ensure_manifest()  # before the definitions load the manifest
    import dagster as dg

    from orchestration.checks import mart_freshness_checks
    from orchestration.dagster_instance import stack_instance
    from orchestration.dbt_assets import DbtBuildConfig, dbt_cli_resource, lms_dbt_models
    from orchestration.resources import LmsAnalyticsResource

    selection = build_selection(select, exclude)
    config = DbtBuildConfig(full_refresh=full_refresh, dbt_vars=dict(dbt_vars or {}))
    run_config = dg.RunConfig(
        ops={lms_dbt_models.op.name: config},
        loggers={"console": {"config": {"log_level": log_level}}},
    )
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if instance is None:
            instance = stack.enter_context(stack_instance(settings))
        if on_output is not None:
            stack.enter_context(contextlib.redirect_stdout(_LineWriter(on_output)))
        result = dg.materialize(
            [lms_dbt_models, *mart_freshness_checks],
            selection=selection,
            instance=instance,
            resources={"dbt": dbt_cli_resource(), "lms": LmsAnalyticsResource()},
            run_config=run_config,
            tags=RUN_TAGS,
            raise_on_error=False,
        )
        return _report(result, time.monotonic() - started)


class _LineWriter(io.TextIOBase):
    """A stdout replacement that hands each complete line to a callback."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self._on_line = on_line
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._on_line(line)
        return len(text)


def _report(result: dg.ExecuteInProcessResult, seconds: float) -> BuildReport:
    from orchestration.dbt_assets import ROW_COUNT, lms_dbt_models

    groups = {spec.key: spec.group_name or "" for spec in lms_dbt_models.specs}
    report = BuildReport(run_id=result.run_id, success=result.success, seconds=seconds)
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        metadata = materialization.metadata
        rows = metadata.get(ROW_COUNT)
        duration = metadata.get("Execution Duration")
        report.models.append(
            ModelResult(
                key=tuple(materialization.asset_key.path),
                group=groups.get(materialization.asset_key, ""),
                rows=int(rows.value) if rows is not None else None,
                seconds=float(duration.value) if duration is not None else None,
            )
        )
    for evaluation in result.get_asset_check_evaluations():
        report.checks.append(
            CheckResult(
                key=tuple(evaluation.asset_key.path),
                name=evaluation.check_name,
                passed=evaluation.passed,
                severity=evaluation.severity.value,
                description=evaluation.description or "",
            )
        )
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.error
            while error is not None and error.cause is not None:
                error = error.cause  # the dbt or user error, not Dagster's wrapper
            report.errors.append(_summary(error.message) if error else "step failed")
    return report


def _summary(message: str) -> str:
    """One line: dbt's own error lines when dagster-dbt lists them, else the first line."""
    text = ANSI_ESCAPE.sub("", message)
    _, marker, dbt_errors = text.partition("Errors parsed from dbt logs:")
    lines = [line.strip() for line in (dbt_errors if marker else text).splitlines()]
    lines = [line for line in lines if line]
    return "; ".join(lines if marker else lines[:1]) or "step failed"
