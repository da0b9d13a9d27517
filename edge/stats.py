"""What an edge agent counts: for the facilities dashboard and for tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.commands import CommandStats


@dataclass(slots=True)
class AgentStats:
    """Counters for the facilities dashboard and for tests."""

    connects: int = 0
    connection_losses: int = 0
    telemetry_sampled: int = 0
    events_emitted: int = 0
    messages_published: int = 0
    records_delivered: int = 0
    announcements: int = 0
    malformed_messages: int = 0
    internal_errors: int = 0  # messages that hit a bug here (refused, and the agent went on)
    acks_dropped: int = 0
    commands: CommandStats = field(default_factory=CommandStats)
