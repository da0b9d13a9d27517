"""The rules both fleet stores apply to an ingest batch before storing it (``prepare_batch``).

Pure: ``memory_store`` and ``postgres_store`` both call it, so the in-memory fake and
PostgreSQL agree on what a batch stores, by construction rather than by two copies of the same
logic drifting apart.

The rules exist because the wire contract accepts some values PostgreSQL cannot store: a NUL
character in a string (``"\\u0000"`` is valid JSON) and non-finite floats in JSON data. One such
message would otherwise make the whole batch fail every time it is retried, holding up every
other device behind it. They are scrubbed instead, visibly (U+FFFD, ``null``).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from devices.contract import MAX_PAYLOAD_BYTES
from hall_controller.fleet.model import (
    DeadLetter,
    DeviceEvent,
    DeviceRecord,
    IngestBatch,
    TelemetryPoint,
    TelemetryScalar,
)

MAX_DEAD_LETTER_PAYLOAD = MAX_PAYLOAD_BYTES
"""Bytes of a dead letter's payload that are kept; ``size`` keeps the real length."""

PAYLOAD_PREVIEW_BYTES = 1024
"""Bytes of a dead letter's payload shown in ``StoredDeadLetter.payload_preview``."""

_NUL = "\x00"
_REPLACEMENT = "\ufffd"


def scrub_text(text: str) -> str:
    """The text with NUL characters (which PostgreSQL text cannot hold) replaced by U+FFFD."""
    return text.replace(_NUL, _REPLACEMENT) if _NUL in text else text


def scrub_json(value: Any) -> Any:
    """A JSON-able value that jsonb accepts: NUL scrubbed from strings and keys, non-finite
    floats (NaN, ±Infinity, which JSON cannot express) turned into ``None``."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {scrub_text(str(k)): scrub_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_json(v) for v in value]
    return value


def latest_json_value(value: TelemetryScalar) -> TelemetryScalar:
    """A telemetry value as kept for "latest": exact type preserved, except that non-finite
    floats become their name ("nan", "inf", "-inf") because jsonb has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return scrub_text(value)
    return value


class TelemetryRow(NamedTuple):
    """One telemetry sample in the typed columns it is stored in (exactly one is not None).

    A NamedTuple rather than a frozen dataclass: a batch makes thousands, and this is several
    times cheaper to build."""

    device_id: str
    ts_ms: int
    metric: str
    num: float | None
    text: str | None
    flag: bool | None

    @property
    def value(self) -> TelemetryScalar:
        """The stored value (numbers come back as floats, as from the database)."""
        if self.flag is not None:
            return self.flag
        if self.num is not None:
            return self.num
        return self.text if self.text is not None else ""


def telemetry_row(device_id: str, ts_ms: int, metric: str, value: TelemetryScalar) -> TelemetryRow:
    """Split a value into the typed columns. bool is tested before int (bool is an int)."""
    if isinstance(value, bool):
        return TelemetryRow(device_id, ts_ms, metric, None, None, value)
    if isinstance(value, int | float):
        try:
            return TelemetryRow(device_id, ts_ms, metric, float(value), None, None)
        except OverflowError:
            # An integer too large for a double: keep it exactly, as text.
            return TelemetryRow(device_id, ts_ms, metric, None, str(value), None)
    return TelemetryRow(device_id, ts_ms, metric, None, scrub_text(str(value)), None)


