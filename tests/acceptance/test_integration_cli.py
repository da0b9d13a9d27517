"""``hall controller`` serves the online platform's integration: API keys, case upsert, the
event feed and signed webhooks, all wired by the composition root (run as a subprocess)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from hall_controller.cases.webhooks import verify
from tests.acceptance.test_cli import Running, _mosquitto_pub, start_hall, stop, wait_until
from tests.support.shell_mqtt import ShellSubscriber

__all__ = ["start_hall"]  # a fixture, imported to be found


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append(({k: v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook_receiver(tmp_path: Path) -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A receiver on 127.0.0.1, and the config.toml (in the folder ``start_hall`` runs hall in)
    that names it in the webhook allow-list, as a deployment with a local receiver would."""
    (tmp_path / "config.toml").write_text('[integration]\nwebhook_allow = ["127.0.0.1/32"]\n',
                                          encoding="utf-8")
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Handler", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks", received
    finally:
        server.shutdown()
        server.server_close()


def test_the_platform_upserts_a_case_and_sees_it_in_the_feed_and_by_webhook(
        start_hall: Callable[..., Running], broker_url: str, topic_prefix: str,
        database_url: str,
        webhook_receiver: tuple[str, list[tuple[dict[str, str], bytes]]]) -> None:
    hook_url, received = webhook_receiver
    hall = start_hall("controller", env={
        "HALL_MQTT_URL": broker_url, "HALL_DATABASE_URL": database_url,
        "HALL_MQTT_TOPIC_PREFIX": topic_prefix,
        "HALL_MQTT_CLIENT_ID": f"acc-{uuid.uuid4().hex[:8]}"})
    wait_until(lambda: httpx.get(f"{hall.base}/health").status_code == 200, 20, "healthy", hall)
    admin = {"Authorization": f"Bearer {hall.token()}"}

    created = httpx.post(f"{hall.base}/integration/keys", headers=admin, json={
        "name": "online-platform", "scopes": ["cases:read", "cases:write", "events:read"]})
    assert created.status_code == 201, created.text
    platform = {"X-Api-Key": created.json()["api_key"]}
    secret = "whsec-acceptance-0123456789abcdefghijklmnop"
    hook = httpx.post(f"{hall.base}/integration/webhooks", headers=admin,
                      json={"url": hook_url, "secret": secret})
    assert hook.status_code == 201, hook.text
    # The allow-list names 127.0.0.1 only: the metadata service stays out of reach.
    metadata = httpx.post(f"{hall.base}/integration/webhooks", headers=admin,
                          json={"url": "http://169.254.169.254/latest/meta-data/"})
    assert metadata.status_code == 422, metadata.text
    assert "(metadata)" in metadata.text

    case = {"service_code": "student-id", "status": "awaiting_visit",
            "applicant": {"person_id": "p-2023001", "name": "李华"},
            "materials": [{"code": "photo", "name": "一寸照片"}]}
    upserted = httpx.put(f"{hall.base}/integration/cases/C-1001", headers=platform, json=case)
    assert upserted.status_code == 201, upserted.text

    back = httpx.get(f"{hall.base}/integration/cases/C-1001", headers=platform)
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "awaiting_visit"
    assert back.json()["applicant"]["person_id"] == "p-2023001"

    feed = httpx.get(f"{hall.base}/integration/events", headers=platform, params={"after": 0})
    assert feed.status_code == 200, feed.text
    events = feed.json()["events"]
    assert [e["case_id"] for e in events] == ["C-1001"]
    assert events[0]["type"] == "case.created"
    assert feed.json()["next_cursor"] == events[0]["id"]

    # The dispatcher is running inside the controller: the event arrives, signed.
    wait_until(lambda: len(received) >= 1, 10, "the webhook delivery", hall)
    headers, body = received[0]
    assert verify(secret, body, headers["X-Hall-Signature"], headers["X-Hall-Timestamp"])
    assert json.loads(body)["case_id"] == "C-1001"

    started = time.monotonic()
    assert stop(hall) == 0, hall.output()[-2000:]
    assert time.monotonic() - started < 10, "the controller took long to stop"
    assert "Traceback" not in hall.output()


