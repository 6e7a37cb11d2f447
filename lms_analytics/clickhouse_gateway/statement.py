"""Where the SQL ends and the insert data begins in a request.

As in ClickHouse, the statement is the `query` URL parameter followed by a newline and the
(decoded) body. `INSERT INTO t [(cols)] [SETTINGS ...] FORMAT <name>` is followed by raw data:
after the format name, blanks up to and including one newline are skipped and the rest is data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# How much of the body is read to find the statement before the data starts.
STATEMENT_PREFIX_LIMIT = 256 * 1024

_INSERT_WITH_FORMAT = re.compile(
    rb"^\s*(INSERT\s+INTO\s.*?)\sFORMAT\s+([A-Za-z][A-Za-z0-9_]*)[ \t]*(?:\r?\n|$)",
    re.IGNORECASE | re.DOTALL,
)
_INLINE_ROWS = re.compile(rb"\b(VALUES|SELECT|WITH)\b", re.IGNORECASE)


@dataclass(frozen=True)
class InsertStatement:
    """An insert whose rows follow the statement as raw data in `data_format`."""

    sql: str
    data_format: str
    data_start: bytes


def find_insert(head: bytes) -> InsertStatement | None:
    """Recognise `INSERT ... FORMAT X` at the start of `head`; None for any other statement."""
    match = _INSERT_WITH_FORMAT.match(head)
    if match is None or _INLINE_ROWS.search(match.group(1)):
        return None
    return InsertStatement(
        sql=match.group(1).decode("utf-8").strip(),
        data_format=match.group(2).decode("ascii"),
        data_start=head[match.end() :],
    )


def statement_head(query_param: str) -> bytes:
    return (query_param + "\n").encode("utf-8") if query_param else b""
