"""The wire contract refuses what a device must not send, and says why."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import pytest

from devices.contract import (
    EARLIEST_MS,
    LATEST_MS,
    Birth,
    Channel,
    ContractError,
    Topics,
    Will,
    encode,
    error_response,
    new_message_id,
    now_ms,
    ok_response,
    parse_command,
    parse_event,
    parse_request,
    parse_response,
    parse_state,
    parse_telemetry,
)
from devices.json_decoding import decode_json

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


# -- the exact bounds and reasons a device (and the dead-letter count) sees ---------------------

def telemetry_reason(payload: object) -> str:
    with pytest.raises(ContractError) as refused:
        parse_telemetry(payload, "k")
    return refused.value.reason


def test_now_ms_is_the_current_time_in_milliseconds() -> None:
    assert abs(now_ms() - time.time() * 1000) < 60_000


def test_message_ids_are_fresh_uuid4s() -> None:
    first, second = new_message_id(), new_message_id()
    assert uuid.UUID(first).version == 4 and first != second


def test_a_topic_for_an_invalid_device_id_names_the_id() -> None:
    with pytest.raises(ContractError, match="invalid device id 'Kiosk 1': expected"):
        Topics().device("Kiosk 1", Channel.STATE)
    with pytest.raises(ContractError, match="unknown topic: 'hall/v1/dev/kiosk-1' has no channel"):
        Topics().parse("hall/v1/dev/kiosk-1")


def test_the_controller_recognises_only_its_own_topics_as_its_output() -> None:
    topics = Topics("site-a/hall/v1")
    ours = [topics.controller_state, topics.device("kiosk-1", Channel.CMD),
            topics.device("kiosk-1", Channel.RES)]
    theirs = [topics.device("kiosk-1", leaf) for leaf in (Channel.STATE, Channel.TELEMETRY,
                                                           Channel.EVENT, Channel.REQ,
                                                           Channel.CMD_ACK)]
    foreign = ["other/hall/v1/dev/kiosk-1/cmd", "other/hall/v1/controller/state",
               "site-a/hall/v1/controller/cmd"]
    assert [topics.is_controller_output(t) for t in ours] == [True] * 3
    assert [topics.is_controller_output(t) for t in theirs + foreign] == [False] * 8


def test_device_times_from_2000_to_3000_are_accepted_inclusive() -> None:
    for ts in (EARLIEST_MS, LATEST_MS):
        assert parse_telemetry({"ts": ts, "values": {"a": 1}}, "k")[0].ts == ts
    assert telemetry_reason({"ts": LATEST_MS + 1, "values": {"a": 1}}) == (
        "invalid telemetry: ts: expected milliseconds since the Unix epoch before 3000-01-01")
    assert telemetry_reason({"ts": EARLIEST_MS - 1, "values": {"a": 1}}).endswith(
        "after 2000-01-01 (this looks like seconds)")


@pytest.mark.parametrize(("ts", "hint"), [
    (900_000_001, " (this looks like seconds)"),  # a clock in seconds (2001-07)
    (900_000_000, ""),
    (0, ""),                                      # an unset clock
])
def test_a_time_in_seconds_gets_a_hint_and_an_unset_clock_does_not(ts: int, hint: str) -> None:
    assert telemetry_reason({"ts": ts, "values": {"a": 1}}) == (
        "invalid telemetry: ts: expected milliseconds since the Unix epoch after 2000-01-01" + hint)


def test_integers_are_accepted_exactly_within_64_bits() -> None:
    for value in (-(2**63), -1000, 2**63 - 1):
        assert parse_telemetry({"ts": T0, "values": {"n": value}}, "k")[0].values["n"] == value
    for value in (-(2**63) - 1, 2**63):
        assert telemetry_reason({"ts": T0, "values": {"n": value}}) == (
            "invalid telemetry: values: n: integer out of the 64-bit range")


def test_a_number_too_large_for_a_float_decodes_but_is_refused_as_telemetry() -> None:
    sample = decode_json(b'{"ts": 1700000000000, "values": {"a": 1e999}}', 65_536)
    assert telemetry_reason(sample) == "invalid telemetry: values: a: expected a finite number"


def test_strings_are_accepted_up_to_1024_characters() -> None:
    assert parse_telemetry({"ts": T0, "values": {"s": "x" * 1024}}, "k")
    assert telemetry_reason({"ts": T0, "values": {"s": "x" * 1025}}) == (
        "invalid telemetry: values: s: string longer than 1024 characters")


def test_telemetry_takes_up_to_1000_samples_in_one_message() -> None:
    batch = [{"ts": T0 + i, "values": {"a": i}} for i in range(1000)]
    assert len(parse_telemetry(batch, "k")) == 1000
    assert telemetry_reason([*batch, {"ts": T0, "values": {"a": 0}}]) == (
        "invalid telemetry: 1001 samples in one message > 1000")


def test_telemetry_reasons_point_at_the_sample_only_in_a_list() -> None:
    assert telemetry_reason({"ts": T0, "values": {}}) == (
        "invalid telemetry: values: Dictionary should have at least 1 item after validation, not 0")
    assert telemetry_reason([{"ts": T0, "values": {"a": 1}}, {"ts": T0, "values": {}}]).startswith(
        "invalid telemetry: [1] values: ")
    assert telemetry_reason([]) == "invalid telemetry: empty list"
    assert telemetry_reason("a string") == "invalid telemetry: must be a JSON object, got str"


def test_a_reason_counts_the_other_problems() -> None:
    assert telemetry_reason({"ts": T0, "values": {"a": 1}, "x": 1}).endswith("Extra inputs are not permitted")
    assert telemetry_reason({"ts": T0 // 1000, "values": {}}).endswith(" (+1 more)")
    assert telemetry_reason({"ts": "x", "values": {}, "x": 1}).endswith(" (+2 more)")


@pytest.mark.parametrize(("parse", "payload", "reason"), [
    (lambda o: parse_state(o, "k"), {"online": True, "session": 1, "kind": "kiosk"},
     "invalid birth: ts: Field required"),
    (lambda o: parse_state(o, "k"), {"online": False, "session": -1},
     "invalid will: session: Input should be greater than or equal to 0"),
    (lambda o: parse_state(o, "k"), {"online": "yes"}, "invalid state: online must be true or false"),
    (lambda o: parse_state(o, "k"), [1], "invalid state: must be a JSON object, got list"),
    (lambda o: parse_event(o, "k"), {"id": str(uuid.uuid4()), "ts": T0},
     "invalid event: type: Field required"),
    (lambda o: parse_request(o, "k"), {"id": "r1"}, "invalid request: method: Field required"),
    (lambda o: parse_response(o, "k"), {"id": "c1", "ok": False},
     "invalid response: (root): ok is false but no error says why"),
    (lambda o: parse_response(o, "k"), {"id": "c1", "ok": False, "error": {"code": "x" * 65, "message": ""}},
     "invalid response: error.code: String should have at most 64 characters"),
    (parse_command, {"id": "c1", "method": "door.unlock"}, "invalid command: expires_at: Field required"),
])
def test_each_channel_refuses_with_its_own_category_and_field(
        parse: Callable[[object], object], payload: object, reason: str) -> None:
    with pytest.raises(ContractError) as refused:
        parse(payload)
    assert refused.value.reason == reason


def test_every_channel_accepts_a_payload_naming_its_own_device() -> None:
    me = {"device_id": "lock-1"}
    assert parse_state({**me, "online": True, "session": 1, "kind": "door_lock", "ts": T0}, "lock-1")
    assert parse_event({**me, "id": str(uuid.uuid4()), "ts": T0, "type": "door.opened"}, "lock-1")
    assert parse_request({**me, "id": "r1", "method": "access.sync"}, "lock-1").method == "access.sync"
    assert parse_response({**me, "id": "c1", "ok": True}, "lock-1").ok is True
    command = parse_command({"id": "c1", "method": "door.unlock", "expires_at": T0})
    assert (command.method, command.expires_at) == ("door.unlock", T0)


def test_decoding_takes_a_payload_of_exactly_the_size_limit() -> None:
    payload = b'{"a": "' + b"x" * 100 + b'"}'
    assert decode_json(payload, len(payload)) == {"a": "x" * 100}
    with pytest.raises(ContractError, match="too_large: 109 bytes > 108"):
        decode_json(payload, len(payload) - 1)


def test_nesting_is_refused_just_past_the_limit_for_objects_as_for_arrays() -> None:
    with pytest.raises(ContractError, match="too_deep: nested 33 levels, more than 32"):
        decode_json(b'{"a":' * 33 + b"1" + b"}" * 33, 65_536)
    # 32 levels with a sibling, so that the text holds more brackets than the limit.
    nested = b"[" * 32 + b"]" * 31 + b",[]]"
    assert decode_json(nested, 65_536)[1] == []


def test_a_duplicate_key_is_named_even_when_it_is_not_the_first_key() -> None:
    with pytest.raises(ContractError) as refused:
        decode_json(b'{"id": 1, "ts": 1, "ts": 2}', 65_536)
    assert refused.value.reason == "duplicate_key: 'ts' appears more than once in an object"
    key = "k" * 100
    with pytest.raises(ContractError) as refused:
        decode_json(json.dumps({key: 1}).encode()[:-1] + f', "{key}": 2}}'.encode(), 65_536)
    assert refused.value.reason == f"duplicate_key: {'k' * 64!r} appears more than once in an object"


def test_a_number_beyond_pythons_digit_limit_is_refused_as_invalid_json() -> None:
    with pytest.raises(ContractError) as refused:
        decode_json(b'{"a": ' + b"9" * 5000 + b"}", 65_536)
    assert refused.value.reason.startswith("invalid_json: Exceeds the limit (4300 digits)")


def test_encode_leaves_out_unset_fields_and_keeps_text_readable() -> None:
    assert encode(Will(online=False, session=2)) == b'{"online":false,"session":2}'
    assert encode({"number": "A001", "window": "三号", "ids": [1, 2]}) == (
        '{"number":"A001","window":"三号","ids":[1,2]}'.encode())


def test_ok_response_always_carries_a_result() -> None:
    assert encode(ok_response("r1")) == b'{"id":"r1","ok":true,"result":{}}'
    assert ok_response("r1", {"ticket": "A001"}).result == {"ticket": "A001"}
    refused = error_response("r1", "busy", "printer jammed")
    assert encode(refused) == b'{"id":"r1","ok":false,"error":{"code":"busy","message":"printer jammed"}}'
