"""Credentials: JWTs of the Auth Service (HS256, RS256), API keys, and the dev token helper."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lms_analytics.settings import Settings
from report_service.auth import AuthenticationError, Authenticator, Principal, issue_dev_token
from report_service.domain import Role
from report_service.errors import ConfigurationError

SECRET = "unit-test-secret-of-at-least-32-bytes"


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"home": tmp_path, "jwt_hs256_secret": SECRET, **overrides}
    return Settings(**values)


def _claims(**overrides: Any) -> dict[str, Any]:
    # Built at collection time (parametrize): valid for longer than the whole suite runs.
    now = datetime.now(UTC)
    return {"sub": "u-1", "role": "analyst", "org": "org-a", "exp": now + timedelta(days=1)} | (
        overrides
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_dev_token_authenticates_as_its_subject_role_and_org(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    token = issue_dev_token(settings, "alice", "admin", "org-a")
    assert Authenticator(settings).from_bearer(token) == Principal(
        "alice", Role.ADMIN, "org-a", "jwt"
    )


def test_dev_token_needs_the_hs256_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="LMS_ANALYTICS_JWT_HS256_SECRET"):
        issue_dev_token(_settings(tmp_path, jwt_hs256_secret=None), "alice", "admin", "org-a")


@pytest.mark.parametrize(
    ("token_claims", "message"),
    [
        (_claims(exp=datetime.now(UTC) - timedelta(hours=1)), "expired"),
        ({k: v for k, v in _claims().items() if k != "exp"}, '"exp"'),
        ({k: v for k, v in _claims().items() if k != "org"}, '"org"'),
        (_claims(role="superuser"), "role 'superuser' is not one of"),
        (_claims(org=""), "claim 'org'"),
    ],
    ids=["expired", "no-exp", "no-org", "unknown-role", "empty-org"],
)
def test_token_with_bad_claims_is_refused_with_the_reason(
    tmp_path: Path, token_claims: dict[str, Any], message: str
) -> None:
    token = jwt.encode(token_claims, SECRET, algorithm="HS256")
    with pytest.raises(AuthenticationError, match=message):
        Authenticator(_settings(tmp_path)).from_bearer(token)


def test_token_signed_with_another_secret_is_refused(tmp_path: Path) -> None:
    token = jwt.encode(_claims(), "another-secret-of-at-least-32-bytes!", algorithm="HS256")
    with pytest.raises(AuthenticationError, match="Signature verification failed"):
        Authenticator(_settings(tmp_path)).from_bearer(token)


def test_unsigned_token_is_refused(tmp_path: Path) -> None:
    token = jwt.encode(_claims(), None, algorithm="none")
    with pytest.raises(AuthenticationError, match="'none'"):
        Authenticator(_settings(tmp_path)).from_bearer(token)


def test_audience_is_required_when_configured(tmp_path: Path) -> None:
    authenticator = Authenticator(_settings(tmp_path, jwt_audience="lms-analytics"))
    good = jwt.encode(_claims(aud="lms-analytics"), SECRET, algorithm="HS256")
    wrong = jwt.encode(_claims(aud="billing"), SECRET, algorithm="HS256")
    missing = jwt.encode(_claims(), SECRET, algorithm="HS256")
    assert authenticator.from_bearer(good).subject == "u-1"
    with pytest.raises(AuthenticationError, match=r"(?i)audience"):
        authenticator.from_bearer(wrong)
    with pytest.raises(AuthenticationError, match='"aud"'):
        authenticator.from_bearer(missing)


def test_rs256_token_is_verified_with_the_public_key_given_as_pem_or_file(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(_claims(role="viewer"), rsa_key, algorithm="RS256")
    key_file = tmp_path / "auth.pub"
    key_file.write_text(_public_pem(rsa_key))
    for configured in (_public_pem(rsa_key), str(key_file)):
        settings = _settings(tmp_path, jwt_hs256_secret=None, jwt_rs256_public_key=configured)
        assert Authenticator(settings).from_bearer(token).role is Role.VIEWER


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_public_key_is_never_used_as_an_hmac_secret(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    """The algorithm-confusion attack: HS256 signed with the (public) RSA key as secret."""
    pem = _public_pem(rsa_key)
    claims = _claims(role="admin")
    claims["exp"] = int(claims["exp"].timestamp())
    signed = ".".join(
        _b64(json.dumps(part).encode()) for part in ({"alg": "HS256", "typ": "JWT"}, claims)
    )
    signature = hmac.new(pem.encode(), signed.encode(), hashlib.sha256).digest()
    forged = f"{signed}.{_b64(signature)}"
    settings = _settings(tmp_path, jwt_hs256_secret=None, jwt_rs256_public_key=pem)
    with pytest.raises(AuthenticationError, match="accepted algorithms: RS256"):
        Authenticator(settings).from_bearer(forged)


def test_unreadable_public_key_setting_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="LMS_ANALYTICS_JWT_RS256_PUBLIC_KEY"):
        Authenticator(_settings(tmp_path, jwt_rs256_public_key=str(tmp_path / "missing.pem")))


def test_api_key_maps_to_its_role_and_org_without_storing_the_key(tmp_path: Path) -> None:
    settings = _settings(tmp_path, api_keys={"k-123": "admin:org-a", "k-456": "viewer:org:b"})
    authenticator = Authenticator(settings)
    admin = authenticator.from_api_key("k-123")
    assert (admin.role, admin.org, admin.method) == (Role.ADMIN, "org-a", "api_key")
    assert admin.subject.startswith("api-key:") and "k-123" not in admin.subject
    assert authenticator.from_api_key("k-456").org == "org:b"
    with pytest.raises(AuthenticationError, match="unknown API key"):
        authenticator.from_api_key("k-789")


@pytest.mark.parametrize("value", ["admin", "root:org-a", "analyst:"])
def test_malformed_api_key_setting_is_a_configuration_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigurationError, match="LMS_ANALYTICS_API_KEYS entry #1"):
        Authenticator(_settings(tmp_path, api_keys={"k": value}))


@pytest.mark.parametrize(
    ("role", "creator", "can_write", "can_modify"),
    [
        ("admin", "someone-else", True, True),
        ("analyst", "me", True, True),
        ("analyst", "someone-else", True, False),
        ("viewer", "me", False, False),
    ],
)
def test_roles_and_ownership(role: str, creator: str, can_write: bool, can_modify: bool) -> None:
    principal = Principal("me", Role(role), "org-a", "jwt")
    assert principal.can_write is can_write
    assert principal.can_modify(creator) is can_modify
