"""Named sessions (`session_id`): one engine connection each, kept between requests.

A session keeps what ClickHouse keeps in one: the current database set by `USE`, temporary
tables and `SET` statements. As in ClickHouse, a session serves one request at a time: a second
concurrent request gets SESSION_IS_LOCKED rather than waiting.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from lms_analytics.clickhouse_gateway.engine import Connection, Engine

log = logging.getLogger(__name__)

SESSION_NOT_FOUND = 372
SESSION_IS_LOCKED = 373


class SessionError(RuntimeError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"Code: {code}. DB::Exception: {message}")
        self.code = code


@dataclass
class Session:
    session_id: str
    connection: Connection
    timeout: float
    database: str = "default"
    busy: bool = False
    last_used: float = field(default_factory=time.monotonic)
    # The session's own values (None = the default) of settings already read from the engine:
    # that read costs more than a query, and URL settings (which dbt sends with every request)
    # need the values to restore after each query.
    known_settings: dict[str, str | None] = field(default_factory=dict)

    def expired(self, now: float) -> bool:
        return not self.busy and now - self.last_used > self.timeout

    def settings_of(self, names: list[str]) -> dict[str, str | None]:
        """The session's own values of settings, read from the engine only for new names."""
        unknown = [name for name in names if name not in self.known_settings]
        if unknown:
            self.known_settings.update(self.connection.read_settings(unknown))
        return {name: self.known_settings[name] for name in names}

    def forget_settings(self) -> None:
        """For when the session's settings may have changed (a `SET`, a failed restore)."""
        self.known_settings.clear()


class SessionRegistry:
    """Sessions by id. Only the event loop touches it, so it needs no lock."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def acquire(self, session_id: str, timeout: float, *, must_exist: bool) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            if must_exist:
                raise SessionError(SESSION_NOT_FOUND, f"Session {session_id} not found")
            session = Session(session_id, self._engine.connect(), timeout)
            self._sessions[session_id] = session
        if session.busy:
            raise SessionError(
                SESSION_IS_LOCKED, f"Session {session_id} is locked by a concurrent client"
            )
        session.busy = True
        session.timeout = timeout
        return session

    def release(self, session: Session) -> None:
        session.busy = False
        session.last_used = time.monotonic()

    def close_expired(self) -> list[Connection]:
        """Forget expired sessions; return their connections for the caller to close."""
        now = time.monotonic()
        expired = [s for s in self._sessions.values() if s.expired(now)]
        for session in expired:
            del self._sessions[session.session_id]
            log.debug("session %s expired", session.session_id)
        return [session.connection for session in expired]

    def close_all(self) -> None:
        for session in self._sessions.values():
            session.connection.close()
        self._sessions.clear()
