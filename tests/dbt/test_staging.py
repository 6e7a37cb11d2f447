"""Staging: typed, one row per event_id (the first copy ingested), incremental = full refresh."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from dbt_harness import DbtHarness, random_batches, simulated_messages

from ingestion.raw_schema import RAW_TABLES

pytestmark = pytest.mark.slow

# Staging plus the seed its payment-currency test reads.
STAGING = ["path:models/staging", "fx_rates"]
T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)

ENROLLED = {
    "ID": "enr-1",
    "CourseID": "course-1",
    "UserID": "user-1",
    "EnrolledAt": "2026-09-01T08:00:00.250Z",
}
PAGE_VIEW = {
    "ID": "pv-1",
    "UserID": "user-1",
    "SessionID": "",
    "URL": "https://lms.example/courses/course-1?utm_source=mail",
    "Path": "/courses/course-1",
    "Title": "Course 1",
    "Referrer": "https://mail.example/",
    "TimeOnPage": 42,
    "EntryPage": True,
    "ExitPage": False,
    "ClientMetadata": {
        "DeviceType": "mobile",
        "Browser": "Firefox",
        "OperatingSystem": "Android",
        "UserAgent": "Mozilla/5.0 (Android)",
        "IPAddress": "203.0.113.9",
    },
    "CreatedAt": "2026-09-01T09:00:00+02:00",
}
MODULE = {
    "CourseID": "course-1",
    "ItemType": "module",
    "ItemID": "mod-1",
    "ParentID": "course-1",
    "Position": 1,
    "Title": "Module 1",
    "PublishedAt": "2026-08-30T10:00:00Z",
}


def naive(value: datetime) -> datetime:
    """ClickHouse hands DateTime64(3, 'UTC') back as naive UTC."""
    return value.astimezone(UTC).replace(tzinfo=None)


def test_staging_keeps_one_typed_row_per_event_id_the_first_copy_ingested(
    dbt_harness: DbtHarness,
) -> None:
    first_load = T0
    dbt_harness.load_events(
        [("course.user-enrolled", ENROLLED), ("course.user-enrolled", ENROLLED)],
        ingested_at=first_load,
    )
    dbt_harness.load_events(
        [
            ("course.user-enrolled", ENROLLED),
            ("tracking.page-views", PAGE_VIEW),
            ("course.content-published", MODULE),
        ],
        ingested_at=first_load + timedelta(minutes=1),
    )

    started = datetime.now(UTC)
    dbt_harness.build(select=STAGING)
    finished = datetime.now(UTC)

    assert dbt_harness.scalar(f"select count() from {dbt_harness.raw_schema}.user_enrolled") == 3
    # every row staged by the build carries its start (the readers' exact watermark)
    staged_at = dbt_harness.scalar(
        "select arrayStringConcat(groupUniqArray(toString(staged_at)), ',') from ("
        + " union all ".join(
            f"select staged_at from {dbt_harness.relation(model)}"
            for model in (
                "stg_lms__user_enrolled",
                "stg_lms__page_view",
                "stg_lms__content_published",
            )
        )
        + ")"
    )
    assert "," not in staged_at
    # the lookup of staged event ids compares event_hash first: it must be the id's hash
    for model in ("stg_lms__user_enrolled", "stg_lms__page_view", "stg_lms__content_published"):
        mismatched = dbt_harness.scalar(
            f"select countIf(event_hash != cityHash64(event_id)) from {dbt_harness.relation(model)}"
        )
        assert mismatched == 0, model
    assert (
        naive(started) - timedelta(seconds=1)
        <= datetime.fromisoformat(staged_at)
        <= naive(finished)
    )
    enrolled = dbt_harness.rows(
        "stg_lms__user_enrolled", exclude=("event_id", "event_hash", "staged_at")
    )
    assert enrolled == [
        {
            "id": "enr-1",
            "course_id": "course-1",
            "user_id": "user-1",
            "enrolled_at": datetime(2026, 9, 1, 8, 0, 0, 250000),
            "ingested_at": naive(first_load),
        }
    ]
    [page_view] = dbt_harness.rows(
        "stg_lms__page_view", exclude=("event_id", "event_hash", "ingested_at", "staged_at")
    )
    assert page_view == {
        "id": "pv-1",
        "user_id": "user-1",
        "session_id": "",
        "url": "https://lms.example/courses/course-1?utm_source=mail",
        "path": "/courses/course-1",
        "title": "Course 1",
        "referrer": "https://mail.example/",
        "time_on_page": 42,
        "entry_page": True,
        "exit_page": False,
        "client_device_type": "mobile",
        "client_browser": "Firefox",
        "client_operating_system": "Android",
        "client_user_agent": "Mozilla/5.0 (Android)",
        "client_ip_address": "203.0.113.9",
        "created_at": datetime(2026, 9, 1, 7, 0),
    }
    [module] = dbt_harness.rows(
        "stg_lms__content_published", exclude=("event_id", "event_hash", "ingested_at", "staged_at")
    )
    assert module["module_id"] is None and module["lesson_id"] is None
    assert module["due_at"] is None
    assert (module["item_type"], module["item_id"], module["position"]) == ("module", "mod-1", 1)


def test_an_event_redelivered_after_a_build_is_not_staged_twice(dbt_harness: DbtHarness) -> None:
    dbt_harness.load_events([("course.user-enrolled", ENROLLED)], ingested_at=T0)
    dbt_harness.build(select=STAGING)
    dbt_harness.load_events(
        [("course.user-enrolled", ENROLLED), ("course.user-enrolled", {**ENROLLED, "ID": "enr-2"})],
        ingested_at=T0 + timedelta(hours=1),
    )

    dbt_harness.build(select=STAGING)

    rows = dbt_harness.rows("stg_lms__user_enrolled", order_by="id")
    assert [(r["id"], r["ingested_at"]) for r in rows] == [
        ("enr-1", naive(T0)),
        ("enr-2", naive(T0 + timedelta(hours=1))),
    ]
    # each row keeps the start of the build that staged it: the second build's is later
    assert rows[0]["staged_at"] < rows[1]["staged_at"]


@pytest.mark.parametrize("slow_insert", [False, True], ids=["in-order", "slow-insert"])
def test_incremental_staging_equals_a_full_refresh_over_batches_with_duplicates_and_late_rows(
    dbt_harness: DbtHarness, slow_insert: bool
) -> None:
    rng = random.Random(20261125)
    messages = simulated_messages(seed=11, duplicates=0.1, late=0.1)
    batches = random_batches(messages, rng, batches=4, redeliver=0.15, hold_back=0.1)
    loaded_at = datetime.now(UTC) - timedelta(hours=1)
    for number, batch in enumerate(batches):
        loaded_at += timedelta(minutes=5)
        ingested_at = loaded_at
        if slow_insert and number == 2:
            # a consumer batch that committed late: its rows carry an ingested_at from before
            # the newest row the previous build staged (inside the lookback)
            ingested_at = loaded_at - timedelta(minutes=7)
        dbt_harness.load_events(batch, ingested_at=ingested_at, strict=False)
        dbt_harness.build(select=STAGING, command="run")
    # A slow insert can bring an earlier-ingested copy of an event staging already holds:
    # staging keeps the copy it staged first (append-only), a full refresh the earliest one.
    # The copies are the same event, so only ingested_at can differ, and only then.
    # staged_at is when a row was staged: a full refresh stages everything again
    exclude = ("staged_at", "ingested_at") if slow_insert else ("staged_at",)
    incremental = {t.name: dbt_harness.rows(f"stg_lms__{t.name}", exclude) for t in RAW_TABLES}

    dbt_harness.build(select=STAGING, full_refresh=True)  # with the data tests
    full = {t.name: dbt_harness.rows(f"stg_lms__{t.name}", exclude) for t in RAW_TABLES}

    assert incremental == full
    for table in RAW_TABLES:
        distinct = dbt_harness.scalar(
            f"select uniqExact(event_id) from {dbt_harness.raw_schema}.{table.name}"
        )
        assert len(full[table.name]) == distinct, table.name
        assert len({row["event_id"] for row in full[table.name]}) == distinct, table.name
    assert sum(len(rows) for rows in full.values()) > 2000