@dataclass(frozen=True, slots=True)
class LatestRow:
    device_id: str
    metric: str
    ts_ms: int
    value: TelemetryScalar


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    event_uuid: uuid.UUID
    event: DeviceEvent  # data already scrubbed


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A batch ready to store; every list is in a stable order (see ``prepare_batch``)."""

    telemetry: list[TelemetryRow]
    latest: list[LatestRow]
    events: list[PreparedEvent]
    dead_letters: list[DeadLetter]
    devices: list[DeviceRecord]


def prepare_batch(batch: IngestBatch) -> PreparedBatch:
    """Apply the storage rules to a batch.

    - telemetry: typed columns; one sample per (device, metric, ts), the first in the batch
      (a redelivered message is the same sample again; see ``PostgresStore`` for why the
      first one wins); "latest" keeps only the newest sample per (device, metric), because
      one upsert cannot touch a row twice;
    - events: deduplicated by id within the batch; an id that is not a UUID becomes a dead
      letter (the contract guarantees UUIDs, so this is defence, not a path);
    - dead letters: payload cut to ``MAX_DEAD_LETTER_PAYLOAD``, topic, device id and reason
      to sane lengths;
    - text scrubbed of NUL, JSON of non-finite floats.

    Latest values, events and devices are sorted by key so that two controllers committing
    overlapping batches lock rows in the same order and cannot deadlock each other.
    """
    telemetry: list[TelemetryRow] = []
    newest: dict[tuple[str, str], TelemetryPoint] = {}
    samples: set[tuple[str, str, int]] = set()
    for point in batch.telemetry:
        sample = (point.device_id, point.metric, point.ts_ms)
        if sample in samples:
            continue  # the same sample again in this batch: the first one stands
        samples.add(sample)
        telemetry.append(telemetry_row(point.device_id, point.ts_ms, point.metric, point.value))
        key = (point.device_id, point.metric)
        seen = newest.get(key)
        if seen is None or point.ts_ms > seen.ts_ms:
            newest[key] = point

    dead_letters = [_trim_dead_letter(d) for d in batch.dead_letters]
    events: dict[uuid.UUID, PreparedEvent] = {}
    for event in batch.events:
        try:
            event_uuid = uuid.UUID(event.event_id)
        except ValueError:
            dead_letters.append(_invalid_event(event))
            continue
        if event_uuid not in events:
            events[event_uuid] = PreparedEvent(
                event_uuid, replace(event, data=scrub_json(event.data)))

    devices = [_scrub_device(d) for _, d in sorted(batch.devices.items())]
    return PreparedBatch(
        telemetry=telemetry,
        latest=[LatestRow(k[0], k[1], newest[k].ts_ms, latest_json_value(newest[k].value))
                for k in sorted(newest)],
        events=[events[k] for k in sorted(events)],
        dead_letters=dead_letters,
        devices=devices,
    )


def _scrub_device(device: DeviceRecord) -> DeviceRecord:
    texts = (device.model, device.fw, device.site, device.offline_reason or "")
    if not any(_NUL in t for t in texts):
        return device  # the common case, and replace() is not cheap at 1000 devices a batch
    return replace(
        device, model=scrub_text(device.model), fw=scrub_text(device.fw),
        site=scrub_text(device.site),
        offline_reason=None if device.offline_reason is None else scrub_text(device.offline_reason))


def _trim_dead_letter(letter: DeadLetter) -> DeadLetter:
    # Bounded too: a dead letter records what was wrong, so its fields are whatever arrived,
    # and an indexed value over ~2.7 kB is refused by PostgreSQL as a "program limit" — an
    # error that looks like an outage and would be retried for ever.
    return replace(
        letter,
        topic=scrub_text(letter.topic[:1024]),
        device_id=None if letter.device_id is None else scrub_text(letter.device_id[:128]),
        reason=scrub_text(letter.reason[:4096]),
        payload=bytes(letter.payload[:MAX_DEAD_LETTER_PAYLOAD]),
    )


def _invalid_event(event: DeviceEvent) -> DeadLetter:
    text = repr(event)
    payload = text.encode("utf-8", errors="replace")
    return DeadLetter(
        received_ms=event.received_ms, topic="", device_id=scrub_text(event.device_id),
        reason=scrub_text(f"invalid_event_id: {event.event_id[:100]!r} is not a UUID"),
        payload=payload[:MAX_DEAD_LETTER_PAYLOAD], size=len(payload),
    )


def payload_preview(payload: bytes) -> str:
    """The start of a payload as text, undecodable bytes replaced."""
    return payload[:PAYLOAD_PREVIEW_BYTES].decode("utf-8", errors="replace")


def reason_category(reason: str) -> str:
    """The category of a dead letter's reason: the text before the first ':'."""
    return reason.split(":", 1)[0]
