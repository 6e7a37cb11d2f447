"""Kafka delivery for the collector: a request is answered only once the broker acknowledged it.

One confluent-kafka Producer per process (acks=all, idempotent), shared by all requests. A
background thread serves its delivery reports (`poll`); each produced message carries an asyncio
future that its report resolves, so a request awaits exactly its own messages while librdkafka
batches the messages of concurrent requests together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

log = logging.getLogger(__name__)

DEFAULT_CONFIG: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,  # broker retries never duplicate or reorder a partition
    "linger.ms": 0,  # small: a request waits for its acknowledgement
    "message.timeout.ms": 10_000,  # how long a request may wait for the broker
    "socket.keepalive.enable": True,
    "log_level": 3,
}
_QUEUE_FULL_RETRIES = 50


class DeliveryFailed(Exception):
    """The broker did not acknowledge every message of a request; the client should retry."""


class KafkaSink:
    def __init__(self, bootstrap_servers: str, config: dict[str, Any] | None = None) -> None:
        self._config = {**DEFAULT_CONFIG, "bootstrap.servers": bootstrap_servers, **(config or {})}
        self._producer = Producer(self._config)
        self._stop = threading.Event()
        self._poller = threading.Thread(
            target=self._poll_forever, name="collector-kafka-poll", daemon=True
        )
        self._poller.start()

    @property
    def timeout_seconds(self) -> float:
        return float(self._config["message.timeout.ms"]) / 1000

    def connect(self) -> bool:
        """Reach the brokers now (blocking, at most 5 s): the first request then needs no
        connection setup (an idempotent producer otherwise waits 0.5 s for its producer id).
        False when Kafka is unreachable; requests then fail with DeliveryFailed until it is."""
        try:
            self._producer.list_topics(timeout=min(5.0, self.timeout_seconds))
        except KafkaException as error:
            log.warning(
                "Kafka at %s is not reachable yet: %s", self._config["bootstrap.servers"], error
            )
            return False
        return True

    def _poll_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self._producer.poll(0.1)
            except Exception:  # a failing callback must not stop the reports of the others
                log.exception("delivery report poll failed")

    async def deliver(self, messages: Sequence[tuple[str, bytes | None, bytes]]) -> None:
        """Produce (topic, key, value) messages; return when the broker acknowledged all.

        Raises DeliveryFailed naming the first error when any message was not acknowledged
        within the message timeout.
        """
        if not messages:
            return
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[KafkaError | None]] = []

        for topic, key, value in messages:
            future: asyncio.Future[KafkaError | None] = loop.create_future()

            def report(error: KafkaError | None, _message: Any, future=future) -> None:
                # RuntimeError: the request's loop is gone (shutdown), nobody waits
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, future, error)

            await self._produce(topic, key, value, report)
            futures.append(future)

        try:
            errors = await asyncio.wait_for(
                asyncio.gather(*futures), timeout=self.timeout_seconds + 5
            )
        except TimeoutError:
            raise DeliveryFailed(
                f"Kafka did not acknowledge the events within {self.timeout_seconds + 5:.0f} s"
            ) from None
        failed = [error for error in errors if error is not None]
        if failed:
            raise DeliveryFailed(
                f"Kafka did not acknowledge {len(failed)} of {len(messages)} events: "
                f"{failed[0].str()}"
            )

    async def _produce(self, topic: str, key: bytes | None, value: bytes, report: Any) -> None:
        for _ in range(_QUEUE_FULL_RETRIES):
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=report)
                return
            except BufferError:  # local queue full: let the poller drain it
                await asyncio.sleep(0.02)
            except KafkaException as error:
                raise DeliveryFailed(f"Kafka refused an event: {error.args[0].str()}") from None
        raise DeliveryFailed("the collector's Kafka queue is full: retry later")

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to `timeout` seconds), then stop the poller."""
        self._stop.set()
        self._poller.join(timeout=1)
        remaining = self._producer.flush(timeout)
        if remaining:
            log.warning("%d events were still unacknowledged at shutdown", remaining)


def _resolve(future: asyncio.Future[KafkaError | None], error: KafkaError | None) -> None:
    if not future.done():
        future.set_result(error)
