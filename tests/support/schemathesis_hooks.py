"""schemathesis hooks for the live-API run (tests/integration/test_api_schemathesis.py).

The OpenAPI the hall serves names no links between operations, so schemathesis' stateful
phase could only chain what it infers by itself. The links below describe the hall's real
sequences, and the stateful phase walks them with the ids the API hands back:

- a window: open → call-next → recall / start → complete, transfer, park → resume, no-show,
  close (tickets come from the kiosk and remote-ticket operations earlier in the sequence);
- people: put → get, enrol faces, clear faces, delete; rules, schedules and holidays: create →
  delete; API keys: create → revoke; webhooks: register → switch off/on → deliveries;
- cases: upsert → get and the case's events; remote tickets: take → look; commands: send →
  look.

Loaded by the schemathesis command through ``hooks`` in tests/integration/schemathesis.toml
(the run sets PYTHONPATH to the project, so this module imports as ``tests.support...``).
"""

from __future__ import annotations

from typing import Any

import schemathesis

API = "/api/v1"
WINDOW = f"{API}/windows/{{window_id}}"
PERSON = f"{API}/access/persons/{{person_id}}"

# (source method, source path, source statuses) → [(target method, target path,
# {parameter: runtime expression})]
LINKS: list[tuple[str, str, tuple[str, ...], list[tuple[str, str, dict[str, str]]]]] = [
    ("post", f"{WINDOW}/open", ("200",), [
        ("post", f"{WINDOW}/call-next", {"path.window_id": "$response.body#/window_id"}),
        ("get", WINDOW, {"path.window_id": "$response.body#/window_id"}),
        ("post", f"{WINDOW}/close", {"path.window_id": "$response.body#/window_id"}),
    ]),
    ("post", f"{WINDOW}/call-next", ("200",), [
        ("post", f"{WINDOW}/start", {"path.window_id": "$request.path.window_id"}),
        ("post", f"{WINDOW}/recall", {"path.window_id": "$request.path.window_id"}),
        ("post", f"{WINDOW}/no-show", {"path.window_id": "$request.path.window_id"}),
        ("post", f"{WINDOW}/call-next", {"path.window_id": "$request.path.window_id"}),
    ]),
    ("post", f"{WINDOW}/recall", ("200",), [
        ("post", f"{WINDOW}/start", {"path.window_id": "$request.path.window_id"}),
        ("post", f"{WINDOW}/no-show", {"path.window_id": "$request.path.window_id"}),
    ]),
    ("post", f"{WINDOW}/start", ("200",), [
        ("post", f"{WINDOW}/complete", {"path.window_id": "$request.path.window_id"}),
        ("post", f"{WINDOW}/transfer", {"path.window_id": "$request.path.window_id"}),
        ("post", f"{WINDOW}/park", {"path.window_id": "$request.path.window_id"}),
    ]),
    ("post", f"{WINDOW}/park", ("200",), [
        ("post", f"{WINDOW}/resume", {"path.window_id": "$request.path.window_id"}),
        ("post", f"{WINDOW}/call-next", {"path.window_id": "$request.path.window_id"}),
    ]),
    ("post", f"{WINDOW}/complete", ("200",), [
        ("post", f"{WINDOW}/call-next", {"path.window_id": "$request.path.window_id"}),
        ("post", f"{WINDOW}/close", {"path.window_id": "$request.path.window_id"}),
    ]),
    ("post", f"{WINDOW}/transfer", ("200",), [
        ("post", f"{WINDOW}/call-next", {"path.window_id": "$request.path.window_id"}),
    ]),
    ("put", PERSON, ("200", "201"), [
        ("get", PERSON, {"path.person_id": "$response.body#/person_id"}),
        ("post", f"{PERSON}/faces", {"path.person_id": "$response.body#/person_id"}),
        ("delete", f"{PERSON}/faces", {"path.person_id": "$response.body#/person_id"}),
        ("delete", PERSON, {"path.person_id": "$response.body#/person_id"}),
        ("get", f"{API}/access/audit", {"query.person_id": "$response.body#/person_id"}),
    ]),
    ("post", f"{API}/access/rules", ("201",), [
        ("delete", f"{API}/access/rules/{{rule_id}}", {"path.rule_id": "$response.body#/rule_id"}),
    ]),
    ("put", f"{API}/access/schedules/{{name}}", ("200",), [
        ("delete", f"{API}/access/schedules/{{name}}", {"path.name": "$request.path.name"}),
    ]),
    ("put", f"{API}/access/holidays/{{day}}", ("204",), [
        ("delete", f"{API}/access/holidays/{{day}}", {"path.day": "$request.path.day"}),
    ]),
    ("put", f"{API}/integration/cases/{{case_id}}", ("200", "201"), [
        ("get", f"{API}/integration/cases/{{case_id}}",
         {"path.case_id": "$response.body#/case_id"}),
        ("get", f"{API}/integration/events", {"query.case_id": "$response.body#/case_id"}),
    ]),
    ("post", f"{API}/integration/keys", ("201",), [
        ("delete", f"{API}/integration/keys/{{key_id}}", {"path.key_id": "$response.body#/key_id"}),
    ]),
    ("post", f"{API}/integration/webhooks", ("201",), [
        ("patch", f"{API}/integration/webhooks/{{webhook_id}}",
         {"path.webhook_id": "$response.body#/id"}),
        ("get", f"{API}/integration/webhooks/deliveries", {"query.webhook_id": "$response.body#/id"}),
    ]),
    ("post", f"{API}/remote-tickets", ("201",), [
        ("get", f"{API}/remote-tickets/{{ticket_id}}", {"path.ticket_id": "$response.body#/ticket_id"}),
    ]),
    ("post", f"{API}/devices/{{device_id}}/commands", ("200", "202"), [
        ("get", f"{API}/commands/{{command_id}}", {"path.command_id": "$response.body#/command_id"}),
    ]),
]


def _operation_id(raw_schema: dict[str, Any], method: str, path: str) -> str:
    try:
        return str(raw_schema["paths"][path][method]["operationId"])
    except KeyError:
        raise AssertionError(f"the schema has no {method.upper()} {path}: update the links in "
                             f"{__name__}") from None


@schemathesis.hook
def before_load_schema(context: schemathesis.HookContext, raw_schema: dict[str, Any]) -> None:
    """Add the hall's links to the schema the app serves."""
    for method, path, statuses, targets in LINKS:
        responses = raw_schema["paths"][path][method]["responses"]
        for status in statuses:
            links = responses.setdefault(status, {"description": "see the schema"}) \
                .setdefault("links", {})
            for target_method, target_path, parameters in targets:
                operation_id = _operation_id(raw_schema, target_method, target_path)
                links[operation_id] = {"operationId": operation_id, "parameters": parameters}
