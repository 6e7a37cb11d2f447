"""Where report files live: an artifact store keyed by `/`-separated paths.

`ArtifactStore` is the interface the executor and the download route use; `LocalArtifactStore`
keeps files in a folder (`settings.artifacts_path`, default `<home>/artifacts`). An object store
(S3, GCS) implements the same methods (put, get, open, find, delete); `artifact_store(settings)`
is where it would be chosen. Executions address their file through the API
(`ReportExecution.result_url`), never through a store URL, so moving files between stores
changes no stored row.

Keys: `reports/<report id>/<execution id>/<file name>` (`execution_key`), each segment made of
letters, digits, `.`, `_` and `-` (no `..`): a key can never leave the store's folder.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import re
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lms_analytics.settings import Settings
from report_service.errors import ReportServiceError

log = logging.getLogger(__name__)

_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$")
MEDIA_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".pdf": "application/pdf",
}


class ArtifactError(ReportServiceError):
    """A report file cannot be written or read."""


@dataclass(frozen=True)
class Artifact:
    key: str
    size: int

    @property
    def filename(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def media_type(self) -> str:
        suffix = Path(self.filename).suffix.lower()
        return (
            MEDIA_TYPES.get(suffix)
            or mimetypes.guess_type(self.filename)[0]
            or ("application/octet-stream")
        )


def check_key(key: str) -> str:
    segments = key.split("/")
    if not segments or any(not _SEGMENT.match(s) or s.strip(".") == "" for s in segments):
        raise ArtifactError(f"invalid artifact key {key!r}")
    if any(".." in segment for segment in segments):
        raise ArtifactError(f"invalid artifact key {key!r}")
    return key


def execution_prefix(report_id: uuid.UUID | str, execution_id: uuid.UUID | str) -> str:
    return f"reports/{uuid.UUID(str(report_id))}/{uuid.UUID(str(execution_id))}/"


def execution_key(report_id: uuid.UUID | str, execution_id: uuid.UUID | str, filename: str) -> str:
    return check_key(execution_prefix(report_id, execution_id) + filename)


class ArtifactStore(ABC):
    @abstractmethod
    def put(self, key: str, content: bytes) -> Artifact:
        """Store `content` under `key`, replacing what was there (all or nothing)."""

    @abstractmethod
    def get(self, key: str) -> Artifact | None: ...

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """The file for reading; raises ArtifactError when it does not exist."""

    @abstractmethod
    def find(self, prefix: str) -> list[Artifact]:
        """Artifacts whose key starts with `prefix` (a folder ending in `/`), by key."""

    @abstractmethod
    def delete(self, prefix: str) -> int:
        """Delete every artifact under `prefix`; how many there were."""

    def local_path(self, key: str) -> Path | None:
        """The file on this machine, when the store has one (lets servers send it directly)."""
        return None


class LocalArtifactStore(ArtifactStore):
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, content: bytes) -> Artifact:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                dir=path.parent, prefix=".partial-", delete=False
            ) as partial:
                partial.write(content)
                partial.flush()
                os.fsync(partial.fileno())
            os.replace(partial.name, path)
        except OSError as error:
            raise ArtifactError(
                f"cannot write report file {path}: {error.strerror or error}; check that "
                "LMS_ANALYTICS_ARTIFACT_DIR is a writable folder"
            ) from error
        log.info("stored %s (%d bytes)", key, len(content))
        return Artifact(key, len(content))

    def get(self, key: str) -> Artifact | None:
        path = self._path(key)
        return Artifact(key, path.stat().st_size) if path.is_file() else None

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise ArtifactError(f"report file {key} does not exist") from None

    def find(self, prefix: str) -> list[Artifact]:
        folder = self._path(prefix.rstrip("/"))
        if not folder.is_dir():
            return []
        found = [
            Artifact(path.relative_to(self.root).as_posix(), path.stat().st_size)
            for path in folder.rglob("*")
            if path.is_file() and not path.name.startswith(".partial-")
        ]
        return sorted(found, key=lambda artifact: artifact.key)

    def delete(self, prefix: str) -> int:
        found = self.find(prefix)
        folder = self._path(prefix.rstrip("/"))
        if folder.is_dir():
            shutil.rmtree(folder)
        return len(found)

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None


def artifact_store(settings: Settings) -> ArtifactStore:
    """The store the settings name (today: the local folder `settings.artifacts_path`)."""
    return LocalArtifactStore(settings.artifacts_path)
