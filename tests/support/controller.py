"""Helpers to run a real controller and a raw-MQTT "device" inside a test."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt

from devices.broker_address import BrokerAddress
from devices.contract import Channel, Topics, now_ms
from hall.assembly import controller_bus
from hall_controller.access.face_checkin import PersonCases
from hall_controller.access.ports import AccessStore
from hall_controller.alarm_rules.memory_store import MemoryAlarmRuleStore
from hall_controller.alarm_rules.postgres_store import PostgresAlarmRuleStore
from hall_controller.cases.ports import CaseLinks
from hall_controller.features import (
    AccessFeature,
    AlarmRulesFeature,
    DeviceIdentityFeature,
    FaceCheckInFeature,
    RemoteTicketsFeature,
    TicketsFeature,
)
from hall_controller.fleet.memory_provisioning import MemoryProvisioningStore
from hall_controller.fleet.ports import HallStore, ProvisioningStore
from hall_controller.fleet.postgres_provisioning import PostgresProvisioningStore
from hall_controller.queue.ports import (
    RemoteTicketStore,
    TicketMoveStore,
    TicketStore,
    WaitInputsSource,
)
from hall_controller.queue.tickets import QueueSettings, TicketCaseRecorder
from hall_controller.runtime import ControllerSettings, Feature, HallController
from tests.support.waiting import eventually

__all__ = ["RawDevice", "eventually", "mqtt_client", "raw_device", "running_controller"]


@contextlib.asynccontextmanager
async def running_controller(broker_url: str, prefix: str, store: HallStore, *,
                             queue: QueueSettings | None = None,
                             tickets: TicketStore | None = None, cases: CaseLinks | None = None,
                             wait_inputs: WaitInputsSource | None = None,
                             ticket_cases: TicketCaseRecorder | None = None,
                             moves: TicketMoveStore | None = None,
                             remote_tickets: RemoteTicketStore | None = None,
                             access: AccessStore | None = None,
                             command_secret: bytes | None = None,
                             checkin_gates: tuple[str, ...] = (),
                             keep_session: bool = False,
                             provisioning: ProvisioningStore | None = None,
                             auto_register: bool = True,
                             alarm_rules: bool = False,
                             **overrides: Any) -> AsyncIterator[HallController]:
    """A controller over ``store`` with the features the given stores make possible,
    installed as the composition root installs them (``hall_controller.features``): device
    identity always (over ``provisioning``, default: the credentials in ``store``'s database,
    or in memory; ``auto_register`` on, so a test's devices register by their birth), tickets
    when there is a ticket store (``tickets``, else ``store`` when it is one), remote tickets
    with ``moves`` and ``remote_tickets`` too, access with ``access``, face check-in with
    ``checkin_gates``, alarm rules with ``alarm_rules`` (over ``store``'s database, or in
    memory). ``overrides`` are ``ControllerSettings`` fields."""
    settings = ControllerSettings(mqtt_url=broker_url, topic_prefix=prefix,
                                  client_id=overrides.pop("client_id", f"ctl-{uuid.uuid4().hex[:8]}"),
                                  presence_check_interval_s=overrides.pop("presence_check_interval_s", 0.2),
                                  **overrides)
    queue = queue or QueueSettings()
    if tickets is None and isinstance(store, TicketStore):
        tickets = store
    if provisioning is None:
        pool = getattr(store, "pool", None)
        provisioning = (MemoryProvisioningStore() if pool is None
                        else PostgresProvisioningStore(pool))
    features: list[Feature] = [DeviceIdentityFeature(provisioning, auto_register,
                                                     broker_url=broker_url)]
    if tickets is not None:
        features.append(TicketsFeature(tickets, queue, wait_inputs=wait_inputs,
                                       ticket_cases=ticket_cases, cases=cases))
        if moves is not None and remote_tickets is not None:
            features.append(RemoteTicketsFeature(tickets, moves, remote_tickets,
                                                 ticket_cases=ticket_cases, cases=cases))
    if access is not None:
        features.append(AccessFeature(access, command_secret, queue.timezone))
        if tickets is not None and checkin_gates:
            features.append(FaceCheckInFeature(
                checkin_gates, tickets, access, remote=remote_tickets,
                cases=cases if isinstance(cases, PersonCases) else None))
    if alarm_rules:
        pool = getattr(store, "pool", None)
        rule_store = MemoryAlarmRuleStore() if pool is None else PostgresAlarmRuleStore(pool)
        features.append(AlarmRulesFeature(rule_store, rule_store, queue.timezone))
    controller = HallController(settings, store, controller_bus(settings), features)
    async with controller.running():
        async with asyncio.timeout(10):
            await controller.bus.connected.wait()
        yield controller
    if not keep_session:
        # Don't leave a persistent session behind on the shared broker for every test run.
        async with mqtt_client(broker_url, settings.client_id, clean_session=True):
            pass


def mqtt_client(broker_url: str, client_id: str | None = None, **kwargs: Any) -> aiomqtt.Client:
    """A raw client of the broker at ``broker_url`` (with its TLS, for ``mqtts://``, and the
    URL's login, if any)."""
    address = BrokerAddress.parse(broker_url)
    if address.username is not None:
        kwargs.setdefault("username", address.username)
        kwargs.setdefault("password", address.password)
    return aiomqtt.Client(address.host, address.port, tls_context=address.ssl_context(),
                          identifier=client_id or f"raw-{uuid.uuid4().hex[:8]}", **kwargs)


class RawDevice:
    """A device made of nothing but MQTT publishes, like a vendor's shell script."""

    def __init__(self, client: aiomqtt.Client, topics: Topics, device_id: str) -> None:
        self.client = client
        self.topics = topics
        self.device_id = device_id
        self._last_ts = 0

    def topic(self, channel: Channel) -> str:
        return self.topics.device(self.device_id, channel)

    async def send(self, channel: Channel, body: Any, *, retain: bool = False) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        await self.client.publish(self.topic(channel), payload, qos=1, retain=retain)

    async def birth(self, kind: str, session: int = 1, **extra: Any) -> None:
        await self.send(Channel.STATE, {"online": True, "session": session, "kind": kind,
                                        "model": "raw", "fw": "0.1", "ts": now_ms(), **extra},
                        retain=True)

    async def telemetry(self, values: dict[str, Any], ts: int | None = None) -> None:
        if ts is None:
            # A sample is identified by (device, metric, ts): two in the same millisecond would
            # be one sample delivered twice, so a fast-talking test device keeps its clock moving.
            ts = max(now_ms(), self._last_ts + 1)
        self._last_ts = ts
        await self.send(Channel.TELEMETRY, {"ts": ts, "values": values})

    async def send_request(self, method: str, params: dict[str, Any] | None = None,
                           request_id: str | None = None) -> str:
        request_id = request_id or str(uuid.uuid4())
        await self.send(Channel.REQ, {"id": request_id, "method": method, "params": params or {}})
        return request_id

    async def event(self, type: str, data: dict[str, Any] | None = None,
                    event_id: str | None = None) -> str:
        event_id = event_id or str(uuid.uuid4())
        await self.send(Channel.EVENT, {"id": event_id, "ts": now_ms(), "type": type,
                                        "data": data or {}})
        return event_id


@contextlib.asynccontextmanager
async def raw_device(broker_url: str, prefix: str, device_id: str, *, session: int = 1,
                     will: bool = True) -> AsyncIterator[RawDevice]:
    topics = Topics(prefix)
    last_will = None
    if will:
        last_will = aiomqtt.Will(topics.device(device_id, Channel.STATE),
                                 json.dumps({"online": False, "session": session}).encode(),
                                 qos=1, retain=True)
    async with mqtt_client(broker_url, device_id + "-" + uuid.uuid4().hex[:4], will=last_will) as client:
        yield RawDevice(client, topics, device_id)
