"""Who is calling: bearer JWTs of the LMS Auth Service, and API keys of service accounts.

- JWT: HS256 with `settings.jwt_hs256_secret` and/or RS256 with `settings.jwt_rs256_public_key`
  (PEM text, or the path of a PEM file). The algorithm in the token's header picks the key; a
  token for an algorithm without a configured key is refused. Claims: `sub`, `role` (admin,
  analyst, viewer), `org`; `exp` is required and checked; `aud` is required and checked when
  `settings.jwt_audience` is set.
- API key (`X-API-Key` header): `settings.api_keys` maps each key to "role:org". The account's
  subject is `api-key:<first 12 hex of the key's SHA-256>`, so the key never lands in a row.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from lms_analytics.settings import Settings
from report_service.domain import Role
from report_service.errors import ConfigurationError

LEEWAY_SECONDS = 30  # clock skew between the Auth Service and us
DEV_TOKEN_ISSUER = "lms-analytics-dev"


class AuthenticationError(Exception):
    """The credentials are missing or not valid; the message says which and why."""


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    org: str
    method: Literal["jwt", "api_key"]

    @property
    def can_write(self) -> bool:
        """Analysts and admins create; viewers only read."""
        return self.role in (Role.ADMIN, Role.ANALYST)

    def can_modify(self, created_by: str) -> bool:
        """A report or dashboard is changed or deleted by its creator or an admin."""
        return self.can_write and (self.role is Role.ADMIN or self.subject == created_by)


def _role(value: object, where: str) -> Role:
    try:
        return Role(str(value).lower())
    except ValueError:
        roles = ", ".join(role.value for role in Role)
        raise AuthenticationError(f"{where}: role {value!r} is not one of {roles}") from None


def _load_public_key(value: str) -> Any:
    pem = value if value.lstrip().startswith("-----BEGIN") else None
    if pem is None:
        path = Path(value).expanduser()
        try:
            pem = path.read_text()
        except OSError as error:
            raise ConfigurationError(
                "LMS_ANALYTICS_JWT_RS256_PUBLIC_KEY is neither a PEM public key nor a readable "
                f"file ({error.strerror}: {path})"
            ) from None
    try:
        return load_pem_public_key(pem.encode())
    except ValueError as error:
        raise ConfigurationError(
            f"LMS_ANALYTICS_JWT_RS256_PUBLIC_KEY is not a valid PEM public key ({error})"
        ) from None


def _parse_api_keys(api_keys: dict[str, str]) -> list[tuple[bytes, Principal]]:
    accounts: list[tuple[bytes, Principal]] = []
    for index, (key, value) in enumerate(api_keys.items(), start=1):
        where = f"LMS_ANALYTICS_API_KEYS entry #{index}"
        role, sep, org = value.partition(":")
        if not key or not sep or not org.strip():
            raise ConfigurationError(f'{where}: expected "key": "role:org", got {value!r}')
        try:
            principal_role = _role(role, where)
        except AuthenticationError as error:
            raise ConfigurationError(str(error)) from None
        subject = "api-key:" + hashlib.sha256(key.encode()).hexdigest()[:12]
        accounts.append((key.encode(), Principal(subject, principal_role, org.strip(), "api_key")))
    return accounts


class Authenticator:
    """Checks credentials against the settings; built once per app (keys parsed up front)."""

    def __init__(self, settings: Settings) -> None:
        self._keys: dict[str, Any] = {}
        if settings.jwt_hs256_secret:
            self._keys["HS256"] = settings.jwt_hs256_secret
        if settings.jwt_rs256_public_key:
            self._keys["RS256"] = _load_public_key(settings.jwt_rs256_public_key)
        self._audience = settings.jwt_audience or None
        self._api_keys = _parse_api_keys(settings.api_keys)

    def from_bearer(self, token: str) -> Principal:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError as error:
            raise AuthenticationError(f"malformed bearer token ({error})") from None
        key = self._keys.get(str(algorithm))
        if key is None:
            accepted = ", ".join(self._keys) or "none (no JWT key is configured)"
            raise AuthenticationError(
                f"bearer token signed with {algorithm!r}; accepted algorithms: {accepted}"
            )
        required = ["exp", "sub", "role", "org"] + (["aud"] if self._audience else [])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[str(algorithm)],
                audience=self._audience,
                leeway=LEEWAY_SECONDS,
                options={"require": required, "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("bearer token has expired") from None
        except jwt.PyJWTError as error:
            raise AuthenticationError(f"invalid bearer token ({error})") from None
        subject, org = claims["sub"], claims["org"]
        if not isinstance(subject, str) or not subject.strip():
            raise AuthenticationError("invalid bearer token (claim 'sub' must be a string)")
        if not isinstance(org, str) or not org.strip():
            raise AuthenticationError("invalid bearer token (claim 'org' must be a string)")
        return Principal(subject, _role(claims["role"], "bearer token"), org, "jwt")

    def from_api_key(self, key: str) -> Principal:
        offered = key.encode()
        found: Principal | None = None
        for candidate, principal in self._api_keys:  # constant time over all keys
            if hmac.compare_digest(offered, candidate):
                found = principal
        if found is None:
            raise AuthenticationError("unknown API key")
        return found


def issue_dev_token(
    settings: Settings,
    sub: str,
    role: Role | str,
    org: str,
    *,
    expires_in: timedelta = timedelta(hours=12),
) -> str:
    """An HS256 token signed with the local secret, as the LMS Auth Service would issue it."""
    if not settings.jwt_hs256_secret:
        raise ConfigurationError(
            "cannot mint a development token: LMS_ANALYTICS_JWT_HS256_SECRET is not set"
        )
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": sub,
        "role": Role(role).value,
        "org": org,
        "iat": now,
        "exp": now + expires_in,
        "iss": DEV_TOKEN_ISSUER,
    }
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_hs256_secret, algorithm="HS256")
