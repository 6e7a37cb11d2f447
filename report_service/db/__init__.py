"""The report metadata database: models, sessions and migrations."""

from report_service.db.migrate import downgrade, upgrade

__all__ = ["downgrade", "upgrade"]
