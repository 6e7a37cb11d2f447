"""dbt tests: each gets a DbtHarness on the session stack, with its own raw copy and prefix.

`LMS_DBT_PROJECT_DIR` runs them against a copy of the dbt project (default: dbt_project/).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dbt_harness import DbtHarness

from lms_analytics.dbt_env import DBT_PROJECT_DIR
from lms_analytics.settings import Settings

HarnessFactory = Callable[..., DbtHarness]


@pytest.fixture
def dbt_harness_factory(
    local_stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HarnessFactory]:
    """Makes harnesses (prefix, raw copy, dbt target folder of their own); drops them after."""
    made: list[DbtHarness] = []

    def make(**kwargs) -> DbtHarness:
        work_dir: Path = tmp_path_factory.mktemp("dbt")
        project_dir = Path(os.environ.get("LMS_DBT_PROJECT_DIR", DBT_PROJECT_DIR))
        harness = DbtHarness(local_stack, work_dir, project_dir=project_dir, **kwargs)
        harness.create_raw()
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.drop()


@pytest.fixture
def dbt_harness(dbt_harness_factory: HarnessFactory) -> DbtHarness:
    """One harness with an empty raw copy."""
    return dbt_harness_factory()