def test_one_trip_a_case_is_linked_at_the_kiosk_and_resolved_at_the_window(
        start_hall: Callable[..., Running], broker_url: str, topic_prefix: str,
        database_url: str,
        webhook_receiver: tuple[str, list[tuple[dict[str, str], bytes]]]) -> None:
    """只跑一次 end to end: the platform files a case, the visitor takes a ticket at a kiosk with
    their person id, a clerk serves it, and the case is resolved after exactly one visit."""
    hook_url, received = webhook_receiver
    hall = start_hall("controller", env={
        "HALL_MQTT_URL": broker_url, "HALL_DATABASE_URL": database_url,
        "HALL_MQTT_TOPIC_PREFIX": topic_prefix,
        "HALL_MQTT_CLIENT_ID": f"acc-{uuid.uuid4().hex[:8]}"})
    wait_until(lambda: httpx.get(f"{hall.base}/health").status_code == 200, 20, "healthy", hall)
    admin = {"Authorization": f"Bearer {hall.token()}"}
    key = httpx.post(f"{hall.base}/integration/keys", headers=admin, json={
        "name": "platform", "scopes": ["cases:read", "cases:write", "events:read"]}).json()
    platform = {"X-Api-Key": key["api_key"]}
    secret = "whsec-one-trip-0123456789abcdefghijklmnopq"
    assert httpx.post(f"{hall.base}/integration/webhooks", headers=admin,
                      json={"url": hook_url, "secret": secret}).status_code == 201
    assert httpx.put(f"{hall.base}/integration/cases/C-2001", headers=platform, json={
        "service_code": "student-id", "status": "awaiting_visit",
        "applicant": {"person_id": "p-2023002", "name": "王芳"},
        "materials": [{"code": "photo", "name": "一寸照片"}]}).status_code == 201

    # The visitor at a kiosk, which is a few MQTT messages.
    _mosquitto_pub(broker_url, "-r", "-t", f"{topic_prefix}/dev/kiosk-88/state", "-m", json.dumps(
        {"online": True, "session": 1, "kind": "kiosk", "site": "main-hall",
         "ts": int(time.time() * 1000)}))
    with ShellSubscriber(broker_url, f"{topic_prefix}/dev/kiosk-88/res") as kiosk:
        _mosquitto_pub(broker_url, "-t", f"{topic_prefix}/dev/kiosk-88/req", "-m", json.dumps(
            {"id": "t-1", "method": "ticket.take", "params": {
                "service": "student-id", "identity": {"type": "person_id", "value": "p-2023002"}}}))
        reply = json.loads(kiosk.next_payload())
    assert reply["ok"] is True, reply
    assert [c["case_id"] for c in reply["result"]["cases"]] == ["C-2001"]

    # The clerk at window 1 serves it and resolves the case.
    assert httpx.post(f"{hall.base}/windows/w1/open", headers=admin).status_code == 200
    called = httpx.post(f"{hall.base}/windows/w1/call-next", headers=admin).json()["called"]
    assert called["number"] == reply["result"]["ticket"] and called["case_ids"] == ["C-2001"]
    window = httpx.get(f"{hall.base}/windows/w1", headers=admin).json()
    [linked] = window["current_cases"]
    assert linked["case_id"] == "C-2001" and linked["applicant_name"] == "王芳"
    assert linked["materials"] == [{"code": "photo", "name": "一寸照片", "received": False}]
    assert httpx.post(f"{hall.base}/windows/w1/start", headers=admin).status_code == 200
    done = httpx.post(f"{hall.base}/windows/w1/complete", headers=admin,
                      json={"outcome": "resolved"})
    assert done.status_code == 200, done.text

    case = httpx.get(f"{hall.base}/integration/cases/C-2001", headers=platform).json()
    assert case["status"] == "resolved"
    types = [e["type"] for e in httpx.get(f"{hall.base}/integration/events", headers=platform,
                                          params={"after": 0}).json()["events"]]
    assert types == ["case.created", "case.ticket_linked", "case.visit_recorded",
                     "case.materials_updated", "case.status_changed", "case.ticket_completed"]
    trip = httpx.get(f"{hall.base}/integration/stats/one-trip", headers=platform).json()
    assert trip["rate"] == 1.0, trip

    # The platform hears the resolution by webhook, signed.
    def completion_heard() -> bool:
        return any(json.loads(body).get("type") == "case.ticket_completed" for _, body in received)

    wait_until(completion_heard, 15, "the completion webhook", hall)
    for headers, body in received:
        assert verify(secret, body, headers["X-Hall-Signature"], headers["X-Hall-Timestamp"])
    assert stop(hall) == 0
