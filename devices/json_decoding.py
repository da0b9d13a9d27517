"""Decoding one inbound MQTT payload into JSON values, refusing with a named reason.

The wire contract (``devices/contract.py``) validates what this returns; this module is the
step before it, the only way any component (agent or controller) turns bytes into JSON.
"""

from __future__ import annotations

import json
from typing import Any

from devices.contract import ContractError

MAX_NESTING_DEPTH = 32
"""Deepest nesting of arrays and objects a payload may have. Real messages nest three or four
levels; Python's decoder raises RecursionError (not ValueError) near 1,000, which used to escape
as a crash, and anything deeper than this is an attack or a bug."""


def decode_json(payload: bytes, max_bytes: int, *, max_depth: int = MAX_NESTING_DEPTH) -> Any:
    """Decode one inbound MQTT payload: the only way any component reads a payload.

    Refuses, each with a named reason (the text before the first ``:``), and never with any
    other exception: ``too_large`` (checked before anything is parsed), ``invalid_utf8``,
    ``invalid_json``, ``non_finite_number`` (NaN and Infinity are not JSON, nor storable in jsonb),
    ``duplicate_key`` (two readers would disagree on which value counts), ``too_deep``
    (nesting beyond ``max_depth``) and ``invalid_unicode`` (an escaped lone surrogate, which
    cannot be stored or sent on as UTF-8).
    """
    if len(payload) > max_bytes:
        raise ContractError(f"too_large: {len(payload)} bytes > {max_bytes}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(f"invalid_utf8: {exc.reason} at byte {exc.start}") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except _Refused as exc:
        raise ContractError(exc.reason) from None
    except RecursionError:
        raise ContractError(f"too_deep: nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise ContractError(f"invalid_json: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        # Not a JSONDecodeError: an integer of more than 4,300 digits (Python's own limit).
        raise ContractError(f"invalid_json: {str(exc)[:200]}") from None
    # Both walks below only run when the text could hold what they look for, so an ordinary
    # message (a handful of brackets, no escapes) pays two str.count calls and nothing more.
    if text.count("[") + text.count("{") > max_depth:
        depth = _nesting_depth(value)
        if depth > max_depth:
            raise ContractError(f"too_deep: nested {depth} levels, more than {max_depth}")
    if "\\u" in text and _has_lone_surrogate(value):
        raise ContractError("invalid_unicode: a \\u escape encodes a lone surrogate (not a character)")
    return value


class _Refused(Exception):
    """Raised from inside the decoder's hooks; becomes a ContractError with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _refuse_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (and PostgreSQL's jsonb) do not.
    raise _Refused(f"non_finite_number: {name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate_key: {key[:64]!r} appears more than once in an object")
            seen.add(key)
    return obj


def _nesting_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a decoded value (iterative: no recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _has_lone_surrogate(value: Any) -> bool:
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")  # strict: refuses exactly the surrogates
            except UnicodeEncodeError:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
