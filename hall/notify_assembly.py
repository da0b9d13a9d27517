"""The notify feature built from ``[notify]``: one sender per configured channel, the ack link
signer, the timing. Part of the composition root (``hall.assembly`` calls ``notify_feature``)."""

from __future__ import annotations

import hashlib
import hmac
from zoneinfo import ZoneInfo

from hall.notify_config import NotifyConfig
from hall_controller.cases.webhooks import RetryPolicy
from hall_controller.fleet.model import AlarmSeverity
from hall_controller.notify.email_channel import EmailSender, SmtpSettings
from hall_controller.notify.http_channels import (
    PlatformWebhookSender,
    SmsGatewaySender,
    SmsTemplate,
)
from hall_controller.notify.model import Channel
from hall_controller.notify.ports import ChannelSender, NotifyStore
from hall_controller.notify.rules import AckLinks, EscalationPolicy
from hall_controller.notify.service import NotifySettings
from hall_controller.notify.work_apps import DINGTALK, WECOM, WorkAppSender
from hall_controller.runtime import Feature

WECOM_API = "https://qyapi.weixin.qq.com"
DINGTALK_API = "https://oapi.dingtalk.com"


def channel_senders(config: NotifyConfig) -> dict[Channel, ChannelSender]:
    """A sender for each channel whose table is in the config."""
    senders: dict[Channel, ChannelSender] = {}
    if config.email is not None:
        e = config.email
        senders[Channel.EMAIL] = EmailSender(SmtpSettings(
            host=e.host, port=e.port, sender=e.sender, username=e.username, password=e.password,
            security=e.security, timeout_s=e.timeout_s))
    for channel, table, api, default_base in ((Channel.WECOM, config.wecom, WECOM, WECOM_API),
                                              (Channel.DINGTALK, config.dingtalk, DINGTALK,
                                               DINGTALK_API)):
        if table is not None:
            senders[channel] = WorkAppSender(
                api, base_url=table.api_base or default_base, key=table.key,
                secret=table.secret, agent_id=table.agent_id, timeout_s=table.timeout_s)
    if config.sms is not None:
        s = config.sms
        senders[Channel.SMS] = SmsGatewaySender(SmsTemplate(
            url=s.url, method=s.method, encoding=s.encoding, headers=s.headers, fields=s.fields,
            success_field=s.success_field, success_value=s.success_value,
            max_chars=s.max_chars), timeout_s=s.timeout_s)
    if config.webhook is not None:
        senders[Channel.WEBHOOK] = PlatformWebhookSender(
            config.webhook.url, config.webhook.secret, timeout_s=config.webhook.timeout_s)
    return senders


def notify_settings(config: NotifyConfig, timezone: str) -> NotifySettings:
    esc = config.escalation
    return NotifySettings(
        timezone=ZoneInfo(timezone),
        escalation=EscalationPolicy({s: tuple(getattr(esc, s.value)) for s in AlarmSeverity}),
        public_url=config.public_url, digest_severities=frozenset(config.digest_severities),
        digest_interval_s=config.digest_interval_s, flapping_window_s=config.flapping_window_s,
        flapping_threshold=config.flapping_threshold, tick_s=config.tick_s,
        grace_s=dict(config.grace_s))


def ack_links(config: NotifyConfig, auth_secret: str) -> AckLinks:
    """The configured link secret, else one derived from the auth secret (a separate key, so
    a link can never pass for a login token or the other way round)."""
    secret = config.ack_secret.encode() if config.ack_secret else hmac.new(
        auth_secret.encode(), b"hall alarm acknowledgement links v1", hashlib.sha256).digest()
    return AckLinks(secret, config.ack_link_ttl_s)


def notify_feature(config: NotifyConfig, store: NotifyStore, *, timezone: str,
                   auth_secret: str) -> Feature:
    from hall_controller.features import NotifyFeature

    return NotifyFeature(
        store, notify_settings(config, timezone), channel_senders(config),
        ack_links(config, auth_secret),
        RetryPolicy(initial_s=config.retry_initial_s, max_s=config.retry_max_s,
                    max_attempts=config.retry_max_attempts))
