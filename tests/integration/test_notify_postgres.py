"""Alarm notification end to end: a simulated lock in a real edge agent reports a forced door
over the real broker; the controller (real PostgreSQL) raises the alarm; the on-call person's
mail arrives at a real SMTP server and their WeCom message at the test API; unacknowledged, it
escalates to the supervisor after T; the link in the mail acknowledges it (through the HTTP
API) and escalation stops; inside a maintenance window nobody is told and the alarm is marked.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from devices.contract import now_ms
from devices.kinds import DeviceKind
from hall_controller.fleet.model import AlarmStatus, Role
from hall_controller.notify.directory import NotifyDirectory
from hall_controller.notify.model import HistoryKind, TrackStatus
from hall_controller.notify.service import NotificationService
from hall_controller.users.service import ensure_user
from tests.integration.test_door_agent import QuietDoorLock
from tests.integration.test_edge_agent import device_id, running, settings_for
from tests.support.api_app import api_app
from tests.support.controller import eventually
from tests.support.hall_store import PostgresHallStore
from tests.support.notify_hall import NotifyHall, notify_hall
from tests.unit.api_support import FAST_HASHER

pytestmark = pytest.mark.integration
__all__ = ["device_id"]  # a fixture, imported for pytest

LINK = re.compile(r"https://hall\.example\.edu/pages/alarm-ack\.html#(\S+)")


def force_door(lock: QuietDoorLock) -> None:
    """Someone pushes the door open while the relay holds it: ``door.forced``."""
    lock._record(lock.door.contact(True, lock.clock_s))


async def forced_alarm(hall: NotifyHall, device: str, after_id: int = 0) -> Any:
    async def found() -> Any:
        alarms = await hall.controller.store.list_alarms(device_id=device)
        return next((a for a in alarms if a.type == "door.forced" and a.id > after_id), None)
    return await eventually(found, what=f"door.forced alarm on {device}")


async def test_forced_door_mail_escalation_ack_link_and_maintenance(
        broker_url: str, topic_prefix: str, device_id: str, tmp_path: Path,
        hall_store: PostgresHallStore) -> None:
    settings = dataclasses.replace(settings_for(broker_url, topic_prefix, device_id, tmp_path),
                                   kind=DeviceKind.DOOR_LOCK, site="dorm-north")
    lock = QuietDoorLock(device_id, tick_s=0.05)
    async with notify_hall(broker_url, topic_prefix, hall_store,
                           escalation_s=(1.5, 4.0)) as hall, running(settings, lock):
        app = api_app(hall_store, hall.notifier,
                      hall.controller.services.get(NotifyDirectory))
        await ensure_user(hall_store, "fac1", "fac-pass-1", Role.FACILITIES, hasher=FAST_HASHER)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://hall/api/v1", timeout=30) as api:
            token = (await api.post("/auth/token", data={
                "username": "fac1", "password": "fac-pass-1"})).json()["access_token"]
            staff = {"Authorization": f"Bearer {token}"}

            # 1. The forced door reaches the on-call person by mail and by WeCom.
            await eventually(lambda: hall.controller.registry.get(device_id) is not None,
                             what="the lock registered")
            force_door(lock)
            alarm = await forced_alarm(hall, device_id)
            mails = await eventually(lambda: hall.mail.to(hall.on_call.email), 15,
                                     what="the on-call mail")
            first = mails[0].message
            assert first["Subject"] == f"[严重] 门被强行打开 — {device_id}"
            body = first.get_content()
            assert "dorm-north" in body
            await eventually(lambda: any(m["touser"] == hall.on_call.wecom_user
                                         for m in hall.apis.wecom), what="the WeCom message")

            # 2. Unacknowledged: after 1.5 s it goes to the supervisor, not yet the manager.
            escalated = await eventually(lambda: hall.mail.to(hall.supervisor.email), 15,
                                         what="the supervisor's mail")
            assert escalated[0].message["Subject"].startswith("【升级】")
            assert escalated[0].at - mails[0].at >= 1.0
            assert hall.mail.to(hall.manager.email) == []

            # 3. The link in the on-call mail: the page's preview, then the acknowledgement.
            link = LINK.search(body)
            assert link is not None
            preview = await api.post("/notify/ack/preview", json={"token": link.group(1)})
            assert preview.status_code == 200 and preview.json()["alarm_id"] == alarm.id
            assert preview.json()["acknowledged"] is False
            forged = link.group(1)[:-2] + ("AA" if not link.group(1).endswith("AA") else "BB")
            refused = await api.post("/notify/ack", json={"token": forged})
            assert refused.status_code == 422 and refused.json()["params"]["reason"] == "invalid_link"
            acked = await api.post("/notify/ack", json={"token": link.group(1)})
            assert acked.status_code == 200 and acked.json()["acknowledged"] is True
            assert acked.json()["acked_by"] == "link:值班员"

            async def stopped() -> bool:
                track = await hall.notifier.track(alarm.id)
                return track is not None and track.status is TrackStatus.DONE
            await eventually(stopped, what="escalation stopped")
            track = await hall.notifier.track(alarm.id)
            assert track is not None and track.next_step_ms is None and track.level == 1
            assert hall.mail.to(hall.manager.email) == []

            history = (await api.get(f"/notify/alarms/{alarm.id}", headers=staff)).json()
            kinds = [step["kind"] for step in history["history"]]
            assert kinds[:2] == ["notified", "notified"] and "escalated" in kinds
            assert kinds[-1] == "stopped"
            assert history["history"][-1]["details"]["reason"] == "acknowledged"
            assert {d["status"] for d in history["deliveries"]} == {"delivered"}
            assert history["alarm"]["acknowledged"] is True

            # 4. A maintenance window on the lock: the next forced door is recorded, marked,
            # and nobody is told.
            await hall.controller.alarms.clear_by_hand(alarm.id, "fac1")
            window = await api.post("/notify/maintenance", headers=staff, json={
                "device_id": device_id, "starts_ms": now_ms() - 1000,
                "ends_ms": now_ms() + 3_600_000, "reason": "换锁芯"})
            assert window.status_code == 201, window.text
            sent_before = len(hall.mail.mails)
            lock._record(lock.door.contact(False, lock.clock_s))
            force_door(lock)
            second = await forced_alarm(hall, device_id, after_id=alarm.id)
            assert second.status is AlarmStatus.ACTIVE

            async def marked() -> Any:
                answer = (await api.get(f"/notify/alarms/{second.id}", headers=staff)).json()
                return answer if answer["in_maintenance"] else None
            answer = await eventually(marked, what="the alarm marked in maintenance")
            assert [s["kind"] for s in answer["history"]] == [HistoryKind.MAINTENANCE.value]
            assert answer["history"][0]["details"]["reason"] == "换锁芯"
            assert answer["deliveries"] == []
            assert len(hall.mail.mails) == sent_before


async def test_refused_input_names_the_field(broker_url: str, topic_prefix: str,
                                             hall_store: PostgresHallStore) -> None:
    async with notify_hall(broker_url, topic_prefix, hall_store) as hall:
        app = api_app(hall_store, hall.notifier, hall.controller.services.get(NotifyDirectory))
        await ensure_user(hall_store, "adm1", "adm-pass-1", Role.ADMIN, hasher=FAST_HASHER)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://hall/api/v1", timeout=30) as api:
            token = (await api.post("/auth/token", data={
                "username": "adm1", "password": "adm-pass-1"})).json()["access_token"]
            admin = {"Authorization": f"Bearer {token}"}
            cases = [
                ("/notify/recipients", {"name": "x", "role": "oncall", "channels": ["sms"]},
                 "phone", "missing_address"),
                ("/notify/recipients", {"name": "x", "role": "oncall", "channels": ["email"],
                                        "email": "a@b.cn\r\nBcc: all@b.cn"}, "email",
                 "invalid_email"),
                ("/notify/rota/shifts", {"recipient_id": hall.on_call.id, "weekday": 1,
                                         "start_minute": 600, "end_minute": 500},
                 "end_minute", "invalid_end"),
                ("/notify/rota/overrides", {"recipient_id": hall.on_call.id,
                                            "day": "2026-02-30"}, "day", "invalid_day"),
                ("/notify/maintenance", {"site": "hall", "device_id": "lock-1",
                                         "starts_ms": 1, "ends_ms": 2, "reason": "x"},
                 "device_id", "device_or_site"),
                ("/notify/maintenance", {"site": "hall", "starts_ms": 5, "ends_ms": 5,
                                         "reason": "x"}, "ends_ms", "ends_before_start"),
            ]
            for path, body, field, code in cases:
                answer = await api.post(path, json=body, headers=admin)
                assert answer.status_code == 422, (path, answer.text)
                assert answer.json()["params"] == {"field": field, "reason": code}
            # An id past PostgreSQL's bigint (schemathesis found it answered 500).
            huge = await api.post("/notify/rota/overrides", headers=admin, json={
                "recipient_id": 2**96, "day": "2026-12-01"})
            assert huge.status_code == 422, huge.text
            assert huge.json()["params"]["field"] == "recipient_id"
            # A test message goes out on the recipient's channels; one without any configured
            # channel is refused.
            sent = await api.post(f"/notify/recipients/{hall.supervisor.id}/test", headers=admin)
            assert sent.status_code == 202, sent.text
            [test_mail] = await eventually(lambda: hall.mail.to(hall.supervisor.email),
                                           what="the test mail")
            assert test_mail.message["Subject"] == "校园服务大厅：测试消息"
            sms_only = await api.post("/notify/recipients", headers=admin, json={
                "name": "短信", "role": "watcher", "channels": ["sms"], "phone": "13800138000"})
            assert sms_only.status_code == 201, sms_only.text
            refused = await api.post(f"/notify/recipients/{sms_only.json()['id']}/test",
                                     headers=admin)
            assert refused.status_code == 409
            unknown = await api.post("/notify/rota/shifts", headers=admin, json={
                "recipient_id": 999_999, "weekday": 1, "start_minute": 0, "end_minute": 60})
            assert unknown.status_code == 404
            bad_token = await api.post("/notify/ack", json={"token": "1.1.1.x"})
            assert bad_token.status_code == 422 and bad_token.json()["params"]["reason"] == "invalid_link"
            assert isinstance(hall.notifier, NotificationService)

            # Addresses are for admins; facilities staff see names for the rota only.
            await ensure_user(hall_store, "fac2", "fac-pass-2", Role.FACILITIES,
                              hasher=FAST_HASHER)
            token = (await api.post("/auth/token", data={
                "username": "fac2", "password": "fac-pass-2"})).json()["access_token"]
            staff = {"Authorization": f"Bearer {token}"}
            assert (await api.get("/notify/recipients", headers=staff)).status_code == 403
            assert (await api.post(f"/notify/recipients/{hall.on_call.id}/test",
                                   headers=staff)).status_code == 403
            people = (await api.get("/notify/people", headers=staff)).json()
            assert set(people[0]) == {"id", "name", "role", "active"}
            assert (await api.get("/notify/rota")).status_code == 401
