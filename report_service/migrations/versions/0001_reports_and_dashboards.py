"""Reports, their schedules and executions; dashboards and their widgets.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Values in CHECK constraints are spelled out (not imported from `report_service.domain`): a
migration must keep meaning what it meant when it was written.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("dashboard_widgets", "dashboards", "report_executions", "report_schedules", "reports")


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column(
            "filters",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("metrics", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "dimensions",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("sort_by", sa.Text(), nullable=True),
        sa.Column("sort_direction", sa.Text(), server_default="desc", nullable=False),
        sa.Column("limit", sa.Integer(), nullable=True),
        sa.Column("format", sa.Text(), server_default="csv", nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("btrim(name) <> ''", name=op.f("ck_reports_name_not_blank")),
        sa.CheckConstraint("format IN ('csv', 'pdf', 'json')", name=op.f("ck_reports_format")),
        sa.CheckConstraint(
            "jsonb_typeof(filters) = 'object'", name=op.f("ck_reports_filters_object")
        ),
        sa.CheckConstraint(
            "sort_direction IN ('asc', 'desc')", name=op.f("ck_reports_sort_direction")
        ),
        sa.CheckConstraint(
            "type IN ('user', 'course', 'module', 'lesson', 'quiz', 'question', 'assignment', "
            "'organization', 'sessions', 'page_views', 'activities')",
            name=op.f("ck_reports_type"),
        ),
        sa.CheckConstraint(
            '"limit" IS NULL OR "limit" BETWEEN 1 AND 1000000', name=op.f("ck_reports_limit_range")
        ),
        sa.CheckConstraint("cardinality(metrics) >= 1", name=op.f("ck_reports_metrics_not_empty")),
        sa.CheckConstraint(
            "sort_by IS NULL OR sort_by = ANY(metrics || dimensions)",
            name=op.f("ck_reports_sort_by_selected"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    op.create_index(
        "ix_reports_org_id_created_at",
        "reports",
        ["org_id", sa.literal_column("created_at DESC")],
        unique=False,
    )
    op.create_index(
        "ix_reports_org_id_created_by", "reports", ["org_id", "created_by"], unique=False
    )
    op.create_table(
        "report_schedules",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("report_id", sa.UUID(), nullable=False),
        sa.Column("frequency", sa.Text(), nullable=False),
        sa.Column("day_of_week", sa.SmallInteger(), nullable=True),
        sa.Column("day_of_month", sa.SmallInteger(), nullable=True),
        sa.Column("hour", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("minute", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column(
            "recipients",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(frequency = 'monthly') = (day_of_month IS NOT NULL)",
            name=op.f("ck_report_schedules_day_of_month_for_monthly"),
        ),
        sa.CheckConstraint(
            "(frequency = 'weekly') = (day_of_week IS NOT NULL)",
            name=op.f("ck_report_schedules_day_of_week_for_weekly"),
        ),
        sa.CheckConstraint(
            "frequency IN ('daily', 'weekly', 'monthly')",
            name=op.f("ck_report_schedules_frequency"),
        ),
        sa.CheckConstraint(
            "day_of_month IS NULL OR day_of_month BETWEEN 1 AND 31",
            name=op.f("ck_report_schedules_day_of_month_range"),
        ),
        sa.CheckConstraint(
            "day_of_week IS NULL OR day_of_week BETWEEN 0 AND 6",
            name=op.f("ck_report_schedules_day_of_week_range"),
        ),
        sa.CheckConstraint("hour BETWEEN 0 AND 23", name=op.f("ck_report_schedules_hour_range")),
        sa.CheckConstraint(
            "minute BETWEEN 0 AND 59", name=op.f("ck_report_schedules_minute_range")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_report_schedules_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_schedules")),
        sa.UniqueConstraint("report_id", name=op.f("uq_report_schedules_report_id")),
    )
    op.create_index(
        "ix_report_schedules_due",
        "report_schedules",
        ["next_run_at"],
        unique=False,
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "report_executions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("report_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration", sa.Integer(), nullable=True),
        sa.Column("result_url", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed')",
            name=op.f("ck_report_executions_status"),
        ),
        sa.CheckConstraint(
            "duration IS NULL OR duration >= 0",
            name=op.f("ck_report_executions_duration_not_negative"),
        ),
        sa.CheckConstraint(
            "start_time IS NULL OR end_time IS NULL OR end_time >= start_time",
            name=op.f("ck_report_executions_end_after_start"),
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_report_executions_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_executions")),
    )
    op.create_index(
        "ix_report_executions_report_id_created_at",
        "report_executions",
        ["report_id", sa.literal_column("created_at DESC")],
        unique=False,
    )
    op.create_table(
        "dashboards",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("is_public", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("btrim(name) <> ''", name=op.f("ck_dashboards_name_not_blank")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboards")),
    )
    op.create_index(
        "ix_dashboards_org_id_created_by", "dashboards", ["org_id", "created_by"], unique=False
    )
    op.create_index(
        "ix_dashboards_org_id_public",
        "dashboards",
        ["org_id"],
        unique=False,
        postgresql_where=sa.text("is_public"),
    )
    op.create_table(
        "dashboard_widgets",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("dashboard_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("data_source_type", sa.Text(), nullable=False),
        sa.Column("data_source", sa.Text(), nullable=False),
        sa.Column("report_id", sa.UUID(), nullable=True),
        sa.Column("visualization", sa.Text(), nullable=False),
        sa.Column(
            "filters",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("position_x", sa.Integer(), nullable=False),
        sa.Column("position_y", sa.Integer(), nullable=False),
        sa.Column("position_width", sa.Integer(), nullable=False),
        sa.Column("position_height", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(data_source_type = 'query' AND report_id IS NULL) OR (data_source_type = 'report'"
            " AND (report_id IS NULL OR data_source = report_id::text))",
            name=op.f("ck_dashboard_widgets_report_source"),
        ),
        sa.CheckConstraint(
            "btrim(data_source) <> ''", name=op.f("ck_dashboard_widgets_data_source_not_blank")
        ),
        sa.CheckConstraint("btrim(title) <> ''", name=op.f("ck_dashboard_widgets_title_not_blank")),
        sa.CheckConstraint(
            "data_source_type IN ('report', 'query')",
            name=op.f("ck_dashboard_widgets_data_source_type"),
        ),
        sa.CheckConstraint(
            "jsonb_typeof(filters) = 'object'", name=op.f("ck_dashboard_widgets_filters_object")
        ),
        sa.CheckConstraint(
            "type IN ('chart', 'metric', 'table')", name=op.f("ck_dashboard_widgets_type")
        ),
        sa.CheckConstraint(
            "visualization IN ('bar', 'line', 'area', 'pie', 'table', 'metric')",
            name=op.f("ck_dashboard_widgets_visualization"),
        ),
        sa.CheckConstraint(
            "position_height > 0", name=op.f("ck_dashboard_widgets_position_height_positive")
        ),
        sa.CheckConstraint(
            "position_width > 0", name=op.f("ck_dashboard_widgets_position_width_positive")
        ),
        sa.CheckConstraint(
            "position_x >= 0", name=op.f("ck_dashboard_widgets_position_x_not_negative")
        ),
        sa.CheckConstraint(
            "position_y >= 0", name=op.f("ck_dashboard_widgets_position_y_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["dashboard_id"],
            ["dashboards.id"],
            name=op.f("fk_dashboard_widgets_dashboard_id_dashboards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_dashboard_widgets_report_id_reports"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_widgets")),
    )
    op.create_index(
        "ix_dashboard_widgets_dashboard_id", "dashboard_widgets", ["dashboard_id"], unique=False
    )
    op.create_index(
        "ix_dashboard_widgets_report_id", "dashboard_widgets", ["report_id"], unique=False
    )


def downgrade() -> None:
    for table in TABLES:  # children first; their indexes go with them
        op.drop_table(table)
