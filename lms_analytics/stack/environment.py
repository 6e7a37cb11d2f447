"""The environment a stack process runs with, built from a `Settings` object.

Children (the ClickHouse gateway, later the consumer, Dagster, ...) read their configuration
from `LMS_ANALYTICS_*` variables. Building those variables from the caller's `Settings` (rather
than passing the caller's environment through) means a `Settings` object made in code, as the
tests do, fully controls every process the stack starts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from lms_analytics.settings import Settings


def settings_environment(settings: Settings) -> dict[str, str | None]:
    """Each setting as its environment variable; `None` means "unset it"."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    variables: dict[str, str | None] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        key = f"{prefix}{name}".upper()
        if value is None:
            variables[key] = None
        elif isinstance(value, bool):
            variables[key] = "true" if value else "false"
        elif isinstance(value, Path):
            variables[key] = str(value)
        elif isinstance(value, (list, dict)):
            variables[key] = json.dumps(value)  # pydantic-settings reads complex values as JSON
        else:
            variables[key] = str(value)
    return variables


def child_environment(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with every setting of `settings` applied."""
    env = dict(os.environ if base is None else base)
    for key, value in settings_environment(settings).items():
        # Settings are case-insensitive: drop any spelling of the key before setting it.
        for existing in [k for k in env if k.upper() == key]:
            del env[existing]
        if value is not None:
            env[key] = value
    env["PYTHONUNBUFFERED"] = "1"  # log lines reach the log file as they happen
    return env


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***`, for status output and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
