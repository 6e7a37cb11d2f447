"""Executions remember the period they cover and the Dagster run that made them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

A scheduled run covers one period (a partition of its Dagster report job); storing it lets a
re-executed or retried run see that the period was already delivered, and lets the API show
which day, week or month an execution covers. Run-now executions keep both NULL when they ran
over all data.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "report_executions", sa.Column("period_start", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "report_executions", sa.Column("period_end", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("report_executions", sa.Column("dagster_run_id", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_report_executions_period_bounds"),
        "report_executions",
        "(period_start IS NULL) = (period_end IS NULL) AND "
        "(period_start IS NULL OR period_end > period_start)",
    )
    # "Was this period delivered already?": completed executions of a report by period.
    op.create_index(
        "ix_report_executions_completed_period",
        "report_executions",
        ["report_id", "period_start", "period_end"],
        unique=False,
        postgresql_where=sa.text("status = 'completed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_report_executions_completed_period", table_name="report_executions")
    op.drop_constraint(
        op.f("ck_report_executions_period_bounds"), "report_executions", type_="check"
    )
    op.drop_column("report_executions", "dagster_run_id")
    op.drop_column("report_executions", "period_end")
    op.drop_column("report_executions", "period_start")
