"""Errors of the report service that a user can act on (the CLI prints them in one line)."""

from __future__ import annotations

from lms_analytics.errors import LmsAnalyticsError


class ReportServiceError(LmsAnalyticsError):
    """Base class of the report service's user-facing errors."""


class ConfigurationError(ReportServiceError):
    """A setting the report service needs is missing or malformed."""


class DatabaseError(ReportServiceError):
    """PostgreSQL cannot be reached, or its schema is not the one this code expects."""
