"""Tell the Dagster webserver that report schedules changed, so its UI shows them at once.

Each saved ReportSchedule is a Dagster schedule built when the code location loads
(`orchestration.report_schedules`). After the API creates, changes, pauses or deletes one, it
asks the webserver (`LMS_ANALYTICS_DAGSTER_URL`, default the local `lms-analytics dagster` on
`LMS_ANALYTICS_DAGSTER_PORT`) to reload its code locations over GraphQL. This is a courtesy, not
a dependency: when Dagster is not running the request fails quietly, the webserver loads the
current schedules when it starts, and the daemon, which runs the ticks, reloads every minute.
"""

from __future__ import annotations

import logging

import httpx

from lms_analytics.settings import Settings

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 120.0  # a reload re-imports the code location (dbt manifest included)

LOCATIONS_QUERY = "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"

RELOAD_MUTATION = """
mutation Reload($name: String!) {
  reloadRepositoryLocation(repositoryLocationName: $name) {
    __typename
    ... on WorkspaceLocationEntry { name loadStatus }
    ... on PythonError { message }
    ... on RepositoryLocationNotFound { message }
    ... on UnauthorizedError { message }
    ... on ReloadNotSupported { message }
  }
}
"""


def reload_dagster_code_locations(settings: Settings) -> list[str]:
    """Reload every code location of the webserver; the names reloaded (none if unreachable)."""
    url = f"{settings.dagster_webserver_url}/graphql"
    reloaded = []
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
            workspace = client.post(url, json={"query": LOCATIONS_QUERY})
            workspace.raise_for_status()
            entries = workspace.json()["data"]["workspaceOrError"].get("locationEntries", [])
            for name in [entry["name"] for entry in entries]:
                answer = client.post(
                    url, json={"query": RELOAD_MUTATION, "variables": {"name": name}}
                )
                answer.raise_for_status()
                result = answer.json()["data"]["reloadRepositoryLocation"]
                if result["__typename"] == "WorkspaceLocationEntry":
                    reloaded.append(name)
                else:
                    log.warning(
                        "Dagster did not reload %s: %s", name, result.get("message", result)
                    )
    except (httpx.HTTPError, KeyError, TypeError, ValueError) as error:
        log.info("Dagster at %s not reloaded (%s); its daemon reloads within a minute", url, error)
    return reloaded
