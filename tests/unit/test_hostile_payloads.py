"""Generated hostile payloads against the decoding and validation of every channel and every
command: whatever arrives, the only failure allowed is the contract's own refusal (a
ContractError, a ValueError naming the field, or a refused ack/reply with a code) — never an
exception that escapes, and never ``internal_error``.

Hypothesis builds the inputs: arbitrary bytes; JSON text with deep nesting, NaN, duplicate keys
and escaped surrogates; and valid messages with one field replaced by an arbitrary JSON value.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.access_rules import AccessPolicy
from devices.contract import (
    Channel,
    Command,
    ContractError,
    now_ms,
    parse_command,
    parse_event,
    parse_request,
    parse_response,
    parse_state,
    parse_telemetry,
)
from devices.json_decoding import decode_json
from devices.vision.gallery import Gallery
from edge.commands import CommandRunner, usable_id
from hall_controller.fleet.alarms import AlarmService
from hall_controller.fleet.device_alarms import (
    HARDWARE_FAULT,
    HARDWARE_RECOVERED,
    RULES,
    DeviceAlarmRules,
)
from hall_controller.fleet.memory_store import MemoryStore
from hall_controller.fleet.model import DeviceEvent
from hall_controller.fleet.requests import RequestRouter
from hall_controller.queue.memory_tickets import MemoryTicketStore
from hall_controller.queue.tickets import QueueSettings, TicketService
from simulators.base import SimulatedDevice
from simulators.door_lock import SimulatedDoorLock
from simulators.face_gate import SimulatedFaceGate
from simulators.kiosk import SimulatedKiosk
from simulators.queue_display import SimulatedQueueDisplay
from tests.support.ticket_store_contract import SERVICES

# 120 examples a test keeps the unit run short; HALL_HYPOTHESIS_EXAMPLES=5000 digs deeper.
HOSTILE = settings(max_examples=int(os.environ.get("HALL_HYPOTHESIS_EXAMPLES", "120")), deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LIMIT = 65_536
DEVICE = "kiosk-01"

# --- strategies -------------------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
           | st.sampled_from(["", "\x00", "kiosk-02", "A001", "\ufeff", "🚪", "..", "x" * 2000]))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


@st.composite
def hostile_text(draw: st.DrawFn) -> bytes:
    """JSON-ish text a parser finds hard: deep nesting, NaN, duplicate keys, surrogates."""
    depth = draw(st.integers(min_value=0, max_value=4000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    core = draw(st.sampled_from([
        "1", "NaN", "-Infinity", '"\\ud800"', '"\\udfff\\ud800"', '{"a":1,"a":2}', "", "[", "}",
        '"\\u0000"', "1e999", "-0", "9" * 5000, '{"ts":1,"values":{"a":NaN}}',
    ]))
    closing = draw(st.integers(min_value=0, max_value=depth))
    return (opener * depth + core + closer * closing).encode()


def tweaked(valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A valid message with one field replaced, removed or added, or the whole of it replaced."""
    keys = [*valid, "device_id", "extra"]

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        if draw(st.booleans()):
            return draw(json_values)
        message = dict(valid)
        key = draw(st.sampled_from(keys))
        if draw(st.booleans()) and key in message:
            del message[key]
        else:
            message[key] = draw(json_values)
        return message
    return build()


VALID: dict[Channel, dict[str, Any]] = {
    Channel.STATE: {"online": True, "session": 3, "kind": "kiosk", "model": "k", "fw": "1",
                    "ts": now_ms()},
    Channel.TELEMETRY: {"ts": now_ms(), "values": {"temp_c": 21.5, "ok": True, "s": "x"}},
    Channel.EVENT: {"id": str(uuid.uuid4()), "ts": now_ms(), "type": "printer.jam", "data": {}},
    Channel.REQ: {"id": "r1", "method": "ticket.take", "params": {"service": "student-id"}},
    Channel.CMD_ACK: {"id": "c1", "ok": False, "error": {"code": "busy", "message": "m"}},
    Channel.RES: {"id": "r1", "ok": True, "result": {}},
    Channel.CMD: {"id": "c1", "method": "display.call", "params": {}, "expires_at": now_ms()},
}

