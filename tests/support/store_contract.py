"""What every HallStore (and UserStore) must do, as tests: run against MemoryStore (unit) and
PostgresStore (integration), so the fake the services are tested with behaves like the real
database.

A test module subclasses ``StoreContract`` and provides a ``store`` fixture (and
``UserStoreContract`` with a ``users`` fixture).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest

from devices.contract import now_ms
from devices.kinds import DeviceKind
from hall_controller.fleet.model import (
    Alarm,
    AlarmSeverity,
    AlarmStatus,
    CommandRecord,
    CommandStatus,
    DeadLetter,
    DeviceEvent,
    DeviceRecord,
    IngestBatch,
    LatestValue,
    Role,
    TelemetryPoint,
    User,
)
from hall_controller.fleet.ports import HallStore
from hall_controller.kernel.errors import Conflict, NotFound
from hall_controller.users.ports import UserStore

HOUR = 3_600_000
MINUTE = 60_000
# Recent and minute-aligned, so telemetry lands in today's (or yesterday's) partition and
# bucket boundaries are easy to reason about.
BASE = (now_ms() - HOUR) // HOUR * HOUR


def event(device_id: str, ts_ms: int, type: str = "door.opened",
          data: dict[str, object] | None = None, event_id: str | None = None) -> DeviceEvent:
    return DeviceEvent(event_id=event_id or str(uuid.uuid4()), device_id=device_id, ts_ms=ts_ms,
                       type=type, data=data if data is not None else {"door": "front"},
                       received_ms=ts_ms + 5)


def device(device_id: str, kind: DeviceKind = DeviceKind.KIOSK, **changes: object) -> DeviceRecord:
    record = DeviceRecord(device_id, kind, model="k2", fw="1.0.0", site="main-hall", online=True,
                          session=1, first_seen_ms=BASE, last_seen_ms=BASE + 1000,
                          online_since_ms=BASE)
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def points(device_id: str, ts_ms: int, **values: bool | int | float | str) -> list[TelemetryPoint]:
    return [TelemetryPoint(device_id, ts_ms, metric, value) for metric, value in values.items()]


def dead_letter(received_ms: int, reason: str, device_id: str | None = "kiosk-1",
                payload: bytes = b"{not json") -> DeadLetter:
    return DeadLetter(received_ms=received_ms, topic=f"hall/v1/dev/{device_id}/telemetry",
                      device_id=device_id, reason=reason, payload=payload, size=len(payload))


def command(command_id: str, created_ms: int, device_id: str = "door-1") -> CommandRecord:
    return CommandRecord(command_id=command_id, device_id=device_id, method="door.unlock",
                         params={"seconds": 5}, status=CommandStatus.PENDING,
                         created_ms=created_ms, expires_at_ms=created_ms + 30_000,
                         requested_by="fay")


class StoreContract:
    """The shared behaviour. Subclasses provide the ``store`` fixture."""

    # -- ingest -------------------------------------------------------------------------------

    async def test_a_committed_batch_can_be_read_back(self, store: HallStore) -> None:
        opened = event("door-1", BASE + 2000, data={"door": "front", "person": "p-17"})
        batch = IngestBatch(
            telemetry=points("kiosk-1", BASE + 1000, temperature_c=41.5, paper_ok=True,
                             mode="service", queue_len=7),
            events=[opened],
            dead_letters=[dead_letter(BASE + 3000, "invalid_json: expecting value")],
            devices={"kiosk-1": device("kiosk-1"),
                     "door-1": device("door-1", DeviceKind.DOOR_LOCK)},
        )

        assert await store.commit_batch(batch) == {opened.event_id}

        kiosk = await store.get_device("kiosk-1")
        assert kiosk == device("kiosk-1")
        assert [d.device_id for d in await store.list_devices()] == ["door-1", "kiosk-1"]
        assert [d.device_id for d in await store.load_devices()] == ["door-1", "kiosk-1"]
        latest = await store.latest_values()
        assert latest == {"kiosk-1": [
            LatestValue("mode", BASE + 1000, "service"),
            LatestValue("paper_ok", BASE + 1000, True),
            LatestValue("queue_len", BASE + 1000, 7),
            LatestValue("temperature_c", BASE + 1000, 41.5),
        ]}
        assert type(latest["kiosk-1"][2].value) is int  # an integer stays an integer
        events = await store.list_events("door-1", limit=10)
        assert [(e["event_id"], e["device_id"], e["ts_ms"], e["type"], e["data"])
                for e in events] == [
            (opened.event_id, "door-1", BASE + 2000, "door.opened",
             {"door": "front", "person": "p-17"})]
        [letter] = await store.list_dead_letters()
        assert (letter.topic, letter.device_id, letter.reason, letter.payload_preview,
                letter.size) == ("hall/v1/dev/kiosk-1/telemetry", "kiosk-1",
                                 "invalid_json: expecting value", "{not json", 9)
        [bucket] = await store.telemetry_series("kiosk-1", "temperature_c", BASE, BASE + HOUR, 60)
        assert (bucket.bucket_start_ms, bucket.count, bucket.last) == (BASE, 1, 41.5)

    async def test_an_empty_batch_commits_nothing(self, store: HallStore) -> None:
        assert await store.commit_batch(IngestBatch()) == set()
        assert await store.list_devices() == []

    async def test_a_redelivered_event_is_stored_once_and_reported_new_once(
        self, store: HallStore,
    ) -> None:
        first, second, third = (event("door-1", BASE + i * 1000) for i in range(3))

        assert await store.commit_batch(IngestBatch(events=[first, second])) == {
            first.event_id, second.event_id}
        # The broker redelivers the first two (no ack reached it) along with a new one, and
        # the new one twice within the same batch.
        assert await store.commit_batch(IngestBatch(events=[first, second, third, third])) == {
            third.event_id}
        assert await store.commit_batch(IngestBatch(events=[first])) == set()

        stored = await store.list_events(None, limit=100)
        assert [e["event_id"] for e in stored] == [third.event_id, second.event_id,
                                                   first.event_id]

    async def test_an_event_id_in_upper_case_is_the_same_event(self, store: HallStore) -> None:
        lower = event("door-1", BASE)
        upper = event("door-1", BASE, event_id=lower.event_id.upper())

        assert await store.commit_batch(IngestBatch(events=[upper])) == {upper.event_id}
        assert await store.commit_batch(IngestBatch(events=[lower])) == set()

    async def test_latest_value_keeps_the_newest_even_when_an_older_sample_arrives_later(
        self, store: HallStore,
    ) -> None:
        await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", BASE + 5000,
                                                              temperature_c=40.0)))
        # An outbox flush delivers an older sample afterwards ...
        await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", BASE + 1000,
                                                              temperature_c=35.0)))
        # ... and within one batch the older one may come last.
        await store.commit_batch(IngestBatch(telemetry=[
            *points("kiosk-1", BASE + 9000, temperature_c=45.0),
            *points("kiosk-1", BASE + 8000, temperature_c=44.0),
        ]))

        assert await store.latest_values(["kiosk-1"]) == {
            "kiosk-1": [LatestValue("temperature_c", BASE + 9000, 45.0)]}
        # Every sample is still kept as history.
        series = await store.telemetry_series("kiosk-1", "temperature_c", BASE, BASE + HOUR, 3600)
        assert [b.count for b in series] == [4]

    async def test_a_telemetry_batch_committed_twice_is_stored_once(
        self, store: HallStore,
    ) -> None:
        # The controller acks only after commit: after a crash or a lost PUBACK the broker
        # redelivers the whole batch's messages, here together with one new message.
        first = IngestBatch(telemetry=[
            *points("kiosk-1", BASE + 1000, temperature_c=40.0, paper_ok=True, mode="idle"),
            *points("kiosk-1", BASE + 2000, temperature_c=42.0, paper_ok=False, mode="service"),
            *points("gate-1", BASE + 1000, temperature_c=30.0),
        ])
        await store.commit_batch(first)

        async def observed() -> tuple[object, ...]:
            return (
                await store.telemetry_series("kiosk-1", "temperature_c", BASE, BASE + HOUR, 60),
                await store.telemetry_series("kiosk-1", "paper_ok", BASE, BASE + HOUR, 60),
                await store.telemetry_series("kiosk-1", "mode", BASE, BASE + HOUR, 60),
                await store.telemetry_series("gate-1", "temperature_c", BASE, BASE + HOUR, 60),
                await store.latest_values(),
            )

        before = await observed()
        await store.commit_batch(first)
        assert await observed() == before

        newer = points("kiosk-1", BASE + 3000, temperature_c=45.0)
        await store.commit_batch(IngestBatch(telemetry=[*first.telemetry, *newer]))
        [bucket] = await store.telemetry_series("kiosk-1", "temperature_c", BASE, BASE + HOUR, 60)
        assert (bucket.count, bucket.min, bucket.max, bucket.last) == (3, 40.0, 45.0, 45.0)
        assert bucket.avg == pytest.approx((40.0 + 42.0 + 45.0) / 3)
        [mode] = await store.telemetry_series("kiosk-1", "mode", BASE, BASE + HOUR, 60)
        assert (mode.count, mode.last) == (2, "service")

    async def test_a_sample_redelivered_within_one_batch_is_stored_once(
        self, store: HallStore,
    ) -> None:
        # An outbox flush racing a redelivery: the same message twice in one batch.
        message = points("kiosk-1", BASE + 1000, temperature_c=40.0, queue_len=3)
        other = points("kiosk-1", BASE + 2000, temperature_c=50.0, queue_len=5)
        await store.commit_batch(IngestBatch(telemetry=[*message, *other, *message, *message]))

        [temperature] = await store.telemetry_series("kiosk-1", "temperature_c", BASE,
                                                     BASE + HOUR, 60)
        assert (temperature.count, temperature.min, temperature.max) == (2, 40.0, 50.0)
        assert temperature.avg == pytest.approx(45.0)
        [queue] = await store.telemetry_series("kiosk-1", "queue_len", BASE, BASE + HOUR, 60)
        assert (queue.count, queue.last) == (2, 5.0)

    async def test_a_different_value_for_the_same_instant_keeps_the_first(
        self, store: HallStore,
    ) -> None:
        # Redelivery carries the same value; two values for one instant is a device bug, and
        # the first value stored stands (in raw telemetry and in "latest"), across batches ...
        await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", BASE + 1000,
                                                              temperature_c=40.0, mode="idle")))
        await store.commit_batch(IngestBatch(telemetry=points("kiosk-1", BASE + 1000,
                                                              temperature_c=99.0, mode="busy")))
        # ... and within one batch.
        await store.commit_batch(IngestBatch(telemetry=[
            *points("gate-1", BASE + 1000, temperature_c=30.0),
            *points("gate-1", BASE + 1000, temperature_c=31.0),
        ]))

        [kiosk] = await store.telemetry_series("kiosk-1", "temperature_c", BASE, BASE + HOUR, 60)
        assert (kiosk.count, kiosk.avg, kiosk.last) == (1, 40.0, 40.0)
        [mode] = await store.telemetry_series("kiosk-1", "mode", BASE, BASE + HOUR, 60)
        assert (mode.count, mode.last) == (1, "idle")
        [gate] = await store.telemetry_series("gate-1", "temperature_c", BASE, BASE + HOUR, 60)
        assert (gate.count, gate.avg, gate.last) == (1, 30.0, 30.0)
        assert await store.latest_values() == {
            "gate-1": [LatestValue("temperature_c", BASE + 1000, 30.0)],
            "kiosk-1": [LatestValue("mode", BASE + 1000, "idle"),
                        LatestValue("temperature_c", BASE + 1000, 40.0)],
        }

    async def test_overlapping_telemetry_committed_at_once_is_stored_once(
        self, store: HallStore,
    ) -> None:
        # Several controllers (or retries) committing overlapping batches at the same moment:
        # none fails, each sample is stored once.
        samples = [TelemetryPoint(f"gate-{d}", BASE + i * 1000, "passages", i)
                   for i in range(20) for d in range(10)]
        batches = [IngestBatch(telemetry=samples[k:k + 120]) for k in (0, 40, 80)]
        batches.append(IngestBatch(telemetry=list(reversed(samples))))

        await asyncio.gather(*(store.commit_batch(b) for b in batches))

        for d in range(10):
            [bucket] = await store.telemetry_series(f"gate-{d}", "passages", BASE, BASE + HOUR,
                                                    3600)
            assert bucket.count == 20
            assert bucket.avg == pytest.approx(9.5)

    async def test_latest_values_can_be_asked_for_some_devices(self, store: HallStore) -> None:
        await store.commit_batch(IngestBatch(telemetry=[
            *points("kiosk-1", BASE, paper_ok=False), *points("gate-1", BASE, passages=12),
            *points("door-1", BASE, battery_pct=80)]))

        some = await store.latest_values(["gate-1", "door-1", "nobody"])
        assert sorted(some) == ["door-1", "gate-1"]
        assert await store.latest_values([]) == {}
        assert sorted(await store.latest_values()) == ["door-1", "gate-1", "kiosk-1"]

    async def test_telemetry_series_aggregates_per_bucket(self, store: HallStore) -> None:
        samples = [  # minute 0: 10, 20, 30 · minute 1: nothing · minute 2: 5 · minute 3: out
            (BASE + 1_000, 10.0), (BASE + 30_000, 30.0), (BASE + 59_999, 20.0),
            (BASE + 2 * MINUTE, 5), (BASE + 3 * MINUTE, 99.0),
        ]
        await store.commit_batch(IngestBatch(telemetry=[
            TelemetryPoint("gate-1", ts, "temperature_c", v) for ts, v in samples]))
        await store.commit_batch(IngestBatch(telemetry=points("gate-2", BASE + 1000,
                                                              temperature_c=-50.0)))

        series = await store.telemetry_series("gate-1", "temperature_c", BASE,
                                              BASE + 3 * MINUTE, 60)

        assert [(b.bucket_start_ms, b.count, b.min, b.max, b.last) for b in series] == [
            (BASE, 3, 10.0, 30.0, 20.0),  # last is the newest sample, not the largest
            (BASE + 2 * MINUTE, 1, 5.0, 5.0, 5.0),
        ]
        assert series[0].avg == pytest.approx(20.0)
        assert series[1].avg == pytest.approx(5.0)
        assert await store.telemetry_series("gate-1", "temperature_c", BASE + HOUR,
                                            BASE + 2 * HOUR, 60) == []

    async def test_telemetry_series_of_text_and_flags(self, store: HallStore) -> None:
        await store.commit_batch(IngestBatch(telemetry=[
            *points("kiosk-1", BASE + 1000, mode="idle", door_closed=True),
            *points("kiosk-1", BASE + 2000, mode="service", door_closed=False),
        ]))

        [mode] = await store.telemetry_series("kiosk-1", "mode", BASE, BASE + MINUTE, 60)
        assert (mode.count, mode.avg, mode.min, mode.max, mode.last) == (
            2, None, None, None, "service")
        [door] = await store.telemetry_series("kiosk-1", "door_closed", BASE, BASE + MINUTE, 60)
        assert (door.count, door.last) == (2, False)

    async def test_values_postgres_cannot_hold_are_scrubbed_not_refused(
        self, store: HallStore,
    ) -> None:
        # Valid per the wire contract (JSON allows \u0000 and pydantic parses NaN), but text
        # and jsonb refuse them: one such message must not make the batch fail forever.
        odd = event("door-1", BASE, data={"note": "a\x00b", "reading": float("nan")})
        new = await store.commit_batch(IngestBatch(
            telemetry=points("kiosk-1", BASE, label="x\x00y", level=float("nan")),
            events=[odd],
            dead_letters=[dead_letter(BASE, "bad\x00reason: x", payload=b"\x00\xff")],
        ))

        assert new == {odd.event_id}
        [stored] = await store.list_events("door-1", 1)
        assert stored["data"] == {"note": "a\ufffdb", "reading": None}
        latest = {v.metric: v.value for v in (await store.latest_values())["kiosk-1"]}
        assert latest == {"label": "x\ufffdy", "level": "nan"}
        [letter] = await store.list_dead_letters()
        assert letter.reason == "bad\ufffdreason: x"

    async def test_dead_letter_payload_is_kept_up_to_64_kib(self, store: HallStore) -> None:
        huge = b"x" * 200_000
        await store.commit_batch(IngestBatch(dead_letters=[
            DeadLetter(BASE, "hall/v1/dev/kiosk-1/telemetry", "kiosk-1", "too_large: 200000",
                       huge, len(huge))]))

        [letter] = await store.list_dead_letters()
        assert letter.size == 200_000
        assert 0 < len(letter.payload_preview) <= 64 * 1024

    async def test_events_are_listed_newest_first_with_paging(self, store: HallStore) -> None:
        door = [event("door-1", BASE + i * 1000) for i in range(5)]
        gate = [event("gate-1", BASE + 500, type="gate.passage")]
        await store.commit_batch(IngestBatch(events=[*door, *gate]))

        page = await store.list_events("door-1", limit=2)
        assert [e["ts_ms"] for e in page] == [BASE + 4000, BASE + 3000]
        older = await store.list_events("door-1", limit=10, before_ms=BASE + 3000)
        assert [e["ts_ms"] for e in older] == [BASE + 2000, BASE + 1000, BASE]
        everything = await store.list_events(None, limit=100)
        assert len(everything) == 6
        assert everything[-2]["device_id"] == "gate-1"

    async def test_upserting_a_device_overwrites_it(self, store: HallStore) -> None:
        await store.upsert_devices([device("door-1", DeviceKind.DOOR_LOCK)])
        gone = device("door-1", DeviceKind.DOOR_LOCK, online=False, session=2,
                      online_since_ms=None, offline_reason="will", last_seen_ms=BASE + 9000)

        await store.upsert_devices([gone])
        await store.upsert_devices([])

        assert await store.get_device("door-1") == gone
        assert await store.get_device("nobody") is None

    # -- alarms ---------------------------------------------------------------------------------

    async def test_alarm_lifecycle(self, store: HallStore) -> None:
        alarm, created = await store.raise_alarm("door-1", "battery.low", AlarmSeverity.MINOR,
                                                 {"battery_pct": 19}, BASE)
        assert created
        assert (alarm.status, alarm.acknowledged, alarm.count, alarm.raised_ms) == (
            AlarmStatus.ACTIVE, False, 1, BASE)

        # Raised again while active: the same alarm, counted, with the new severity/details.
        bumped, created = await store.raise_alarm("door-1", "battery.low", AlarmSeverity.MAJOR,
                                                  {"battery_pct": 9}, BASE + 1000)
        assert not created
        assert (bumped.id, bumped.count, bumped.severity, bumped.details, bumped.raised_ms,
                bumped.updated_ms) == (alarm.id, 2, AlarmSeverity.MAJOR, {"battery_pct": 9},
                                       BASE, BASE + 1000)

        acked = await store.ack_alarm(alarm.id, BASE + 2000, "fay")
        assert (acked.acknowledged, acked.acked_ms, acked.acked_by) == (True, BASE + 2000, "fay")
        again = await store.ack_alarm(alarm.id, BASE + 3000, "ada")  # harmless, unchanged
        assert (again.acked_ms, again.acked_by) == (BASE + 2000, "fay")

        cleared = await store.clear_alarm_by_type("door-1", "battery.low", BASE + 4000, "system")
        assert cleared is not None
        assert (cleared.id, cleared.status, cleared.cleared_ms, cleared.cleared_by) == (
            alarm.id, AlarmStatus.CLEARED, BASE + 4000, "system")
        assert await store.clear_alarm_by_type("door-1", "battery.low", BASE + 5000, "x") is None
        assert await store.clear_alarm(alarm.id, BASE + 6000, "ada") == cleared

        # After a clear the same condition raises a new alarm.
        fresh, created = await store.raise_alarm("door-1", "battery.low", AlarmSeverity.MINOR,
                                                 {}, BASE + 7000)
        assert created
        assert fresh.id != alarm.id
        assert fresh.count == 1
        assert await store.get_alarm(alarm.id) == cleared

    async def test_only_one_alarm_is_active_per_device_and_type_even_when_raised_at_once(
        self, store: HallStore,
    ) -> None:
        results = await asyncio.gather(*(
            store.raise_alarm("gate-1", "camera.offline", AlarmSeverity.CRITICAL, {"n": i},
                              BASE + i)
            for i in range(12)))

        assert sum(created for _, created in results) == 1
        [active] = await store.list_alarms(status=AlarmStatus.ACTIVE)
        assert active.count == 12
        assert len({alarm.id for alarm, _ in results}) == 1

    async def test_alarms_are_listed_newest_first_and_filtered(self, store: HallStore) -> None:
        door, _ = await store.raise_alarm("door-1", "tamper", AlarmSeverity.CRITICAL, {}, BASE)
        paper, _ = await store.raise_alarm("kiosk-1", "paper.low", AlarmSeverity.MINOR, {},
                                           BASE + 1000)
        fan, _ = await store.raise_alarm("kiosk-1", "fan.stuck", AlarmSeverity.MAJOR, {},
                                         BASE + 2000)
        await store.ack_alarm(paper.id, BASE + 3000, "fay")
        await store.clear_alarm(door.id, BASE + 4000, "fay")

        def ids(alarms: list[Alarm]) -> list[int]:
            return [a.id for a in alarms]

        assert ids(await store.list_alarms()) == [fan.id, paper.id, door.id]
        assert ids(await store.list_alarms(status=AlarmStatus.ACTIVE)) == [fan.id, paper.id]
        assert ids(await store.list_alarms(acknowledged=False)) == [fan.id, door.id]
        assert ids(await store.list_alarms(status=AlarmStatus.ACTIVE, acknowledged=False,
                                           device_id="kiosk-1")) == [fan.id]
        assert ids(await store.list_alarms(device_id="door-1")) == [door.id]
        assert ids(await store.list_alarms(limit=1)) == [fan.id]

    async def test_acknowledging_or_clearing_an_unknown_alarm_is_not_found(
        self, store: HallStore,
    ) -> None:
        with pytest.raises(NotFound):
            await store.ack_alarm(424242, BASE, "fay")
        with pytest.raises(NotFound):
            await store.clear_alarm(424242, BASE, "fay")
        assert await store.get_alarm(424242) is None

    # -- commands -------------------------------------------------------------------------------

    async def test_commands_round_trip(self, store: HallStore) -> None:
        first, second = command("c-1", BASE), command("c-2", BASE + 1000)
        other = command("c-3", BASE + 2000, device_id="door-2")
        for record in (first, second, other):
            await store.insert_command(record)

        assert await store.get_command("c-1") == first
        first.status = CommandStatus.SUCCEEDED
        first.sent_ms, first.completed_ms = BASE + 10, BASE + 250
        first.result = {"unlocked": True}
        await store.update_command(first)
        second.status, second.error = CommandStatus.FAILED, {"code": "jammed", "message": "bolt"}
        await store.update_command(second)

        assert await store.get_command("c-1") == first
        assert [c.command_id for c in await store.list_commands("door-1")] == ["c-2", "c-1"]
        assert await store.list_commands("door-1", limit=1) == [second]
        assert await store.get_command("nope") is None

    async def test_the_history_without_automatic_commands_keeps_what_people_sent(
        self, store: HallStore,
    ) -> None:
        reboot = command("c-1", BASE)
        reboot.method, reboot.note = "device.reboot", "froze after the update"
        await store.insert_command(reboot)
        for i, requester in enumerate(("system:queue-display", "clerk-service", "system:access")):
            automatic = command(f"c-auto-{i}", BASE + 1000 * (i + 1))
            automatic.requested_by = requester
            await store.insert_command(automatic)

        assert [c.command_id for c in await store.list_commands("door-1")] == [
            "c-auto-2", "c-auto-1", "c-auto-0", "c-1"]
        # Filtered before the limit: one row is the person's command, not a newer automatic one.
        assert await store.list_commands("door-1", limit=1, automatic=False) == [reboot]
        assert (await store.list_commands("door-1", automatic=False))[0].note == (
            "froze after the update")

    async def test_a_cleared_alarm_keeps_the_first_clear_and_its_note(
        self, store: HallStore,
    ) -> None:
        alarm, _ = await store.raise_alarm("door-1", "door.forced", AlarmSeverity.CRITICAL, {},
                                           BASE)
        cleared = await store.clear_alarm(alarm.id, BASE + 1000, "fay", "frame pried, reported")
        assert (cleared.status, cleared.cleared_by, cleared.cleared_note) == (
            AlarmStatus.CLEARED, "fay", "frame pried, reported")
        again = await store.clear_alarm(alarm.id, BASE + 2000, "ada", "another")
        assert (again.cleared_by, again.cleared_note, again.cleared_ms) == (
            "fay", "frame pried, reported", BASE + 1000)

    async def test_a_command_id_is_stored_once(self, store: HallStore) -> None:
        await store.insert_command(command("c-1", BASE))
        with pytest.raises(Conflict):
            await store.insert_command(command("c-1", BASE + 1))
        with pytest.raises(NotFound):
            await store.update_command(command("c-unknown", BASE))

    # -- dead letters ---------------------------------------------------------------------------

    async def test_dead_letters_newest_first_and_counted_by_reason(self, store: HallStore) -> None:
        await store.commit_batch(IngestBatch(dead_letters=[
            dead_letter(BASE + 1000, "invalid_json: line 1"),
            dead_letter(BASE + 3000, "invalid_json: line 7", device_id="gate-1"),
            dead_letter(BASE + 2000, "too_large: 90000 bytes"),
            dead_letter(BASE + 4000, "unknown_topic", device_id=None),
        ]))

        letters = await store.list_dead_letters()
        assert [d.received_ms for d in letters] == [BASE + 4000, BASE + 3000, BASE + 2000,
                                                    BASE + 1000]
        assert letters[0].device_id is None
        assert [d.reason for d in await store.list_dead_letters(device_id="kiosk-1")] == [
            "too_large: 90000 bytes", "invalid_json: line 1"]
        assert len(await store.list_dead_letters(limit=2)) == 2
        assert await store.count_dead_letters_by_reason() == {
            "invalid_json": 2, "too_large": 1, "unknown_topic": 1}

    async def test_ping(self, store: HallStore) -> None:
        assert await store.ping() is True


class UserStoreContract:
    """What every UserStore must do (``hall_controller.users.ports``); a test module
    subclasses it and provides a ``users`` fixture."""

    async def test_users_round_trip(self, users: UserStore) -> None:
        assert await users.get_user("cleo") is None
        cleo = User("cleo", "$argon2id$v=19$abc", Role.CLERK)
        await users.upsert_user(cleo)
        assert await users.get_user("cleo") == cleo

        demoted = User("cleo", "$argon2id$v=19$def", Role.FACILITIES, disabled=True)
        await users.upsert_user(demoted)
        assert await users.get_user("cleo") == demoted

    async def test_the_token_version_is_kept_and_users_are_listed_by_name(
            self, users: UserStore) -> None:
        assert await users.list_users() == []
        await users.upsert_user(User("fay", "$argon2id$v=19$f", Role.FACILITIES))
        ada = User("ada", "$argon2id$v=19$a", Role.ADMIN, token_version=3)
        await users.upsert_user(ada)
        assert await users.get_user("ada") == ada
        bumped = User("ada", "$argon2id$v=19$a", Role.ADMIN, disabled=True, token_version=4)
        await users.upsert_user(bumped)
        assert [u.username for u in await users.list_users()] == ["ada", "fay"]
        assert (await users.list_users())[0] == bumped

    async def test_two_admins_demoting_each_other_at_once_leave_one_admin(
            self, users: UserStore) -> None:
        # update_user reads every account and writes as one step: each demotion is allowed
        # only while another enabled admin exists, so of two at once, one must be refused.
        class Refused(Exception):
            pass

        def demote_while_another_admin_exists(target: User, everyone: list[User]) -> User:
            if not [u for u in everyone if u.role is Role.ADMIN and not u.disabled
                    and u.username != target.username]:
                raise Refused(target.username)
            return dataclasses.replace(target, role=Role.CLERK)

        for _ in range(10):
            await users.upsert_user(User("ada", "$argon2id$v=19$a", Role.ADMIN))
            await users.upsert_user(User("abe", "$argon2id$v=19$b", Role.ADMIN))
            results = await asyncio.gather(
                users.update_user("ada", demote_while_another_admin_exists),
                users.update_user("abe", demote_while_another_admin_exists),
                return_exceptions=True)
            assert sorted(type(r).__name__ for r in results) == ["Refused", "User"]
            admins = [u.username for u in await users.list_users() if u.role is Role.ADMIN]
            assert len(admins) == 1
        assert await users.update_user("nobody", demote_while_another_admin_exists) is None
