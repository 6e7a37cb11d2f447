"""The dbt project as Dagster sees it, and its manifest.

`@dbt_assets` reads `dbt_project/target/manifest.json` when `orchestration.definitions` is
imported; importing never runs dbt. The manifest is made ahead of time by `dbt parse`:
`make install` does it (and again whenever a file of the dbt project changes), CI and a
deployment image do it in their build step, and `dagster dev` does it through
`DbtProject.prepare_if_dev()`. The `lms-analytics build`, `dagster` and `demo` commands call
`ensure_manifest()` first, so a model added a minute ago shows up without a reinstall.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from dagster_dbt import DbtProject

from lms_analytics.dbt_env import DBT_PROJECT_DIR
from lms_analytics.errors import LmsAnalyticsError

log = logging.getLogger(__name__)

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
DBT_PROJECT.prepare_if_dev()  # only under `dagster dev` (DAGSTER_IS_DEV_CLI): a no-op otherwise

# What `dbt parse` reads: a change to any of these makes the manifest stale.
_PROJECT_INPUTS = ("dbt_project.yml", "packages.yml", "dependencies.yml", "selectors.yml")
_PROJECT_FOLDERS = ("models", "macros", "seeds", "snapshots", "tests", "analyses")


class DbtProjectError(LmsAnalyticsError):
    """The dbt project does not parse, so Dagster cannot load its assets."""


def dbt_executable() -> str:
    """The `dbt` next to this Python (a virtualenv's bin), so no activated PATH is needed."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def manifest_is_stale(project: DbtProject = DBT_PROJECT) -> bool:
    """True when the manifest is missing or older than a file of the dbt project."""
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    root = Path(project.project_dir)
    inputs = [root / name for name in _PROJECT_INPUTS]
    for folder in _PROJECT_FOLDERS:
        inputs.extend(path for path in (root / folder).rglob("*") if path.is_file())
    return any(path.exists() and path.stat().st_mtime > built for path in inputs)


def load_manifest(project: DbtProject = DBT_PROJECT) -> dict[str, Any]:
    """The parsed manifest; a missing one is an error that says how to make it."""
    try:
        return json.loads(project.manifest_path.read_text())
    except FileNotFoundError:
        raise DbtProjectError(
            f"the dbt manifest {project.manifest_path} is missing. Run `make install` (it runs "
            "`dbt parse`), or `.venv/bin/dbt parse --project-dir dbt_project --profiles-dir "
            "dbt_project`."
        ) from None


def ensure_manifest(project: DbtProject = DBT_PROJECT) -> bool:
    """Run `dbt parse` if the manifest is missing or stale; True if it ran."""
    if not manifest_is_stale(project):
        return False
    from dagster_dbt import DbtCliResource
    from dagster_dbt.errors import DagsterDbtCliRuntimeError

    log.info("parsing the dbt project into %s", project.manifest_path)
    dbt = DbtCliResource(project_dir=project, dbt_executable=dbt_executable())
    try:
        dbt.cli(["parse", "--quiet"], target_path=project.target_path).wait()
    except DagsterDbtCliRuntimeError as error:
        raise DbtProjectError(
            f"the dbt project does not parse, so its assets cannot load: {error}"
        ) from None
    return True
