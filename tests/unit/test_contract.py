"""The wire contract refuses what a device must not send, and says why."""

from __future__ import annotations

import json
import uuid

import pytest

from devices.contract import (
    Birth,
    Channel,
    ContractError,
    Topics,
    decode_json,
    encode,
    parse_event,
    parse_response,
    parse_state,
    parse_telemetry,
)

T0 = 1_700_000_000_000  # a plausible device clock, in milliseconds


def test_topics_round_trip_every_device_channel() -> None:
    topics = Topics("site-a/hall/v1")
    for channel in Channel:
        parsed = topics.parse(topics.device("kiosk-01", channel))
        assert (parsed.device_id, parsed.channel) == ("kiosk-01", channel)


@pytest.mark.parametrize("topic", [
    "hall/v1/dev/Kiosk/state",          # upper case is not a device id
    "hall/v1/dev/-bad/state",
    "hall/v1/dev/kiosk-1/firmware",     # unknown channel
    "hall/v1/dev/kiosk-1",              # no channel
    "other/v1/dev/kiosk-1/state",       # outside the prefix
    "hall/v1/dev/" + "a" * 64 + "/state",
])
def test_bad_topics_are_refused(topic: str) -> None:
    with pytest.raises(ContractError):
        Topics().parse(topic)


def test_birth_and_will_are_told_apart() -> None:
    birth = parse_state({"online": True, "session": 4, "kind": "door_lock", "ts": T0}, "lock-1")
    assert isinstance(birth, Birth) and birth.kind == "door_lock"
    will = parse_state({"online": False, "session": 4}, "lock-1")
    assert will.online is False and will.session == 4


def test_a_device_naming_another_device_in_its_payload_is_refused() -> None:
    with pytest.raises(ContractError, match="device id mismatch"):
        parse_telemetry({"device_id": "lock-2", "ts": T0, "values": {"x": 1}}, "lock-1")
    # Naming itself is allowed (and the key is dropped).
    assert parse_telemetry({"device_id": "lock-1", "ts": T0, "values": {"x": 1}}, "lock-1")


def test_telemetry_accepts_a_list_from_an_outbox_flush() -> None:
    samples = parse_telemetry([{"ts": T0, "values": {"a": 1}}, {"ts": T0 + 1, "values": {"a": 2.5}}], "k")
    assert [s.values["a"] for s in samples] == [1, 2.5]


@pytest.mark.parametrize(("payload", "reason"), [
    ({"ts": "yesterday", "values": {"a": 1}}, "ts"),
    ({"ts": T0, "values": {}}, "values"),
    ({"ts": T0, "values": {"a": [1, 2]}}, "values: a: expected a number, boolean or string, got list"),
    ({"ts": T0, "values": {"a": None}}, "values: a: expected a number, boolean or string, got null"),
    ({"ts": T0, "values": {"a": "nul\x00"}}, "values: a: string contains a NUL"),
    ({"ts": T0, "values": {"a": 10**30}}, "values: a: integer out of the 64-bit range"),
    ({"ts": T0 // 1000, "values": {"a": 1}}, "ts: expected milliseconds .* looks like seconds"),
    ([{"ts": T0, "values": {"a": 1}}, 7], r"invalid telemetry: \[1\] must be a JSON object"),
    ({"ts": T0, "values": {"a": 1}, "extra": 1}, "extra"),
    ([], "empty list"),
    ("a string", "JSON object"),
])
def test_wrong_telemetry_names_the_field(payload: object, reason: str) -> None:
    with pytest.raises(ContractError, match=reason):
        parse_telemetry(payload, "k")


def test_event_needs_a_uuid_and_a_dotted_type() -> None:
    good = {"id": str(uuid.uuid4()), "ts": T0, "type": "door.opened", "data": {"by": "card"}}
    assert parse_event(good, "lock-1").type == "door.opened"
    with pytest.raises(ContractError, match="id"):
        parse_event({**good, "id": "not-a-uuid"}, "lock-1")
    with pytest.raises(ContractError, match="type"):
        parse_event({**good, "type": "Door Opened"}, "lock-1")


@pytest.mark.parametrize(("payload", "reason"), [
    (b"{" + b" " * 2_000_000 + b"}", "too_large: 2000002 bytes > 65536"),
    (b"{not json", "invalid_json: Expecting property name"),
    (b"\xff\xfe{}", "invalid_utf8: invalid start byte at byte 0"),
    (b'{"ts": 1, "values": {"a": NaN}}', "non_finite_number: NaN"),
    (b'{"ts": 1, "values": {"a": -Infinity}}', "non_finite_number: -Infinity"),
    (b'{"ts": 1, "ts": 2, "values": {}}', "duplicate_key: 'ts'"),
    (b'{"values": {"a": 1, "a": 1}}', "duplicate_key: 'a'"),
    (b"[" * 3000 + b"]" * 3000, "too_deep"),
    (b'{"a":' * 3000 + b"1" + b"}" * 3000, "too_deep"),
    (b"[" * 33 + b"]" * 33, "too_deep: nested 33 levels, more than 32"),
    (b'{"a": "\\udc00"}', "invalid_unicode"),
    (b'{"\\ud800": 1}', "invalid_unicode"),
])
def test_payload_decoding_refuses_with_a_named_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(ContractError) as refused:
        decode_json(payload, 65_536)
    assert refused.value.reason.startswith(reason), refused.value.reason


def test_decoding_accepts_what_json_allows_up_to_the_limits() -> None:
    assert decode_json(b"[" * 32 + b"]" * 32, 65_536) == eval("[" * 32 + "]" * 32)
    # Brackets and escapes inside strings are text, not nesting or surrogates.
    assert decode_json(b'{"a": "' + b"[" * 100 + b'"}', 65_536) == {"a": "[" * 100}
    assert decode_json(b'{"a": "\\u00e9\\ud83d\\ude00"}', 65_536) == {"a": "\u00e9\U0001f600"}
    assert decode_json(b'{"a": {"a": 1}}', 65_536) == {"a": {"a": 1}}  # same key, two objects


def test_a_response_must_say_why_when_not_ok() -> None:
    with pytest.raises(ContractError, match="no error says why"):
        parse_response({"id": "c1", "ok": False}, "k")
    with pytest.raises(ContractError, match="ok is true but an error"):
        parse_response({"id": "c1", "ok": True, "error": {"code": "x", "message": "y"}}, "k")
    assert parse_response({"id": "c1", "ok": False, "error": {"code": "expired", "message": "late"}},
                          "k").error is not None


def test_reason_categories_carry_no_data() -> None:
    # The text before the first ':' is what dead letters are counted by.
    reasons = []
    for topic in ("hall/v1/dev/Kiosk_01/state", "hall/v1/dev/k-1/firmware", "lobby/lights"):
        with pytest.raises(ContractError) as refused:
            Topics().parse(topic)
        reasons.append(refused.value.reason.split(":", 1)[0])
    assert reasons == ["invalid device id in topic", "unknown channel", "unknown topic"]


def test_encode_is_compact_json() -> None:
    birth = Birth(online=True, session=1, kind="kiosk", ts=T0)
    assert json.loads(encode(birth)) == {"online": True, "session": 1, "kind": "kiosk",
                                          "model": "", "fw": "", "site": "", "ts": T0}
