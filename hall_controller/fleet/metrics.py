"""In-process counters the health endpoint reports (reset when the process restarts;
the durable record of bad input is the dead-letter table)."""

from __future__ import annotations

from collections import Counter


class IngestCounters:
    """What the ingest pipeline has seen since start."""

    def __init__(self) -> None:
        self.received = 0
        self.committed = 0
        self.batches = 0
        self.telemetry_points = 0
        self.events_new = 0
        self.events_duplicate = 0
        self.requests = 0
        self.commit_failures = 0
        self.internal_errors = 0  # messages that hit a bug (dead-lettered as internal_error)
        self.dead_letters: Counter[str] = Counter()  # by reason category

    def dead_letter(self, reason: str) -> None:
        self.dead_letters[reason.split(":", 1)[0]] += 1

    def as_dict(self) -> dict[str, object]:
        return {
            "received": self.received, "committed": self.committed, "batches": self.batches,
            "telemetry_points": self.telemetry_points, "events_new": self.events_new,
            "events_duplicate": self.events_duplicate, "requests": self.requests,
            "commit_failures": self.commit_failures, "internal_errors": self.internal_errors,
            "dead_letters": sum(self.dead_letters.values()),
            "dead_letters_by_reason": dict(self.dead_letters),
        }
