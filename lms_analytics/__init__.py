"""LMS Analytics: the shared core (settings, CLI, local stack, ClickHouse gateway)."""

__version__ = "0.1.0"
