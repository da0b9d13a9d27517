"""docs/protocol.md must never drift from devices/contract.py.

Every example payload in the document is checked against the contract module:

- a ```json block is labelled with its topic leaf (```json telemetry, ```json cmd/ack, ...) and
  must be accepted by that leaf's parse function;
- every ``mosquitto_pub`` (and every ``mosquitto_sub --will-topic ... --will-payload ...``) in a
  ```sh block is parsed like a shell would split it; its topic and payload go through the same
  steps as in the controller (topic, size, UTF-8 + JSON, message model) and must be accepted;
  it must use QoS 1 and retain exactly on the two state topics;
- a command preceded by a ``# dead letter: <reason>`` comment must instead be refused with a
  reason starting with that text.

Shell expansions inside a payload (``$SESSION``, ``$(date +%s%3N)``, ``$((...))``) stand for a
number, or for a UUID when they sit inside JSON quotes.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devices.contract import (
    DEVICE_ID_PATTERN,
    MAX_STRING_VALUE,
    MAX_TELEMETRY_VALUES,
    Channel,
    ContractError,
    Topics,
    parse_command,
    parse_event,
    parse_request,
    parse_response,
    parse_state,
    parse_telemetry,
)
from devices.json_decoding import decode_json
from devices.kinds import DeviceKind
from hall.config import ControllerConfig
from hall_controller.fleet.requests import RequestRouter
from hall_controller.kernel.mqtt_bus import MqttBus

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
TOPICS = Topics("hall/v1")
MAX_PAYLOAD = ControllerConfig().max_payload_bytes
JSON_BLOCK_DEVICE = "kiosk-01"
CONTROLLER_STATE = "controller/state"
LEAVES = [c.value for c in Channel] + [CONTROLLER_STATE]
RETAINED = {Channel.STATE.value, CONTROLLER_STATE}
SAMPLE_NUMBER = "1795860000000"
SAMPLE_UUID = "0b6f3f8e-8d3c-4b8e-9a51-3c2f1d0e9b7a"
SHELL_LANGS = {"sh", "bash", "shell", "console"}
# mosquitto_pub / mosquitto_sub options that take a value
OPTIONS_WITH_VALUE = {
    "-h", "-p", "-t", "-m", "-f", "-i", "-I", "-u", "-P", "-q", "-V", "-k", "-L", "-A", "-x",
    "-C", "-W", "-T", "-U", "-F", "-D", "--id", "--id-prefix", "--will-topic", "--will-payload",
    "--will-qos", "--cafile", "--capath", "--cert", "--key", "--tls-version", "--proxy",
    "--repeat", "--repeat-delay", "--unix",
}


def _read_doc() -> str:
    return DOC.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Block:
    lang: str
    label: str
    body: str
    line: int


def _blocks(text: str) -> list[Block]:
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        match = re.match(r"^```(\S*)\s*(.*)$", lines[i])
        if match:
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            blocks.append(Block(match[1], match[2].strip(), "\n".join(body), start))
        i += 1
    return blocks


# --- shell parsing -------------------------------------------------------------------------------


def _expansion_end(word: str, start: int) -> int | None:
    """Index just past the shell expansion starting with ``$`` at ``start``, or None."""
    nxt = start + 1
    if nxt >= len(word):
        return None
    if word[nxt] == "(":
        depth = 0
        for j in range(nxt, len(word)):
            depth += {"(": 1, ")": -1}.get(word[j], 0)
            if depth == 0:
                return j + 1
        raise AssertionError(f"unbalanced $( in {word!r}")
    if word[nxt] == "{":
        return word.index("}", nxt) + 1
    match = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").match(word, nxt)
    return match.end() if match else None


def _expand(word: str) -> str:
    """Replace shell expansions by a sample number, or a sample UUID inside JSON quotes."""
    out, i = [], 0
    while i < len(word):
        end = _expansion_end(word, i) if word[i] == "$" else None
        if end is None:
            out.append(word[i])
            i += 1
            continue
        out.append(SAMPLE_UUID if i > 0 and word[i - 1] == '"' else SAMPLE_NUMBER)
        i = end
    return "".join(out)


@dataclass(frozen=True)
class Publish:
    """One message an example command publishes (a pub, or the will of a sub)."""

    line: int
    text: str
    topic: str
    payload: bytes | None  # None: read from stdin or a file, not checkable here
    qos: int
    retain: bool
    host_port: tuple[str | None, str | None]
    dead_letter: str | None


def _split_commands(line: str) -> list[list[str]]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in {"|", "&", ";", "&&", "||"}:
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def _options(words: list[str]) -> tuple[dict[str, list[str]], set[str]]:
    values: dict[str, list[str]] = {}
    flags: set[str] = set()
    i = 1
    while i < len(words):
        word = words[i]
        if word in OPTIONS_WITH_VALUE:
            assert i + 1 < len(words), f"{word} without a value in {' '.join(words)}"
            values.setdefault(word, []).append(words[i + 1])
            i += 2
        else:
            flags.add(word)
            i += 1
    return values, flags


def _publishes(text: str) -> list[Publish]:
    found: list[Publish] = []
    for block in _blocks(text):
        if block.lang not in SHELL_LANGS:
            continue
        logical = re.sub(r"\\\n", " ", block.body).split("\n")
        marker: str | None = None
        for offset, raw in enumerate(logical):
            stripped = raw.strip()
            mark = re.match(r"#\s*dead letter:\s*(.+)$", stripped)
            if mark:
                marker = mark[1].strip()
                continue
            if not stripped or stripped.startswith("#"):
                continue
            for words in _split_commands(raw):
                program = words[0].rsplit("/", 1)[-1]
                if program not in ("mosquitto_pub", "mosquitto_sub"):
                    continue
                values, flags = _options(words)
                host_port = (values.get("-h", [None])[0], values.get("-p", [None])[0])
                if program == "mosquitto_pub":
                    if "-m" in values:
                        payload: bytes | None = _expand(values["-m"][0]).encode()
                    elif "-n" in flags:
                        payload = b""
                    else:
                        payload = None
                    topic, qos, retain = values["-t"][0], values.get("-q", ["0"])[0], "-r" in flags
                elif "--will-topic" in values:
                    payload = _expand(values.get("--will-payload", [""])[0]).encode()
                    topic = values["--will-topic"][0]
                    qos, retain = values.get("--will-qos", ["0"])[0], "--will-retain" in flags
                else:
                    continue
                found.append(Publish(block.line + offset + 1, raw.strip()[:120], _expand(topic),
                                     payload, int(qos), retain, host_port, marker))
            marker = None
    return found


# --- validation as the controller does it ---------------------------------------------------


def _controller_state_shape() -> dict[str, type]:
    """The keys and types of what the controller really publishes on controller/state."""
    bus = MqttBus("mqtt://127.0.0.1:1883", TOPICS, client_id="doc-test")
    sample = json.loads(bus._state_payload(True))  # the shape is the point
    return {key: type(value) for key, value in sample.items()}


def _check_controller_state(obj: Any) -> None:
    shape = _controller_state_shape()
    if not isinstance(obj, dict) or set(obj) != set(shape):
        raise ContractError(f"controller state must have exactly the keys {sorted(shape)}")
    for key, kind in shape.items():
        if type(obj[key]) is not kind:
            raise ContractError(f"controller state: {key} must be {kind.__name__}")


def _validate(leaf: str, obj: Any, device_id: str) -> None:
    if leaf == CONTROLLER_STATE:
        _check_controller_state(obj)
        return
    channel = Channel(leaf)
    if channel is Channel.STATE:
        parse_state(obj, device_id)
    elif channel is Channel.TELEMETRY:
        parse_telemetry(obj, device_id)
    elif channel is Channel.EVENT:
        parse_event(obj, device_id)
    elif channel is Channel.REQ:
        parse_request(obj, device_id)
    elif channel in (Channel.RES, Channel.CMD_ACK):
        parse_response(obj, device_id)
    elif channel is Channel.CMD:
        parse_command(obj)


def _leaf_of(topic: str) -> tuple[str, str]:
    """(leaf, device id) of a topic; raises ContractError like the controller would."""
    if topic == TOPICS.controller_state:
        return CONTROLLER_STATE, ""
    address = TOPICS.parse(topic)
    return address.channel.value, address.device_id


def _accept(topic: str, payload: bytes) -> str:
    leaf, device_id = _leaf_of(topic)
    _validate(leaf, decode_json(payload, MAX_PAYLOAD), device_id)
    return leaf


# --- the tests -------------------------------------------------------------------------------

TEXT = _read_doc()
JSON_BLOCKS = [b for b in _blocks(TEXT) if b.lang == "json"]
PUBLISHES = _publishes(TEXT)


@pytest.mark.parametrize("block", JSON_BLOCKS, ids=lambda b: f"line{b.line}-{b.label}")
def test_json_block_is_accepted_by_the_contract(block: Block) -> None:
    assert block.label in LEAVES, (
        f"docs/protocol.md line {block.line}: label a ```json block with its topic leaf, "
        f"one of {LEAVES}")
    try:
        _validate(block.label, json.loads(block.body), JSON_BLOCK_DEVICE)
    except ContractError as exc:
        pytest.fail(f"docs/protocol.md line {block.line}: {exc.reason}")


@pytest.mark.parametrize("pub", [p for p in PUBLISHES if p.dead_letter is None],
                         ids=lambda p: f"line{p.line}")
def test_example_command_publishes_a_valid_message(pub: Publish) -> None:
    where = f"docs/protocol.md line {pub.line}: {pub.text}"
    assert pub.host_port == ("127.0.0.1", "1883"), f"{where}: use -h 127.0.0.1 -p 1883"
    assert pub.payload is not None, f"{where}: a valid example needs its payload in -m '...'"
    try:
        leaf = _accept(pub.topic, pub.payload)
    except ContractError as exc:
        pytest.fail(f"{where}: {exc.reason}")
    assert pub.qos == 1, f"{where}: every topic of the contract is QoS 1"
    assert pub.retain == (leaf in RETAINED), (
        f"{where}: retain exactly on {sorted(RETAINED)}, not on {leaf}")


# Examples whose payload comes from stdin (not UTF-8, too large) are piped shell, not text this
# test can read; tests/unit/test_contract.py covers those two refusals directly.
@pytest.mark.parametrize("pub", [p for p in PUBLISHES if p.dead_letter is not None and p.payload is not None],
                         ids=lambda p: f"line{p.line}")
def test_dead_letter_example_is_refused_with_its_reason(pub: Publish) -> None:
    where = f"docs/protocol.md line {pub.line}: {pub.text}"
    assert pub.host_port == ("127.0.0.1", "1883"), f"{where}: use -h 127.0.0.1 -p 1883"
    assert pub.payload is not None
    expected = pub.dead_letter or ""
    with pytest.raises(ContractError) as refused:
        _accept(pub.topic, pub.payload)
    assert refused.value.reason.startswith(expected), (
        f"{where}: refused with {refused.value.reason!r}, the doc says {pub.dead_letter!r}")


def test_every_topic_has_a_valid_example() -> None:
    covered = {b.label for b in JSON_BLOCKS}
    for pub in PUBLISHES:
        if pub.dead_letter is None and pub.payload is not None:
            covered.add(_leaf_of(pub.topic)[0])
    assert covered >= set(LEAVES), f"no valid example for {sorted(set(LEAVES) - covered)}"
    assert sum(p.dead_letter is not None for p in PUBLISHES) >= 5


def test_limits_and_names_match_the_code() -> None:
    assert f"`{DEVICE_ID_PATTERN}`" in TEXT
    assert f"**{MAX_TELEMETRY_VALUES}**" in TEXT
    assert f"**{MAX_STRING_VALUE}**" in TEXT
    assert f"**{MAX_PAYLOAD:,}".replace(",", " ") in TEXT  # "**65 536"
    for kind in DeviceKind:
        assert f"`{kind.value}`" in TEXT, f"device kind {kind.value} is not documented"
    for method in RequestRouter().methods:
        assert f"**`{method}`**" in TEXT, f"request method {method} is not documented"


def test_shell_expansions_become_samples() -> None:
    assert _expand('{"id":"$(uuidgen)","ts":$(date +%s%3N),"s":$S,"x":${X}}') == (
        f'{{"id":"{SAMPLE_UUID}","ts":{SAMPLE_NUMBER},"s":{SAMPLE_NUMBER},"x":{SAMPLE_NUMBER}}}')
    assert _expand('"expires_at":$(( $(date +%s%3N) + 30000 ))}') == (
        f'"expires_at":{SAMPLE_NUMBER}}}')
