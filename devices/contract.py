"""Wire contract v1: topics, message models and validation.

Every payload is a UTF-8 JSON object; times are integer milliseconds since the Unix epoch.
The device id always comes from the topic, never from the payload (see ``parse_topic``).
``docs/protocol.md`` is the human-readable version of this module.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from devices.kinds import DeviceKind

DEFAULT_PREFIX = "hall/v1"
DEVICE_ID_PATTERN = r"[a-z0-9][a-z0-9-]{0,62}"
_DEVICE_ID_RE = re.compile(rf"^{DEVICE_ID_PATTERN}$")
_DOTTED_NAME = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
MAX_TELEMETRY_VALUES = 256
MAX_STRING_VALUE = 1024
MAX_PAYLOAD_BYTES = 65_536
"""The largest payload anyone reads (64 KiB): agents refuse larger commands and responses, the
controller larger messages (its default ``controller.max_payload_bytes``)."""


class ContractError(ValueError):
    """A message or topic does not follow the wire contract; ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def now_ms() -> int:
    """The current time in the contract's unit."""
    return time.time_ns() // 1_000_000


def new_message_id() -> str:
    """A fresh message id (a UUID4 string)."""
    return str(uuid.uuid4())


def is_valid_device_id(device_id: str) -> bool:
    return bool(_DEVICE_ID_RE.fullmatch(device_id))


class Channel(StrEnum):
    """The per-device topic leaves."""

    STATE = "state"
    TELEMETRY = "telemetry"
    EVENT = "event"
    REQ = "req"
    RES = "res"
    CMD = "cmd"
    CMD_ACK = "cmd/ack"


DEVICE_TO_CONTROLLER = frozenset(
    {Channel.STATE, Channel.TELEMETRY, Channel.EVENT, Channel.REQ, Channel.CMD_ACK}
)


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    """A parsed per-device topic."""

    device_id: str
    channel: Channel


@dataclass(frozen=True, slots=True)
class Topics:
    """Builds and parses topics under one prefix (``hall/v1`` in production).

    Tests give every run its own prefix so that runs on one broker never see each other.
    """

    prefix: str = DEFAULT_PREFIX

    def device(self, device_id: str, channel: Channel | str) -> str:
        if not is_valid_device_id(device_id):
            raise ContractError(f"invalid device id {device_id!r}: expected {DEVICE_ID_PATTERN}")
        return f"{self.prefix}/dev/{device_id}/{Channel(channel).value}"

    @property
    def controller_state(self) -> str:
        return f"{self.prefix}/controller/state"

    def controller_subscriptions(self) -> list[str]:
        """What the controller subscribes to: everything under the prefix, so that a message
        on an unknown topic is dead-lettered with a reason instead of vanishing unseen."""
        return [f"{self.prefix}/#"]

    def is_controller_output(self, topic: str) -> bool:
        """Topics the controller itself publishes (it hears its own messages on ``#``)."""
        if topic == self.controller_state:
            return True
        return topic.startswith(f"{self.prefix}/dev/") and topic.endswith(("/cmd", "/res"))

    def parse(self, topic: str) -> DeviceTopic:
        """Parse a per-device topic; raises ContractError for anything else."""
        head = f"{self.prefix}/dev/"
        if not topic.startswith(head):
            raise ContractError(f"unknown topic: {topic!r} is not {head}<id>/<channel>")
        device_id, sep, rest = topic[len(head):].partition("/")
        if not sep:
            raise ContractError(f"unknown topic: {topic!r} has no channel after the device id")
        if not is_valid_device_id(device_id):
            raise ContractError(
                f"invalid device id in topic: {device_id!r} does not match {DEVICE_ID_PATTERN}")
        try:
            channel = Channel(rest)
        except ValueError:
            raise ContractError(f"unknown channel: {rest!r} in topic {topic!r}") from None
        return DeviceTopic(device_id, channel)


# --- message models -------------------------------------------------------------------------

EARLIEST_MS = 946_684_800_000  # 2000-01-01: anything earlier is a clock in seconds, or unset
LATEST_MS = 32_503_680_000_000  # 3000-01-01


def _plausible_millis(value: int) -> int:
    if value < EARLIEST_MS:
        hint = " (this looks like seconds)" if value > 900_000_000 else ""
        raise ValueError(f"expected milliseconds since the Unix epoch after 2000-01-01{hint}")
    if value > LATEST_MS:
        raise ValueError("expected milliseconds since the Unix epoch before 3000-01-01")
    return value


def _telemetry_value(key: str, value: Any) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"{key}: integer out of the 64-bit range")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{key}: expected a finite number")
        return
    if isinstance(value, str):
        if len(value) > MAX_STRING_VALUE:
            raise ValueError(f"{key}: string longer than {MAX_STRING_VALUE} characters")
        if "\x00" in value:
            raise ValueError(f"{key}: string contains a NUL character")
        return
    got = "null" if value is None else type(value).__name__
    raise ValueError(f"{key}: expected a number, boolean or string, got {got}")


def _check_values(values: dict[str, Any]) -> dict[str, Any]:
    for key, value in values.items():
        _telemetry_value(key, value)
    return values


Millis = Annotated[StrictInt, AfterValidator(_plausible_millis)]
DottedName = Annotated[str, Field(pattern=_DOTTED_NAME, max_length=128)]
MetricName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")]
TelemetryValue = bool | int | float | str
TelemetryValues = Annotated[
    dict[MetricName, Any],
    Field(min_length=1, max_length=MAX_TELEMETRY_VALUES),
    AfterValidator(_check_values),
]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_M = TypeVar("_M", bound=_Message)


