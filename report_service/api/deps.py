"""Request dependencies: the caller, a database session, and the errors routes raise."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from report_service.auth import AuthenticationError, Authenticator, Principal

if TYPE_CHECKING:
    from report_service.execution import ReportExecutor

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A JWT of the LMS Auth Service (claims sub, role, org, exp).",
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="apiKey",
    description="A service account's key (settings.api_keys).",
)


def unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"}
    )


def get_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    authenticator: Authenticator = request.app.state.authenticator
    try:
        if bearer is not None:
            return authenticator.from_bearer(bearer.credentials)
        if api_key:
            return authenticator.from_api_key(api_key)
    except AuthenticationError as error:
        raise unauthorized(str(error)) from None
    raise unauthorized(
        "missing credentials: send `Authorization: Bearer <token>` or `X-API-Key: <key>`"
    )


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; routes commit what they change before they answer."""
    with request.app.state.sessions() as session:
        yield session


def get_zone(request: Request) -> ZoneInfo:
    return request.app.state.report_zone


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
DbSession = Annotated[Session, Depends(get_session)]
ReportZone = Annotated[ZoneInfo, Depends(get_zone)]


def not_found(kind: str, item_id: object) -> NoReturn:
    raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{kind} {item_id} not found")


def forbidden(message: str) -> NoReturn:
    raise HTTPException(status.HTTP_403_FORBIDDEN, detail=message)


def require_writer(principal: Principal, action: str) -> None:
    if not principal.can_write:
        forbidden(f"role {principal.role.value} may not {action}; analysts and admins may")


def require_modifier(principal: Principal, kind: str, created_by: str) -> None:
    require_writer(principal, f"change or delete a {kind}")
    if not principal.can_modify(created_by):
        forbidden(f"only the {kind}'s creator or an admin may change or delete it")


def invalid(field: Sequence[str | int], message: str, value: Any) -> NoReturn:
    """A 422 in FastAPI's own shape, for checks made outside the request schema."""
    raise RequestValidationError(
        [{"type": "value_error", "loc": ("body", *field), "msg": message, "input": value}]
    )


ModelT = TypeVar("ModelT", bound=BaseModel)


def validate_merged(model: type[ModelT], values: dict[str, Any]) -> ModelT:
    """Validate stored fields updated by a PATCH as a whole; errors become a 422."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        errors = error.errors(include_url=False, include_context=False)
        raise RequestValidationError(
            [{**item, "loc": ("body", *item["loc"])} for item in errors]
        ) from None


def report_executor(request: Request) -> ReportExecutor:
    """The app's executor (built on first use from the app's settings and sessions)."""
    from report_service.execution import ReportExecutor

    state = request.app.state
    executor = getattr(state, "report_executor", None)
    if executor is None:
        executor = ReportExecutor(state.settings, state.sessions)
        state.report_executor = executor
    return executor


def check_report_definition(request: Request, report: Any) -> None:
    """422 unless the report engine compiles the report (metric, dimension and filter names,
    filter values): a saved report that cannot run is refused when it is saved, not at 7 a.m."""
    from report_service.engine.errors import ReportValidationError
    from report_service.engine.query import ReportDefinition

    try:
        report_executor(request).engine.compile(ReportDefinition.from_report(report))
    except ReportValidationError as error:
        raise RequestValidationError([error.to_detail()]) from None
