"""Where the SQL time of one dbt run goes, from dbt's debug log (logs/dbt.log).

dbt-clickhouse logs every statement (`On <node>: <sql>`) and its duration (`SQL status: ...
in <s> seconds`) at debug level. This sums them for one invocation of the log: per kind of
statement (the model's query into the temp table, DELETEs, changed-set queries at compile
time, the watermarks recorded at the run end, column lookups, DDL, ...) and per model, slowest
first. With `--model NAME` it lists that model's statements one by one.

Durations are wall seconds seen by dbt; with more than one dbt thread, statements overlap and
their sum exceeds the run's wall clock (run with `--threads 1` to make them add up). What is
not a statement (dbt's own Python: compiling, events, artifacts) is not in the log this way:
compare the total with the run's wall clock, or see benchmarks/dbt_floor.py.

Usage: python benchmarks/statement_costs.py LOG [--run -1] [--model NAME] [--top 20]
       (LOG: e.g. dbt_project/logs/dbt.log; --run: which invocation in the file, -1 = the last)
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

# `[debug] [Thread-1 (worker)]: ...`, after dbt's timestamp (the file log's line format)
TIMESTAMP = r"\S*\d\d:\d\d:\d\d\.\d+\s+"
LINE = re.compile(rf"^{TIMESTAMP}\[debug\s*\] \[([^\]]*)\]: (.*)$")
INVOCATION = re.compile(rf"\n(?={TIMESTAMP}\[info\s*\] \[MainThread\]: Running with dbt=)")
STATEMENT = re.compile(r"^(?:dbt_clickhouse adapter: )?On ([^:]+): (.*)$", re.S)
STATUS = re.compile(r"SQL status: .* in ([\d.]+) seconds")
QUERY_COMMENT = re.compile(r"/\*.*?\*/", re.S)


@dataclass(frozen=True)
class Statement:
    node: str  # e.g. model.lms_analytics.page_views
    sql: str
    seconds: float

    @property
    def model(self) -> str:
        return self.node.rsplit(".", 1)[-1]

    @property
    def kind(self) -> str:
        sql = " ".join(self.sql.lower().split())
        target = sql.split("(", 1)[0]
        if sql.startswith("insert into"):
            if "dbt_watermarks" in target:
                return "watermarks (run end)"
            if "__dbt_new_data" in target:
                return "model query into the temp table"
            if "__dbt_new_data" in sql:
                return "copy of the temp table into the model"
            return "insert (append, table build)"
        if sql.startswith("delete"):
            return "delete"
        if "system.columns" in sql:
            return "column lookup"
        if "formatrownonewline" in sql:
            return "changed set (compile time)"
        if sql.startswith("select count() from") and "__dbt_new_data" in sql:
            return "count of the temp table"
        if sql.split(" ", 1)[0] in ("create", "drop", "rename", "exchange", "alter"):
            return "ddl"
        return "other query"


def invocations(text: str) -> list[str]:
    """The log split per dbt invocation (each starts with `Running with dbt=`)."""
    return [part for part in INVOCATION.split(text) if "Running with dbt=" in part]


def statements(invocation: str) -> list[Statement]:
    """Each statement with its duration; a statement's SQL spans the lines until the next
    log line, and its status comes on the same thread (threads interleave)."""
    found: list[Statement] = []
    pending: dict[str, tuple[str, list[str]]] = {}
    current: list[str] | None = None
    for line in invocation.splitlines():
        match = LINE.match(line)
        if not match:
            if current is not None:
                current.append(line)
            continue
        thread, message = match.groups()
        current = None
        statement = STATEMENT.match(message)
        status = STATUS.search(message)
        if statement:
            node, first = statement.groups()
            current = [first]
            pending[thread] = (node, current)
        elif status and thread in pending:
            node, parts = pending.pop(thread)
            sql = QUERY_COMMENT.sub("", "\n".join(parts), count=1).strip().rstrip(".").strip()
            found.append(Statement(node, sql, float(status.group(1))))
    return found


def report(found: list[Statement], top: int) -> None:
    total = sum(s.seconds for s in found)
    print(f"{len(found)} statements, {total:.2f} s")
    by_kind: dict[str, list[float]] = defaultdict(list)
    by_model: dict[str, list[float]] = defaultdict(list)
    for s in found:
        by_kind[s.kind].append(s.seconds)
        by_model[s.model].append(s.seconds)
    print("\nper kind of statement:")
    for kind, times in sorted(by_kind.items(), key=lambda item: -sum(item[1])):
        print(f"  {sum(times):7.2f} s  {len(times):4d}  {kind}")
    print(f"\nper model (top {top}):")
    for model, times in sorted(by_model.items(), key=lambda item: -sum(item[1]))[:top]:
        print(f"  {sum(times):7.2f} s  {len(times):4d}  {model}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="dbt's debug log, e.g. dbt_project/logs/dbt.log")
    parser.add_argument("--run", type=int, default=-1, help="invocation in the log (-1: last)")
    parser.add_argument("--model", help="list this model's statements one by one")
    parser.add_argument("--top", type=int, default=20, help="models listed (default 20)")
    args = parser.parse_args(argv)
    runs = invocations(args.log.read_text(errors="replace"))
    if not runs:
        raise SystemExit(f"{args.log}: no dbt invocation (is it dbt's debug file log?)")
    found = statements(runs[args.run])
    if args.model:
        for s in found:
            if s.model == args.model:
                print(f"{s.seconds:7.3f} s  {s.kind:36s} {' '.join(s.sql.split())[:160]}")
        return
    report(found, args.top)


if __name__ == "__main__":
    main()