class Birth(_Message):
    """Retained on ``state`` when an agent connects."""

    online: Literal[True]
    session: Annotated[StrictInt, Field(ge=0)]
    kind: DeviceKind
    model: Annotated[str, Field(max_length=128)] = ""
    fw: Annotated[str, Field(max_length=64)] = ""
    site: Annotated[str, Field(max_length=128)] = ""
    ts: Millis


class Will(_Message):
    """The last will on ``state`` (and the clean-shutdown message): the device is offline."""

    online: Literal[False]
    session: Annotated[StrictInt, Field(ge=0)]
    ts: Millis | None = None


class TelemetrySample(_Message):
    ts: Millis
    values: TelemetryValues


class Event(_Message):
    id: uuid.UUID
    ts: Millis
    type: DottedName
    data: dict[str, Any] = Field(default_factory=dict)


class Request(_Message):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    method: DottedName
    params: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(_Message):
    code: Annotated[str, Field(max_length=64)]
    message: Annotated[str, Field(max_length=1024)]


class Response(_Message):
    """A reply on ``res`` to a ``req``, or an ack on ``cmd/ack`` to a ``cmd``."""

    id: Annotated[str, Field(min_length=1, max_length=64)]
    ok: StrictBool
    result: dict[str, Any] | None = None
    error: ErrorBody | None = None

    @model_validator(mode="after")
    def _error_iff_not_ok(self) -> Response:
        if self.ok and self.error is not None:
            raise ValueError("ok is true but an error is given")
        if not self.ok and self.error is None:
            raise ValueError("ok is false but no error says why")
        return self


CommandAck = Response


class Command(_Message):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    method: DottedName
    params: dict[str, Any] = Field(default_factory=dict)
    expires_at: Millis
    nonce: str | None = None
    signature: str | None = None


# Keys a device might use to claim an identity in a payload.  The topic is the only source of
# the device id; a payload naming a different device is refused as a lie, not silently ignored.
_IDENTITY_KEYS = ("device_id", "device")


def _check_identity(obj: dict[str, Any], device_id: str) -> dict[str, Any]:
    for key in _IDENTITY_KEYS:
        if key in obj:
            claimed = obj[key]
            if claimed != device_id:
                raise ContractError(
                    f"device id mismatch: payload says {key}={claimed!r} but the topic is {device_id!r}")
            obj = {k: v for k, v in obj.items() if k != key}
    return obj


def _validate(model: type[_M], obj: Any, what: str, where: str = "") -> _M:
    """Validate; the reason reads ``invalid <what>: <where><field>: <problem>`` so that the text
    before the first colon is a stable category for counting."""
    if not isinstance(obj, dict):
        raise ContractError(f"invalid {what}: {where}must be a JSON object, got {type(obj).__name__}")
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(root)"
        message = first["msg"].removeprefix("Value error, ")
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ContractError(f"invalid {what}: {where}{field}: {message}{more}") from None


def parse_state(obj: Any, device_id: str) -> Birth | Will:
    if not isinstance(obj, dict):
        raise ContractError(f"invalid state: must be a JSON object, got {type(obj).__name__}")
    obj = _check_identity(obj, device_id)
    if obj.get("online") is True:
        return _validate(Birth, obj, "birth")
    if obj.get("online") is False:
        return _validate(Will, obj, "will")
    raise ContractError("invalid state: online must be true or false")


def parse_telemetry(obj: Any, device_id: str) -> list[TelemetrySample]:
    """One sample, or a list of samples (an outbox flush)."""
    items = obj if isinstance(obj, list) else [obj]
    if not items:
        raise ContractError("invalid telemetry: empty list")
    if len(items) > 1000:
        raise ContractError(f"invalid telemetry: {len(items)} samples in one message > 1000")
    samples = []
    for i, item in enumerate(items):
        where = f"[{i}] " if isinstance(obj, list) else ""
        sample = _check_identity(item, device_id) if isinstance(item, dict) else item
        samples.append(_validate(TelemetrySample, sample, "telemetry", where))
    return samples


def parse_event(obj: Any, device_id: str) -> Event:
    if isinstance(obj, dict):
        obj = _check_identity(obj, device_id)
    return _validate(Event, obj, "event")


def parse_request(obj: Any, device_id: str) -> Request:
    if isinstance(obj, dict):
        obj = _check_identity(obj, device_id)
    return _validate(Request, obj, "request")


def parse_response(obj: Any, device_id: str) -> Response:
    if isinstance(obj, dict):
        obj = _check_identity(obj, device_id)
    return _validate(Response, obj, "response")


def parse_command(obj: Any) -> Command:
    return _validate(Command, obj, "command")


def encode(message: BaseModel | list[Any] | dict[str, Any]) -> bytes:
    """Serialise a message (or a plain JSON value) to the wire form."""
    if isinstance(message, BaseModel):
        return message.model_dump_json(exclude_none=True).encode()
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def ok_response(request_id: str, result: dict[str, Any] | None = None) -> Response:
    return Response(id=request_id, ok=True, result=result or {})


def error_response(request_id: str, code: str, message: str) -> Response:
    return Response(id=request_id, ok=False, error=ErrorBody(code=code, message=message))
