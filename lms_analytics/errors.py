"""Exceptions a user can act on. The CLI prints them in one line, without a traceback."""

from __future__ import annotations


class LmsAnalyticsError(Exception):
    """Base class: the message says what went wrong and what to do."""


class StackError(LmsAnalyticsError):
    """A local-stack service failed to start, stop or answer."""

    def __init__(self, service: str, cause: str, remedy: str, log_tail: str = "") -> None:
        self.service = service
        self.cause = cause
        self.remedy = remedy
        self.log_tail = log_tail
        message = f"{service}: {cause}. {remedy}"
        if log_tail:
            message += f" Last log lines: {log_tail}"
        super().__init__(message)
