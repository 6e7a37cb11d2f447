"""Versioned, idempotent migrations of the raw schema in ClickHouse.

Migrations are the numbered SQL files in `ingestion/migrations/` (`0001_raw_tables.sql`),
statements separated by `;` at the end of a line. Each applied file is recorded in
`raw.schema_migrations` with its checksum; an applied file that changed afterwards is an error
(write a new migration instead). Statements are written to be safe to run twice (`IF NOT
EXISTS`), so two consumers starting at once cannot break the schema.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

from lms_analytics.errors import LmsAnalyticsError

log = logging.getLogger(__name__)

MIGRATIONS_TABLE = "raw.schema_migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(LmsAnalyticsError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def statements(self) -> list[str]:
        return [part.strip() for part in re.split(r";\s*$", self.sql, flags=re.M) if part.strip()]


def available_migrations() -> list[Migration]:
    folder = resources.files("ingestion") / "migrations"
    migrations = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            migrations.append(Migration(int(match[1]), match[2], entry.read_text()))
    return sorted(migrations, key=lambda m: m.version)


def applied_checksums(client) -> dict[int, str]:
    client.command("CREATE DATABASE IF NOT EXISTS raw")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version UInt32, name String, "
        "checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
    rows = client.query(f"SELECT version, any(checksum) FROM {MIGRATIONS_TABLE} GROUP BY version")
    return dict(rows.result_rows)


def migrate(client) -> list[Migration]:
    """Apply every pending migration in order; return those applied now."""
    applied = applied_checksums(client)
    done: list[Migration] = []
    for migration in available_migrations():
        recorded = applied.get(migration.version)
        if recorded is not None:
            if recorded != migration.checksum:
                raise MigrationError(
                    f"raw schema migration {migration.version:04d}_{migration.name} changed "
                    "after it was applied; add a new migration file instead of editing it"
                )
            continue
        log.info("applying raw schema migration %04d_%s", migration.version, migration.name)
        for statement in migration.statements:
            client.command(statement)
        client.insert(
            MIGRATIONS_TABLE,
            [[migration.version, migration.name, migration.checksum]],
            column_names=["version", "name", "checksum"],
        )
        done.append(migration)
    return done
