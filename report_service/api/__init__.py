"""The REST API of saved reports and dashboards (FastAPI; OpenAPI docs at /docs)."""

from report_service.api.app import create_app

__all__ = ["create_app"]
