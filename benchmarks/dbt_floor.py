"""dbt's own cost of one run over this project's model graph, with no data work at all.

The floor under every incremental run that benchmarks/build_cost.py times: a throwaway dbt
project with one model per model of dbt_project/ (same names, same refs, so the same graph
and the same parallelism), each an incremental `append` model that selects nothing, run against
a local ClickHouse gateway with the project's thread count. What it costs is dbt-core and
dbt-clickhouse themselves: building each node's context, compiling, a column lookup and an
empty insert per node, events and logs, artifacts. No macro of this project is involved.

Prints per run: wall seconds, CPU seconds of this process (dbt's Python, every thread) and of
the gateway process, and the wall seconds per model.

Usage: python benchmarks/dbt_floor.py [--runs 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dbt.cli.main import dbtRunner  # noqa: E402

from benchmarks.build_cost import cpu_seconds, local_stack  # noqa: E402

MODELS_DIR = ROOT / "dbt_project" / "models"
REF = re.compile(r"""ref\(\s*['"](\w+)['"]\s*\)""")
EMPTY_MODEL = """{{{{ config(materialized='incremental', incremental_strategy='append') }}}}
{depends_on}
select toUInt8(1) as x where 0
"""


def project_graph() -> dict[str, list[str]]:
    """Each model of dbt_project/ with the models it refs (sources and seeds are left out:
    `dbt run` does not run them)."""
    refs = {path.stem: set(REF.findall(path.read_text())) for path in MODELS_DIR.rglob("*.sql")}
    return {name: sorted(refs[name] & refs.keys() - {name}) for name in sorted(refs)}


def write_project(directory: Path, graph: dict[str, list[str]], port: int, threads: int) -> None:
    (directory / "models").mkdir(parents=True)
    (directory / "dbt_project.yml").write_text(
        "name: dbt_floor\nversion: '1.0'\nprofile: dbt_floor\n"
    )
    (directory / "profiles.yml").write_text(
        "dbt_floor:\n  target: local\n  outputs:\n    local:\n      type: clickhouse\n"
        f"      driver: http\n      host: 127.0.0.1\n      port: {port}\n"
        f"      schema: dbt_floor\n      threads: {threads}\n"
    )
    for name, parents in graph.items():
        depends_on = "".join(f"-- depends_on: {{{{ ref('{parent}') }}}}\n" for parent in parents)
        (directory / "models" / f"{name}.sql").write_text(
            EMPTY_MODEL.format(depends_on=depends_on.rstrip())
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="dbt threads (default 2)")
    args = parser.parse_args(argv)
    graph = project_graph()
    with local_stack(keep=False) as (settings, gateway), tempfile.TemporaryDirectory() as work:
        project = Path(work)
        write_project(project, graph, settings.clickhouse_port, args.threads)
        common = ["--project-dir", str(project), "--profiles-dir", str(project), "--quiet"]
        parsed = dbtRunner().invoke(["parse", *common])
        runner = dbtRunner(manifest=parsed.result)
        if not runner.invoke(["run", *common]).success:  # creates the tables; not timed
            raise SystemExit("the first dbt run failed")
        print(f"{len(graph)} models, {sum(map(len, graph.values()))} refs, {args.threads} threads")
        for number in range(1, args.runs + 1):
            clickhouse_before, dbt_before = cpu_seconds(gateway), time.process_time()
            started = time.perf_counter()
            outcome = runner.invoke(["run", *common])
            seconds = time.perf_counter() - started
            dbt_cpu = time.process_time() - dbt_before
            clickhouse_cpu = cpu_seconds(gateway) - clickhouse_before
            if not outcome.success:
                raise SystemExit(f"run {number} failed")
            print(
                f"run {number}: {seconds:.2f}s wall, dbt CPU {dbt_cpu:.2f}s, "
                f"gateway CPU {clickhouse_cpu:.2f}s, "
                f"{seconds / len(graph) * 1000:.0f} ms per model"
            )


if __name__ == "__main__":
    main()
