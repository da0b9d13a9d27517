"""A controller with alarm notification over real PostgreSQL, a real broker, a real SMTP
server and the WeCom/DingTalk/SMS test server; shared by the integration test and the
benchmark (``benchmarks/notify_latency.py``)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from hall.assembly import controller_bus
from hall_controller.alarm_rules.postgres_store import PostgresAlarmRuleStore
from hall_controller.cases.webhooks import RetryPolicy
from hall_controller.features import AlarmRulesFeature, DeviceIdentityFeature, NotifyFeature
from hall_controller.fleet.memory_provisioning import MemoryProvisioningStore
from hall_controller.fleet.model import AlarmSeverity
from hall_controller.fleet.postgres_store import PostgresStore
from hall_controller.notify.email_channel import EmailSender, SmtpSettings
from hall_controller.notify.model import Channel, Recipient, RecipientDraft, Role, Shift
from hall_controller.notify.postgres_store import PostgresNotifyStore
from hall_controller.notify.rules import AckLinks, EscalationPolicy
from hall_controller.notify.service import NotificationService, NotifySettings
from hall_controller.notify.work_apps import WECOM, WorkAppSender
from hall_controller.runtime import ControllerSettings, HallController
from tests.support.notify_servers import ChannelServer, MailSink, channel_server, smtp_server

PUBLIC_URL = "https://hall.example.edu"


@dataclass
class NotifyHall:
    controller: HallController
    notifier: NotificationService
    store: PostgresNotifyStore
    mail: MailSink
    apis: ChannelServer
    on_call: Recipient
    supervisor: Recipient
    manager: Recipient


@contextlib.asynccontextmanager
async def notify_hall(broker_url: str, prefix: str, store: PostgresStore, *,
                      escalation_s: tuple[float, ...] = (1.5, 4.0), alarm_rules: bool = False,
                      ) -> AsyncIterator[NotifyHall]:
    """Critical alarms escalate after ``escalation_s``; the on-call person is reached by
    mail and WeCom, the supervisor and the manager by mail. ``alarm_rules``: with the rules
    staff write (``AlarmRuleService``) judged on the ingest path too."""
    notify_store = PostgresNotifyStore(store.pool)
    with smtp_server() as (mail, smtp_port), channel_server() as apis:
        people = []
        for name, role, channels in (
                ("值班员", Role.ONCALL, (Channel.EMAIL, Channel.WECOM)),
                ("主管", Role.SUPERVISOR, (Channel.EMAIL,)),
                ("经理", Role.FACILITIES_MANAGER, (Channel.EMAIL,))):
            tag = uuid.uuid4().hex[:6]
            people.append(await notify_store.save_recipient(None, RecipientDraft(
                name, role, channels, email=f"{role.value}-{tag}@campus.edu.cn",
                wecom_user=f"wx{tag}", locale="zh"), 0, "test"))
        for day in range(7):
            await notify_store.add_shift(Shift(people[0].id, day, 0, 1440))
        senders = {
            Channel.EMAIL: EmailSender(SmtpSettings("127.0.0.1", smtp_port, "hall@campus.edu.cn",
                                                    security="none", timeout_s=5)),
            Channel.WECOM: WorkAppSender(WECOM, base_url=apis.base, key=apis.corp_id,
                                         secret=apis.corp_secret, agent_id=apis.agent_id),
        }
        settings = NotifySettings(
            timezone=ZoneInfo("Asia/Shanghai"), public_url=PUBLIC_URL, tick_s=0.1,
            escalation=EscalationPolicy({AlarmSeverity.CRITICAL: escalation_s}))
        feature = NotifyFeature(notify_store, settings, senders, AckLinks(b"a" * 32, 600),
                                RetryPolicy(initial_s=0.2, max_s=1.0, max_attempts=5))
        rule_store = PostgresAlarmRuleStore(store.pool)
        rules = [AlarmRulesFeature(rule_store, rule_store, "Asia/Shanghai")] if alarm_rules else []
        controller_settings = ControllerSettings(
            mqtt_url=broker_url, topic_prefix=prefix, client_id=f"ctl-{uuid.uuid4().hex[:8]}",
            presence_check_interval_s=0.2)
        controller = HallController(
            controller_settings, store, controller_bus(controller_settings),
            [DeviceIdentityFeature(MemoryProvisioningStore(), True, broker_url=broker_url),
             feature, *rules])
        async with controller.running():
            await controller.bus.connected.wait()
            yield NotifyHall(controller, controller.services.get(NotificationService),
                             notify_store, mail, apis, *people)