PARSERS: dict[Channel, Callable[[Any], object]] = {
    Channel.STATE: lambda obj: parse_state(obj, DEVICE),
    Channel.TELEMETRY: lambda obj: parse_telemetry(obj, DEVICE),
    Channel.EVENT: lambda obj: parse_event(obj, DEVICE),
    Channel.REQ: lambda obj: parse_request(obj, DEVICE),
    Channel.CMD_ACK: lambda obj: parse_response(obj, DEVICE),
    Channel.RES: lambda obj: parse_response(obj, DEVICE),
    Channel.CMD: parse_command,
}


def accept_or_refuse(channel: Channel, payload: bytes) -> None:
    """What every reader of ``channel`` does: decode, then validate. Only ContractError may
    come out; what passes must be storable and re-encodable (the controller keeps it)."""
    try:
        message = PARSERS[channel](decode_json(payload, LIMIT))
    except ContractError as exc:
        assert exc.reason.split(":")[0], "a refusal names its reason"
        return
    json.dumps(message.model_dump(mode="json") if hasattr(message, "model_dump")  # type: ignore[attr-defined]
               else [m.model_dump(mode="json") for m in message],  # type: ignore[attr-defined]
               allow_nan=False).encode("utf-8")


# --- decoding -----------------------------------------------------------------------------------

@HOSTILE
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_decode_or_are_refused_by_the_contract(payload: bytes) -> None:
    try:
        value = decode_json(payload, LIMIT)
    except ContractError:
        return
    json.dumps(value, allow_nan=False).encode("utf-8")  # what is accepted is clean JSON


@HOSTILE
@given(hostile_text())
def test_hostile_json_text_is_refused_with_a_reason_never_a_crash(payload: bytes) -> None:
    for channel in Channel:
        accept_or_refuse(channel, payload)


@HOSTILE
@given(json_values, st.integers(min_value=0, max_value=40))
def test_any_json_nested_to_any_depth_is_accepted_or_refused_by_depth(value: Any, depth: int) -> None:
    payload = ("[" * depth + json.dumps(value) + "]" * depth).encode()
    try:
        decode_json(payload, LIMIT)
    except ContractError as exc:
        assert exc.reason.startswith(("too_deep", "duplicate_key")), exc.reason


# --- validation of every channel ----------------------------------------------------------------

def _channel_test(channel: Channel) -> Callable[[Any], None]:
    @HOSTILE
    @given(tweaked(VALID[channel]))
    def check(obj: Any) -> None:
        accept_or_refuse(channel, json.dumps(obj).encode())
    check.__name__ = f"test_{channel.name.lower()}_with_any_field_changed_is_accepted_or_refused"
    return check


test_state_fields = _channel_test(Channel.STATE)
test_telemetry_fields = _channel_test(Channel.TELEMETRY)
test_event_fields = _channel_test(Channel.EVENT)
test_request_fields = _channel_test(Channel.REQ)
test_command_ack_fields = _channel_test(Channel.CMD_ACK)
test_response_fields = _channel_test(Channel.RES)
test_command_fields = _channel_test(Channel.CMD)


@HOSTILE
@given(st.lists(tweaked(VALID[Channel.TELEMETRY]), max_size=5))
def test_telemetry_lists_with_any_sample_changed_are_accepted_or_refused(samples: list[Any]) -> None:
    accept_or_refuse(Channel.TELEMETRY, json.dumps(samples).encode())


@HOSTILE
@given(tweaked({"version": 3, "timezone": "Asia/Shanghai", "mode": "normal", "holidays": [],
                "schedules": {}, "people": [{"person_id": "p1", "groups": ["g"]}]}),
       tweaked({"version": 3, "people": [{"person_id": "p1", "embeddings": [[0.0] * 128]}]}))
