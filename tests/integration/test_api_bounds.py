"""Every paging, cursor, id and time parameter of the HTTP API is bounded: out of range is a 422
that names the parameter, never a 500 from the database (``bigint out of range``); the largest
allowed value works. Text the database cannot hold (NUL) is a 422 naming the parameter too.

Run against a live ``hall controller`` (every route mounted) on the real PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.live_api import ADMIN_PASSWORD, LiveApi, live_api

__all__ = ["live_api"]  # a fixture, imported to be found

BIGINT_MAX = 2**63 - 1           # PostgreSQL bigint: every id and cursor column
MAX_MS = 253_402_300_799_999     # 9999-12-31T23:59:59.999Z
MAX_OFFSET = 1_000_000
MAX_BUCKET_S = 366 * 24 * 3600
HUGE = 4716786125012653934936850432  # the value of the original report

CASE = {"service_code": "student-id", "status": "awaiting_visit",
        "applicant": {"person_id": "p-1"}}

# (method, path, query, json body, where the 422 points)
OUT_OF_RANGE: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None,
                         tuple[str, ...]]] = [
    ("GET", "/access/persons", {"offset": HUGE}, None, ("query", "offset")),
    ("GET", "/access/persons", {"offset": MAX_OFFSET + 1}, None, ("query", "offset")),
    ("GET", "/access/persons", {"offset": -1}, None, ("query", "offset")),
    ("GET", "/access/persons", {"limit": 1001}, None, ("query", "limit")),
    ("GET", "/access/audit", {"before_id": BIGINT_MAX + 1}, None, ("query", "before_id")),
    ("GET", "/access/audit", {"before_id": 0}, None, ("query", "before_id")),
    ("GET", "/access/audit", {"limit": 0}, None, ("query", "limit")),
    ("GET", "/alarms", {"limit": 1001}, None, ("query", "limit")),
    ("GET", f"/alarms/{BIGINT_MAX + 1}", None, None, ("path", "alarm_id")),
    ("GET", "/alarms/0", None, None, ("path", "alarm_id")),
    ("POST", f"/alarms/{HUGE}/ack", None, None, ("path", "alarm_id")),
    ("POST", "/alarms/-1/clear", None, None, ("path", "alarm_id")),
    ("GET", "/dead-letters", {"limit": 1001}, None, ("query", "limit")),
    ("GET", "/devices/lock-1/events", {"before_ms": MAX_MS + 1}, None, ("query", "before_ms")),
    ("GET", "/devices/lock-1/events", {"limit": 1001}, None, ("query", "limit")),
    ("GET", "/devices/lock-1/commands", {"limit": 1001}, None, ("query", "limit")),
    ("GET", "/devices/lock-1/telemetry", {"metric": "t", "from_ms": MAX_MS + 1}, None,
     ("query", "from_ms")),
    ("GET", "/devices/lock-1/telemetry", {"metric": "t", "to_ms": HUGE}, None,
     ("query", "to_ms")),
    ("GET", "/devices/lock-1/telemetry", {"metric": "t", "bucket_s": MAX_BUCKET_S + 1}, None,
     ("query", "bucket_s")),
    ("GET", "/integration/events", {"after": BIGINT_MAX + 1}, None, ("query", "after")),
    ("GET", "/integration/events", {"limit": 1001}, None, ("query", "limit")),
    ("GET", "/integration/cases", {"limit": 1001}, None, ("query", "limit")),
    ("GET", "/integration/stats/one-trip", {"from": HUGE}, None, ("query", "from")),
    ("GET", "/integration/stats/one-trip", {"to": MAX_MS + 1}, None, ("query", "to")),
    ("GET", "/integration/webhooks/deliveries", {"webhook_id": HUGE}, None,
     ("query", "webhook_id")),
    ("GET", "/integration/webhooks/deliveries", {"event_id": BIGINT_MAX + 1}, None,
     ("query", "event_id")),
    ("GET", "/integration/webhooks/deliveries", {"webhook_id": 0}, None,
     ("query", "webhook_id")),
    ("GET", f"/integration/webhooks/deliveries/{BIGINT_MAX + 1}", None, None,
     ("path", "delivery_id")),
    ("POST", f"/integration/webhooks/deliveries/{HUGE}/redeliver", None, None,
     ("path", "delivery_id")),
    ("PATCH", f"/integration/webhooks/{HUGE}", None, {"active": True}, ("path", "webhook_id")),
    ("DELETE", f"/access/rules/{BIGINT_MAX + 1}", None, None, ("path", "rule_id")),
    # Text ids and id filters are bounded too (an over-long one can never exist).
    ("GET", f"/integration/cases/{'c' * 129}", None, None, ("path", "case_id")),
    ("DELETE", f"/integration/keys/{'k' * 65}", None, None, ("path", "key_id")),
    ("GET", f"/access/persons/{'p' * 65}", None, None, ("path", "person_id")),
    ("GET", "/alarms", {"device_id": "d" * 64}, None, ("query", "device_id")),
    ("GET", "/dead-letters", {"device_id": "d" * 64}, None, ("query", "device_id")),
    ("GET", "/integration/events", {"case_id": "c" * 129}, None, ("query", "case_id")),
    ("GET", "/integration/cases", {"person_id": "p" * 65}, None, ("query", "person_id")),
    ("PUT", "/access/persons/p-1", None,
     {"name": "Li", "role": "visitor", "valid_until_ms": BIGINT_MAX},
     ("body", "valid_until_ms")),
    ("PUT", "/access/persons/p-1", None,
     {"name": "Li", "role": "student", "valid_from_ms": MAX_MS + 1},
     ("body", "valid_from_ms")),
    ("PUT", "/integration/cases/C-1", None, {**CASE, "appointment": {"at_ms": HUGE}},
     ("body", "appointment", "at_ms")),
    ("POST", "/remote-tickets", None,
     {"service": "student-id", "person_id": "p-1", "arrive_by_ms": HUGE},
     ("body", "arrive_by_ms")),
]


def _id(case: tuple[str, str, dict[str, Any] | None, dict[str, Any] | None,
                    tuple[str, ...]]) -> str:
    method, path, _, _, loc = case
    return f"{method} {path.split('?')[0][:40]} {'.'.join(loc)}"


def assert_422_naming(live_api: LiveApi, case: tuple[str, str, dict[str, Any] | None,
                                                     dict[str, Any] | None, tuple[str, ...]]) -> None:
    method, path, query, body, loc = case
    response = live_api.request(method, path, params=query, json=body)
    assert response.status_code == 422, f"{response.status_code} {response.text}\n" \
                                        + live_api.log_tail()
    assert loc in [tuple(error["loc"]) for error in response.json()["detail"]], response.text


@pytest.mark.parametrize("case", OUT_OF_RANGE, ids=[_id(c) for c in OUT_OF_RANGE])
def test_out_of_range_is_a_422_naming_the_parameter(
        live_api: LiveApi, case: tuple[str, str, dict[str, Any] | None, dict[str, Any] | None,
                                       tuple[str, ...]]) -> None:
    assert_422_naming(live_api, case)


# The largest allowed values work: (method, path, query, json body, expected status)
AT_THE_BOUND: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None, int]] = [
    ("GET", "/access/persons", {"offset": MAX_OFFSET, "limit": 1000}, None, 200),
    ("GET", "/access/audit", {"before_id": BIGINT_MAX, "limit": 1000}, None, 200),
    ("GET", f"/alarms/{BIGINT_MAX}", None, None, 404),
    ("POST", f"/alarms/{BIGINT_MAX}/ack", None, None, 404),
    ("GET", "/integration/events", {"after": BIGINT_MAX}, None, 200),
    ("GET", "/integration/stats/one-trip", {"from": 0, "to": MAX_MS}, None, 200),
    ("GET", "/integration/webhooks/deliveries",
     {"webhook_id": BIGINT_MAX, "event_id": BIGINT_MAX}, None, 200),
    ("GET", f"/integration/webhooks/deliveries/{BIGINT_MAX}", None, None, 404),
    ("PATCH", f"/integration/webhooks/{BIGINT_MAX}", None, {"active": False}, 404),
    ("DELETE", f"/access/rules/{BIGINT_MAX}", None, None, 404),
    ("GET", "/devices/lock-1/telemetry",
     {"metric": "t", "from_ms": 0, "to_ms": MAX_MS, "bucket_s": MAX_BUCKET_S}, None, 404),
    ("PUT", "/access/persons/p-max", None,
     {"name": "Li", "role": "visitor", "valid_from_ms": 0, "valid_until_ms": MAX_MS}, 201),
    ("PUT", "/integration/cases/C-max", None,
     {**CASE, "appointment": {"at_ms": MAX_MS, "window_start_ms": 0,
                              "window_end_ms": MAX_MS}}, 201),
]


@pytest.mark.parametrize("case", AT_THE_BOUND,
                         ids=[f"{c[0]} {c[1][:40]} {c[2] or ''}" for c in AT_THE_BOUND])
def test_the_largest_allowed_values_work(
        live_api: LiveApi,
        case: tuple[str, str, dict[str, Any] | None, dict[str, Any] | None, int]) -> None:
    method, path, query, body, expected = case
    response = live_api.request(method, path, params=query, json=body)
    assert response.status_code == expected, f"{response.status_code} {response.text}\n" \
                                              + live_api.log_tail()


NUL = "a\x00b"
# Text parameters PostgreSQL cannot store or compare: (method, path, query, body, loc)
WITH_NUL: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None,
                     tuple[str, ...]]] = [
    ("GET", "/alarms", {"device_id": NUL}, None, ("query", "device_id")),
    ("GET", "/dead-letters", {"device_id": NUL}, None, ("query", "device_id")),
    ("GET", "/devices", {"site": NUL}, None, ("query", "site")),
    ("GET", "/integration/cases", {"person_id": NUL}, None, ("query", "person_id")),
    ("GET", "/integration/cases", {"campus_card": NUL}, None, ("query", "campus_card")),
    ("GET", "/integration/cases", {"service_code": NUL}, None, ("query", "service_code")),
    ("GET", "/integration/events", {"case_id": NUL}, None, ("query", "case_id")),
    ("GET", "/access/persons", {"group": NUL}, None, ("query", "group")),
    ("GET", "/access/persons", {"role": NUL}, None, ("query", "role")),
    ("GET", "/access/audit", {"device_id": NUL}, None, ("query", "device_id")),
    ("GET", "/access/audit", {"person_id": NUL}, None, ("query", "person_id")),
    ("GET", "/access/persons/a%00b", None, None, ("path", "person_id")),
    ("DELETE", "/access/persons/a%00b", None, None, ("path", "person_id")),
    ("DELETE", "/access/persons/a%00b/faces", None, None, ("path", "person_id")),
    ("DELETE", "/access/schedules/a%00b", None, None, ("path", "name")),
    ("GET", "/integration/cases/a%00b", None, None, ("path", "case_id")),
    ("DELETE", "/integration/keys/a%00b", None, None, ("path", "key_id")),
    ("GET", "/commands/a%00b", None, None, ("path", "command_id")),
    ("PUT", "/access/persons/p-2", None, {"name": NUL, "role": "student"}, ("body", "name")),
    ("POST", "/access/rules", None, {"group": "g", "target": "lock-*", "schedule": NUL},
     ("body", "schedule")),
    ("PUT", "/access/holidays/2026-10-01", None, {"name": NUL}, ("body", "name")),
    ("POST", "/access/doors/lock-1/unlock", None, {"reason": NUL}, ("body", "reason")),
    ("POST", "/windows/w1/call", None, {"ticket_id": NUL}, ("body", "ticket_id")),
]


@pytest.mark.parametrize("case", WITH_NUL, ids=[_id(c) for c in WITH_NUL])
def test_text_with_nul_is_a_422_naming_the_parameter(
        live_api: LiveApi, case: tuple[str, str, dict[str, Any] | None, dict[str, Any] | None,
                                       tuple[str, ...]]) -> None:
    assert_422_naming(live_api, case)


def test_a_login_with_nul_in_the_username_is_refused_like_a_wrong_password(
        live_api: LiveApi) -> None:
    response = httpx.post(f"{live_api.api}/auth/token", timeout=30,
                          data={"username": "admin\x00", "password": ADMIN_PASSWORD})
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": "incorrect username or password",
                               "code": "auth.invalid_credentials", "params": {}}

