"""Saved reports and dashboards: PostgreSQL metadata, the REST API and its auth.

See ../shared/spec/architecture.md. The report engine, renderers and delivery plug in later:
they read `db.models.Report`, write `db.models.ReportExecution` rows (see its `mark_*`
methods) and advance `db.models.ReportSchedule.next_run_at` (`ReportSchedule.advance`).
"""
