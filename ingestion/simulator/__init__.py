"""Realistic, deterministic LMS traffic of every event type, for Kafka or for tests.

- `generate_messages(SimulationConfig(...))`: the messages, no Kafka involved;
- `Simulation(config)`: the same, with `stats` and `progress` as it runs;
- `produce_messages(settings, messages, rate=..., partitions=...)`: into Kafka;
- `cli.simulate`: the `lms-analytics simulate` command.

Modules: `model` (the world), `traffic` (good events in time order), `faults` (duplicates,
late and malformed messages), `wire` (fast JSON identical to `Event.to_message()`),
`simulation` (configuration and the stream), `producer` (Kafka), `cli`.
"""

from ingestion.simulator.faults import MALFORMED_CLASSES, FaultStats, Message
from ingestion.simulator.simulation import (
    Simulation,
    SimulationConfig,
    SimulatorError,
    generate_messages,
    relaxed_gc,
)

__all__ = [
    "MALFORMED_CLASSES",
    "FaultStats",
    "Message",
    "Simulation",
    "SimulationConfig",
    "SimulatorError",
    "generate_messages",
    "relaxed_gc",
]
