"""Freshness of the marts, as asset checks the data team sees next to the dbt tests.

Every mart carries a `FreshnessPolicy` (set by the dbt translator), which the daemon evaluates
into the freshness state the UI shows. The checks below complement it with a record per
evaluation in the asset's Checks tab: `freshness_check` passes while the mart was updated
within the last `MART_MAX_AGE`, warns otherwise. `mart_freshness_checks_sensor` (running by
default) evaluates them as soon as a mart could have become overdue; a run that selects a mart
with its checks (the jobs below, "Materialize" in the UI) evaluates them too.

Dagster 1.13 marks these factories "superseded" in favour of the policies; we keep both on
purpose (the policy drives the UI state, the checks leave an evaluation history and can fail a
run), and silence only that warning.
"""

import warnings
from datetime import timedelta

import dagster as dg

from orchestration.dbt_assets import lms_dbt_models

MART_GROUP = "marts"
MART_MAX_AGE = timedelta(hours=1)

MART_KEYS = sorted(
    (spec.key for spec in lms_dbt_models.specs if spec.group_name == MART_GROUP),
    key=lambda key: key.to_user_string(),
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=dg.SupersessionWarning)
    mart_freshness_checks = (
        dg.build_last_update_freshness_checks(
            assets=MART_KEYS,
            lower_bound_delta=MART_MAX_AGE,
            severity=dg.AssetCheckSeverity.WARN,
        )
        if MART_KEYS
        else []
    )
    mart_freshness_checks_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=mart_freshness_checks,
        name="mart_freshness_checks_sensor",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