def test_an_access_sync_result_is_applied_or_refused_with_a_reason(policy: Any, gallery: Any) -> None:
    # What a gate or lock receives on ``res`` for access.sync: refused with ValueError, kept
    # otherwise (edge/access_sync.py keeps its current version on a refusal).
    for parse in (AccessPolicy.from_wire, Gallery.from_wire):
        for candidate in (policy, gallery):
            with contextlib.suppress(ValueError):
                parse(candidate)


# --- commands at the device ---------------------------------------------------------------------

DEVICES: list[Callable[[], SimulatedDevice]] = [
    lambda: SimulatedKiosk("kiosk-01"), lambda: SimulatedFaceGate("gate-01"),
    lambda: SimulatedDoorLock("lock-01"), lambda: SimulatedQueueDisplay("display-01"),
]
METHODS = sorted({"device.ping", "device.reboot", "no.such_method",
                  *(m for make in DEVICES for m in make().commands())})
param_names = st.sampled_from(["brightness", "ticket", "window", "services", "mode", "duration_s",
                               "text", "seconds", "service", "next", "reason"])


@HOSTILE
@given(st.sampled_from(range(len(DEVICES))), st.sampled_from(METHODS),
       st.dictionaries(param_names, json_values, max_size=4))
def test_every_command_with_any_params_is_executed_or_refused_with_a_code(
        device: int, method: str, params: dict[str, Any]) -> None:
    driver = DEVICES[device]()
    runner = CommandRunner(driver, "dev-01")  # type: ignore[arg-type]
    command = Command(id="c1", method=method, params=params, expires_at=now_ms() + 30_000)
    response = asyncio.run(runner.execute(command))
    if not response.ok:
        assert response.error is not None and response.error.code != "internal_error", response


@HOSTILE
@given(st.one_of(st.binary(max_size=512), hostile_text(),
                 tweaked(VALID[Channel.CMD]).map(lambda o: json.dumps(o).encode())))
def test_a_malformed_command_is_refused_before_any_driver_sees_it(payload: bytes) -> None:
    runner = CommandRunner(SimulatedQueueDisplay("display-01"), "display-01")  # type: ignore[arg-type]
    try:
        runner.parse(payload)
    except ContractError:
        assert runner.stats.malformed == 1
        cid = usable_id(payload)
        assert cid is None or 0 < len(cid) <= 64


# --- requests at the controller ----------------------------------------------------------------

@HOSTILE
@given(st.sampled_from(["ticket.take", "device.time", "no.such"]),
       st.dictionaries(st.sampled_from(["service", "identity", "lang", "appointment", "x"]),
                       json_values, max_size=3)
       | st.fixed_dictionaries({"service": st.just("student-id"),
                                "identity": st.dictionaries(st.sampled_from(["type", "value"]),
                                                            json_values)}))
def test_every_request_with_any_params_is_answered_or_refused_with_a_code(
        method: str, params: dict[str, Any]) -> None:
    async def answer() -> None:
        tickets = TicketService(MemoryTicketStore(), QueueSettings(services=tuple(SERVICES)))
        await tickets.start()
        router = RequestRouter()
        router.register("ticket.take", tickets.take)
        request = parse_request({"id": "r1", "method": method, "params": params}, DEVICE)
        response = await router.handle(DEVICE, None, request)
        if not response.ok:
            assert response.error is not None and response.error.code != "internal_error", response
    asyncio.run(answer())


# --- events after the commit --------------------------------------------------------------------

@HOSTILE
@given(st.sampled_from([*RULES, HARDWARE_FAULT, HARDWARE_RECOVERED, "no.such_event"]),
       st.dictionaries(st.sampled_from(["part", "reason", "event_id", "door", "x"]), json_values,
                       max_size=3))
def test_every_event_raises_clears_or_is_ignored_whatever_its_data(type_: str,
                                                                   data: dict[str, Any]) -> None:
    async def hear() -> None:
        store = MemoryStore()
        event = parse_event({"id": str(uuid.uuid4()), "ts": now_ms(), "type": type_, "data": data},
                            "lock-01")
        await DeviceAlarmRules(AlarmService(store))(DeviceEvent(
            str(event.id), "lock-01", event.ts, event.type, event.data, now_ms()))
    asyncio.run(hear())
