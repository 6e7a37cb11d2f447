"""Who is looking at a dashboard, and whether they may: credentials, the session cookie, share
links.

Credentials, first found wins:
1. `Authorization: Bearer <JWT>` of the LMS Auth Service (what the JSON API takes everywhere);
2. `X-API-Key` of a service account;
3. the `lms_dashboards_session` cookie: the same JWT, set by the login handoff
   `POST /dashboards/session` (HttpOnly, SameSite=Lax, Secure behind https, expiring with the
   token). A browser cannot attach a bearer header to a page it navigates to, so the LMS hands
   its token over once (a form POST: the token never lands in a URL or an access log) and the
   browser then sends the cookie with the page and its widget data requests.

Share links: `/dashboards/{id}?share=<token>` where the token is an HMAC-SHA256 of the
dashboard id under `settings.dashboard_share_secret` (default: a key derived from
`settings.jwt_hs256_secret`). The link opens a PUBLIC dashboard without a login; making the
dashboard private revokes its links at once (the token is only honoured while `is_public`),
rotating the secret revokes them all. Without any key configured there are no share links.

Rules (the JSON API's, `routes.dashboards.load_dashboard`): a public dashboard is seen by
everyone in its organisation and by share link holders; a private one by its creator only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
from fastapi import Request, Response
from sqlalchemy.orm import Session

from lms_analytics.settings import Settings
from report_service.auth import AuthenticationError, Authenticator, Principal
from report_service.db.models import Dashboard

SESSION_COOKIE = "lms_dashboards_session"
SHARE_PARAMETER = "share"
_SHARE_LABEL = b"lms-analytics/dashboard-share/v1/"


class DashboardAccessError(Exception):
    """The viewer may not see the dashboard: `status` (401, 403, 404) and a message for them."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


@dataclass(frozen=True)
class Viewer:
    """A signed-in principal, or nobody with a valid share link (`shared`)."""

    principal: Principal | None
    shared: bool = False

    @property
    def label(self) -> str:
        if self.principal is not None:
            return f"{self.principal.subject} ({self.principal.role.value}, {self.principal.org})"
        return "share link"


# --- share links ------------------------------------------------------------------------------


def share_key(settings: Settings) -> bytes | None:
    """The key share tokens are signed with, or None when no secret is configured."""
    if settings.dashboard_share_secret:
        return settings.dashboard_share_secret.encode()
    if settings.jwt_hs256_secret:
        return hmac.new(
            settings.jwt_hs256_secret.encode(), b"dashboard share links", hashlib.sha256
        ).digest()
    return None


def share_token(settings: Settings, dashboard_id: uuid.UUID) -> str | None:
    key = share_key(settings)
    if key is None:
        return None
    digest = hmac.new(key, _SHARE_LABEL + dashboard_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def share_token_valid(settings: Settings, dashboard_id: uuid.UUID, token: str) -> bool:
    expected = share_token(settings, dashboard_id)
    return expected is not None and hmac.compare_digest(expected.encode(), token.encode())


def base_url(settings: Settings) -> str:
    return (settings.public_base_url or f"http://{settings.bind_host}:{settings.api_port}").rstrip(
        "/"
    )


def share_url(settings: Settings, dashboard_id: uuid.UUID) -> str | None:
    """The link that opens the dashboard without a login (valid while it is public)."""
    token = share_token(settings, dashboard_id)
    if token is None:
        return None
    return f"{base_url(settings)}/dashboards/{dashboard_id}?{SHARE_PARAMETER}={token}"


# --- credentials ------------------------------------------------------------------------------


def credentials_principal(request: Request) -> Principal | None:
    """The caller from a bearer token, an API key or the session cookie; None without any.

    Raises AuthenticationError when credentials are given but not valid (expired, forged).
    """
    authenticator: Authenticator = request.app.state.authenticator
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return authenticator.from_bearer(token.strip())
    api_key = request.headers.get("x-api-key")
    if api_key:
        return authenticator.from_api_key(api_key)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            return authenticator.from_bearer(cookie)
        except AuthenticationError as error:
            raise AuthenticationError(f"your dashboard session has ended: {error}") from None
    return None


def signed_in(request: Request) -> Principal:
    """The caller, or a 401 DashboardAccessError (for pages that need a login: the index)."""
    try:
        principal = credentials_principal(request)
    except AuthenticationError as error:
        raise DashboardAccessError(401, "Sign-in not valid", str(error)) from None
    if principal is None:
        raise DashboardAccessError(
            401, "Sign in required", "Sign in to see your organisation's dashboards."
        )
    return principal


def authorize(
    session: Session, request: Request, dashboard_id: uuid.UUID, share: str | None
) -> tuple[Dashboard, Viewer]:
    """The dashboard and who views it, or a DashboardAccessError saying why not."""
    settings: Settings = request.app.state.settings
    try:
        principal = credentials_principal(request)
    except AuthenticationError as error:
        raise DashboardAccessError(401, "Sign-in not valid", str(error)) from None
    dashboard = session.get(Dashboard, dashboard_id)
    if (
        principal is not None
        and dashboard is not None
        and dashboard.visible_to(principal.org, principal.subject)
    ):
        return dashboard, Viewer(principal, shared=bool(share))
    if share:
        if (
            dashboard is not None
            and dashboard.is_public
            and share_token_valid(settings, dashboard_id, share)
        ):
            return dashboard, Viewer(principal, shared=True)
        raise DashboardAccessError(
            403,
            "Forbidden",
            "This share link is not valid: the dashboard may have been made private, "
            "removed, or the link was changed.",
        )
    if principal is None:
        raise DashboardAccessError(
            401,
            "Forbidden",
            "This dashboard needs a sign-in (or a share link, for a public dashboard).",
        )
    if dashboard is None or dashboard.org_id != principal.org:
        raise DashboardAccessError(404, "Not found", f"There is no dashboard {dashboard_id}.")
    raise DashboardAccessError(403, "Forbidden", "This dashboard is private to its creator.")


# --- the session cookie -----------------------------------------------------------------------


def start_session(
    response: Response, settings: Settings, token: str, authenticator: Authenticator
) -> Principal:
    """Check the JWT and keep it in the session cookie until it expires."""
    principal = authenticator.from_bearer(token)  # its exp is there and checked
    expires = jwt.decode(token, options={"verify_signature": False}).get("exp")
    max_age = max(0, int(expires - datetime.now(UTC).timestamp())) if expires else None
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=base_url(settings).startswith("https://"),
        path="/",
    )
    return principal


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
