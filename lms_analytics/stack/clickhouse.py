"""The ClickHouse gateway: the project's HTTP interface over the embedded chdb engine.

It runs as `python -m lms_analytics clickhouse-gateway` and reads its credentials from the
`LMS_ANALYTICS_*` environment the stack builds from its settings.
"""

from __future__ import annotations

import importlib.util
import sys
import urllib.error
import urllib.request

from lms_analytics.errors import StackError
from lms_analytics.stack.environment import redact_url
from lms_analytics.stack.service import Launch, Service

# Loopback health probes never go through an HTTP proxy from the environment.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ClickHouse(Service):
    name = "clickhouse"
    port_variable = "LMS_ANALYTICS_CLICKHOUSE_PORT"
    url_variable = "LMS_ANALYTICS_CLICKHOUSE_URL"

    @property
    def is_external(self) -> bool:
        return self.settings.clickhouse_is_external

    @property
    def port(self) -> int:
        return self.settings.clickhouse_port

    @property
    def endpoint(self) -> str:
        return redact_url(self.settings.clickhouse_http_url)

    def check_can_start(self) -> None:
        for module in ("chdb", "lms_analytics.clickhouse_gateway"):
            if importlib.util.find_spec(module) is None:
                raise StackError(
                    self.name,
                    f"the ClickHouse gateway cannot run: Python module `{module}` is missing",
                    "Reinstall the dependencies with `make install`, or use an existing "
                    f"ClickHouse by setting {self.url_variable}.",
                )

    def launch(self) -> Launch:
        command = [
            sys.executable,
            "-m",
            "lms_analytics",
            "clickhouse-gateway",
            "--data",
            str(self.data_path),
            "--host",
            self.settings.bind_host,
            "--port",
            str(self.port),
        ]
        return Launch(command, self.default_cwd(), self.environment())

    def is_healthy(self, timeout: float) -> bool:
        url = f"{self.settings.clickhouse_http_url}/ping"
        try:
            with _direct.open(url, timeout=timeout) as response:
                return response.status == 200 and response.read().strip() == b"Ok."
        except (urllib.error.URLError, OSError, ValueError):
            return False
