"""The controller end to end over a real broker and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid

from devices.contract import Channel, now_ms
from hall_controller.fleet.model import AlarmStatus, CommandStatus
from hall_controller.fleet.postgres_store import PostgresStore
from hall_controller.kernel.errors import DeviceOffline
from tests.support.controller import (
    eventually,
    mqtt_client,
    raw_device,
    running_controller,
)


async def test_birth_registers_telemetry_is_stored_and_will_turns_offline(
        broker_url: str, topic_prefix: str, store: PostgresStore) -> None:
    async with running_controller(broker_url, topic_prefix, store) as controller:
        async with raw_device(broker_url, topic_prefix, "kiosk-07", session=3) as device:
            await device.birth("kiosk", session=3, site="north-hall")

            async def registered() -> bool:
                record = await store.get_device("kiosk-07")
                return record is not None and record.online

            await eventually(registered, what="kiosk-07 registered online")
            start = now_ms()
            for i in range(5):
                await device.telemetry({"paper_level_pct": 90 - i, "printer_state": "ok"},
                                       ts=start + i * 1000)

            async def stored() -> bool:
                latest = await store.latest_values(["kiosk-07"])
                return any(v.metric == "paper_level_pct" and v.value == 86
                           for v in latest.get("kiosk-07", []))

            await eventually(stored, what="telemetry committed")
            buckets = await store.telemetry_series("kiosk-07", "paper_level_pct", start - 1,
                                                   start + 10_000, 60)
            assert sum(b.count for b in buckets) == 5
            record = await store.get_device("kiosk-07")
            assert record is not None and record.site == "north-hall" and record.session == 3

        # Leaving the context drops the connection without DISCONNECT? No: aiomqtt disconnects
        # cleanly, so the will is not sent. Publish the will payload ourselves, as the broker would.
        async with raw_device(broker_url, topic_prefix, "kiosk-07-peer", will=False) as peer:
            await peer.client.publish(peer.topics.device("kiosk-07", Channel.STATE),
                                      json.dumps({"online": False, "session": 3}), qos=1, retain=True)

        async def offline_with_alarm() -> bool:
            record = await store.get_device("kiosk-07")
            alarms = await store.list_alarms(status=AlarmStatus.ACTIVE, device_id="kiosk-07")
            return (record is not None and not record.online
                    and [a.type for a in alarms] == ["device.offline"])

        await eventually(offline_with_alarm, what="offline and alarmed")
        assert controller.registry.get("kiosk-07").offline_reason == "will"  # type: ignore[union-attr]


async def test_stale_will_is_ignored(broker_url: str, topic_prefix: str, store: PostgresStore) -> None:
    async with running_controller(broker_url, topic_prefix, store):
        async with raw_device(broker_url, topic_prefix, "lock-02", will=False) as device:
            await device.birth("door_lock", session=5)
            await device.send(Channel.STATE, {"online": False, "session": 4}, retain=False)
            await device.event("door.closed")  # something after, to know the will was processed

            async def event_seen() -> bool:
                return len(await store.list_events("lock-02", 10)) == 1

            await eventually(event_seen, what="event after the stale will")
            record = await store.get_device("lock-02")
            assert record is not None and record.online and record.session == 5


async def test_a_late_retained_birth_of_an_older_session_is_ignored(
        broker_url: str, topic_prefix: str, store: PostgresStore) -> None:
    client_id = f"ctl-{uuid.uuid4().hex[:8]}"
    async with running_controller(broker_url, topic_prefix, store, client_id=client_id,
                                  keep_session=True):
        async with raw_device(broker_url, topic_prefix, "gate-11", will=False) as device:
            await device.birth("face_gate", session=8, fw="2.1")
            await eventually(lambda: _has_device(store, "gate-11"), what="registered")
            # Session 7's retained birth turns up after session 8's (a bridge, a broker restored
            # from a backup), and stays the retained state of the device.
            await device.send(Channel.STATE, {
                "online": True, "session": 7, "kind": "face_gate", "model": "raw", "fw": "2.0",
                "ts": now_ms() - 60_000}, retain=True)
            first = await device.event("gate.passage")  # processed after the stale birth

            async def marker_stored() -> bool:
                return any(e["event_id"] == first for e in await store.list_events("gate-11", 10))
            await eventually(marker_stored, what="the event sent after the stale birth")
            record = await store.get_device("gate-11")
            assert record is not None and (record.online, record.session, record.fw) == (
                True, 8, "2.1")

    # A restarted controller is handed that stale birth first thing, on subscribe.
    async with running_controller(broker_url, topic_prefix, store, client_id=client_id) as again:
        async with raw_device(broker_url, topic_prefix, "gate-11", will=False) as device:
            second = await device.event("gate.passage")

            async def second_stored() -> bool:
                return any(e["event_id"] == second for e in await store.list_events("gate-11", 10))
            await eventually(second_stored, what="the event sent after the restart")
            record = await store.get_device("gate-11")
            assert record is not None and (record.session, record.fw) == (8, "2.1")
            assert again.registry.get("gate-11").session == 8  # type: ignore[union-attr]
            # Leave no retained state behind on the shared broker.
            await device.client.publish(device.topic(Channel.STATE), b"", qos=1, retain=True)


async def test_silent_device_goes_offline_after_its_kind_timeout(
        broker_url: str, topic_prefix: str, store: PostgresStore) -> None:
    timeouts = {"kiosk": 1.0, "face_gate": 1.0, "door_lock": 1.0, "queue_display": 1.0}
    async with running_controller(broker_url, topic_prefix, store,
                                  inactivity_timeout_s=timeouts):
        # Connected but silent (a hung agent whose TCP connection stays up): no will comes.
        async with raw_device(broker_url, topic_prefix, "gate-03") as device:
            await device.birth("face_gate")

            async def timed_out() -> bool:
                record = await store.get_device("gate-03")
                return record is not None and not record.online and record.offline_reason == "timeout"

            await eventually(timed_out, timeout_s=8, what="inactivity timeout")

            # The alarm is raised just after the offline record is stored, not with it.
            async def alarmed() -> bool:
                return bool(await store.list_alarms(device_id="gate-03"))

            await eventually(alarmed, what="the offline alarm")
            alarms = await store.list_alarms(device_id="gate-03")
            assert [(a.type, a.status) for a in alarms] == [("device.offline", AlarmStatus.ACTIVE)]

            # It speaks again: online, and the offline alarm is cleared (kept, unacknowledged).
            await device.telemetry({"fps": 12})

            async def back() -> bool:
                record = await store.get_device("gate-03")
                return record is not None and record.online

            await eventually(back, what="back online on activity")

            async def cleared() -> bool:
                return bool(await store.list_alarms(device_id="gate-03",
                                                    status=AlarmStatus.CLEARED))

            await eventually(cleared, what="the offline alarm cleared")
            alarms = await store.list_alarms(device_id="gate-03")
            assert [(a.status, a.acknowledged) for a in alarms] == [(AlarmStatus.CLEARED, False)]


async def test_malformed_input_is_dead_lettered_and_others_keep_flowing(
        broker_url: str, topic_prefix: str, store: PostgresStore) -> None:
    async with running_controller(broker_url, topic_prefix, store) as controller:
        async with raw_device(broker_url, topic_prefix, "kiosk-01") as liar, \
                raw_device(broker_url, topic_prefix, "kiosk-02") as honest:
            await honest.birth("kiosk")
            await liar.birth("kiosk")
            bad = [
                (liar.topic(Channel.TELEMETRY), b"this is not json"),
                (liar.topic(Channel.TELEMETRY), json.dumps({"ts": "noon", "values": {"a": 1}}).encode()),
                (liar.topic(Channel.EVENT), b"{" + b" " * (1024 * 1024) + b"}"),
                (f"{topic_prefix}/dev/kiosk-01/firmware", b"{}"),
                (f"{topic_prefix}/lobby/lights", b"{}"),
                (liar.topic(Channel.TELEMETRY),
                 json.dumps({"device_id": "kiosk-02", "ts": now_ms(), "values": {"x": 1}}).encode()),
                (liar.topic(Channel.EVENT), b"\xff\xfe"),
            ]
            for topic, payload in bad:
                await liar.client.publish(topic, payload, qos=1)
                await honest.telemetry({"paper_level_pct": 50})
            event_id = await honest.event("printer.paper_low")

            async def all_dead_lettered() -> bool:
                return len(await store.list_dead_letters(limit=50)) == len(bad)

            await eventually(all_dead_lettered, what="7 dead letters")
            letters = await store.list_dead_letters(limit=50)
            reasons = " | ".join(d.reason for d in letters)
            for expected in ("invalid_json", "invalid telemetry: ts", "too_large", "unknown channel",
                             "unknown topic", "device id mismatch", "invalid_utf8"):
                assert expected in reasons, expected
            big = next(d for d in letters if "too_large" in d.reason)
            assert big.size > 1024 * 1024
            assert controller.counters.dead_letters.total() == len(bad)

            async def honest_flowed() -> bool:
                return (len(await store.list_events("kiosk-02", 10)) == 1
                        and sum(b.count for b in await store.telemetry_series(
                            "kiosk-02", "paper_level_pct", 0, now_ms() + 1000, 3600)) == len(bad))

            await eventually(honest_flowed, what="the honest device's data")
            assert (await store.list_events("kiosk-02", 10))[0]["event_id"] == event_id
            # The liar's lie did not land on the honest device.
            assert "x" not in {v.metric for v in (await store.latest_values(["kiosk-02"]))["kiosk-02"]}


async def test_events_published_while_the_controller_is_down_arrive_once(
        broker_url: str, topic_prefix: str, store: PostgresStore) -> None:
    client_id = f"ctl-{uuid.uuid4().hex[:8]}"
    async with running_controller(broker_url, topic_prefix, store, client_id=client_id,
                                  keep_session=True):
        async with raw_device(broker_url, topic_prefix, "lock-09") as device:
            await device.birth("door_lock")
            await eventually(lambda: _has_device(store, "lock-09"), what="registered")
    # Controller stopped; its persistent session keeps collecting for it.
    sent: list[str] = []
    async with raw_device(broker_url, topic_prefix, "lock-09", will=False) as device:
        for i in range(300):
            sent.append(await device.event("door.opened", {"n": i}))
        await device.event("door.opened", {"n": 0}, event_id=sent[0])  # a redelivery
    async with running_controller(broker_url, topic_prefix, store, client_id=client_id):
        # The broker hands the session its backlog first: an event sent now comes after it.
        async with raw_device(broker_url, topic_prefix, "lock-09", will=False) as device:
            marker = await device.event("door.closed")

        async def marker_in() -> bool:
            return any(e["event_id"] == marker for e in await store.list_events("lock-09", 1000))

        await eventually(marker_in, timeout_s=20, what="300 events after restart, then the marker")
        stored = await store.list_events("lock-09", 1000)
        assert sorted(e["event_id"] for e in stored) == sorted([*sent, marker])  # none twice


async def test_command_round_trip_offline_and_timeout(
        broker_url: str, topic_prefix: str, store: PostgresStore) -> None:
    async with running_controller(broker_url, topic_prefix, store) as controller:
        async with raw_device(broker_url, topic_prefix, "display-04") as device:
            await device.birth("queue_display")
            await eventually(lambda: _has_device(store, "display-04"), what="registered")
            await device.client.subscribe(device.topic(Channel.CMD), qos=1)

            async def answer_one() -> dict[str, object]:
                async for message in device.client.messages:
                    if message.topic.value != device.topic(Channel.CMD):
                        continue  # amqtt also hands out unrelated retained messages on subscribe
                    command = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                    await device.send(Channel.CMD_ACK, {"id": command["id"], "ok": True,
                                                        "result": {"brightness": 40}})
                    return command  # type: ignore[no-any-return]
                raise AssertionError("no command")

            answering = asyncio.create_task(answer_one())
            record = await controller.commands.send("display-04", "display.set_brightness",
                                                    {"brightness": 40}, "tester", timeout_s=5)
            command = await answering
            assert command["method"] == "display.set_brightness"
            assert command["expires_at"] > now_ms()
            assert record.status is CommandStatus.SUCCEEDED and record.result == {"brightness": 40}

            # Nobody answers this one.
            unanswered = await controller.commands.send("display-04", "device.reboot", {}, "tester",
                                                        timeout_s=0.5)
            assert unanswered.status is CommandStatus.TIMED_OUT
            history = await store.list_commands("display-04")
            assert [c.status for c in history] == [CommandStatus.TIMED_OUT, CommandStatus.SUCCEEDED]

        async with mqtt_client(broker_url) as peer:
            await peer.publish(f"{topic_prefix}/dev/display-04/state",
                               json.dumps({"online": False, "session": 1}), qos=1, retain=True)
        await eventually(lambda: _is_offline(store, "display-04"), what="offline")
        try:
            await controller.commands.send("display-04", "device.ping", {}, "tester")
        except DeviceOffline:
            pass
        else:
            raise AssertionError("a command to an offline device was accepted")


async def test_unknown_request_method_gets_a_clear_error(
        broker_url: str, topic_prefix: str, store: PostgresStore) -> None:
    async with running_controller(broker_url, topic_prefix, store):
        async with raw_device(broker_url, topic_prefix, "kiosk-05") as device:
            await device.birth("kiosk")
            await device.client.subscribe(device.topic(Channel.RES), qos=1)
            await device.send(Channel.REQ, {"id": "r1", "method": "coffee.brew", "params": {}})
            await device.send(Channel.REQ, {"id": "r2", "method": "device.time", "params": {}})
            replies = {}
            async with asyncio.timeout(5):
                async for message in device.client.messages:
                    if message.topic.value != device.topic(Channel.RES):
                        continue
                    body = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                    replies[body["id"]] = body
                    if len(replies) == 2:
                        break
            assert replies["r1"]["ok"] is False and replies["r1"]["error"]["code"] == "unknown_method"
            assert replies["r2"]["ok"] is True and abs(replies["r2"]["result"]["now_ms"] - now_ms()) < 5000


async def _has_device(store: PostgresStore, device_id: str) -> bool:
    return await store.get_device(device_id) is not None


async def _is_offline(store: PostgresStore, device_id: str) -> bool:
    record = await store.get_device(device_id)
    return record is not None and not record.online
