"""Why a report cannot be compiled: names outside the catalog and filter values of the wrong
shape. The API answers these with a 422 whose body lists the allowed names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from report_service.errors import ReportServiceError


class ReportValidationError(ReportServiceError):
    """The report asks for something its type does not offer.

    `location` names the report field at fault (`metrics`, `dimensions`, `filters`, `sort_by`,
    `type`, `period`), `value` what was given, `allowed` what would have been accepted.
    """

    def __init__(
        self,
        location: tuple[str | int, ...],
        message: str,
        value: Any = None,
        allowed: Iterable[str] = (),
    ) -> None:
        self.location = location
        self.value = value
        self.allowed = list(allowed)
        super().__init__(message)

    def to_detail(self) -> dict[str, Any]:
        """One error in FastAPI's 422 shape (`loc`, `msg`, `type`, `input`, `ctx`)."""
        detail: dict[str, Any] = {
            "type": "report_invalid",
            "loc": ["report", *self.location],
            "msg": str(self),
            "input": self.value,
        }
        if self.allowed:
            detail["ctx"] = {"allowed": self.allowed}
        return detail


class UnknownNameError(ReportValidationError):
    """A metric, dimension, filter field, operator, sort column or report type that does not
    exist for the report's type."""

    def __init__(
        self,
        location: tuple[str | int, ...],
        kind: str,
        name: object,
        allowed: Iterable[str],
        report_type: str | None = None,
    ) -> None:
        allowed = sorted(allowed)
        scope = f" for {report_type} reports" if report_type else ""
        listed = ", ".join(allowed) if allowed else "none"
        super().__init__(
            location, f"unknown {kind} {name!r}{scope}; allowed: {listed}", name, allowed
        )
        self.kind = kind
        self.name = name


class InvalidFilterError(ReportValidationError):
    """A filter on a known field whose value does not fit the field or the operator."""
