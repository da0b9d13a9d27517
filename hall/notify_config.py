"""``[notify]``: alarm notification — its timing, and the channels with their secrets.

A channel is on when its table is there (``[notify.email]``, ``[notify.wecom]``, ...); a
recipient's channel that the hall has not configured is skipped and the delivery log says so.
Secrets can come from the environment instead (``HALL_NOTIFY_*``, see ``hall/config.py``).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from hall.config_sections import ConfigSection, Port, Seconds
from hall_controller.fleet.model import AlarmSeverity

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
SMS_PLACEHOLDERS = frozenset({"phone", "text", "subject"})


def _http_url(value: str, key: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{key} must be an http:// or https:// URL")
    return value.rstrip("/")


class EmailChannelConfig(ConfigSection):
    host: str = Field(min_length=1, description="the SMTP server")
    port: Port = 587
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="the From address")
    username: str = ""
    password: str = Field(default="", description="or HALL_NOTIFY_EMAIL_PASSWORD")
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="starttls (587), tls (implicit, 465), none (a relay "
                                        "on localhost only)")
    timeout_s: Seconds = 15.0

    @model_validator(mode="after")
    def _no_password_in_clear(self) -> EmailChannelConfig:
        if self.security == "none" and self.password and self.host not in ("127.0.0.1",
                                                                           "localhost", "::1"):
            raise ValueError("notify.email: a password over an unencrypted connection to "
                             f"{self.host}; set security = \"starttls\" or \"tls\"")
        return self


class WorkAppConfig(ConfigSection):
    """WeCom: ``key`` is the corp id (corpid), ``secret`` the app's secret; DingTalk: the
    app key and app secret. ``agent_id``: the app's AgentId."""

    key: str = Field(min_length=1)
    secret: str = Field(min_length=1, description="or HALL_NOTIFY_WECOM_SECRET / "
                                                  "HALL_NOTIFY_DINGTALK_SECRET")
    agent_id: Annotated[int, Field(ge=0)]
    api_base: str = ""
    timeout_s: Seconds = 10.0

    @field_validator("api_base")
    @classmethod
    def _base(cls, value: str) -> str:
        return _http_url(value, "api_base") if value else value


class SmsGatewayConfig(ConfigSection):
    url: str
    method: Literal["POST", "GET"] = "POST"
    encoding: Literal["json", "form"] = "json"
    headers: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, str] = Field(description="the request's fields; values may hold {phone}, "
                                               "{text}, {subject}")
    success_field: str = Field(default="", description="dotted path in the JSON answer")
    success_value: str = ""
    max_chars: Annotated[int, Field(ge=20, le=1000)] = 300
    timeout_s: Seconds = 10.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value, "url")

    @model_validator(mode="after")
    def _placeholders(self) -> SmsGatewayConfig:
        for where, table in (("fields", self.fields), ("headers", self.headers)):
            for name, value in table.items():
                unknown = set(_PLACEHOLDER.findall(value)) - SMS_PLACEHOLDERS
                if unknown:
                    raise ValueError(f"notify.sms.{where}.{name}: unknown placeholder "
                                     f"{{{sorted(unknown)[0]}}}; use {{phone}}, {{text}} "
                                     "or {subject}")
        if not any("{phone}" in v for v in self.fields.values()):
            raise ValueError("notify.sms.fields: no field holds {phone}")
        if not any("{text}" in v for v in self.fields.values()):
            raise ValueError("notify.sms.fields: no field holds {text}")
        return self


class PlatformWebhookConfig(ConfigSection):
    url: str
    secret: str = Field(min_length=32, description="signs each body (X-Hall-Signature); or "
                                                   "HALL_NOTIFY_WEBHOOK_SECRET")
    timeout_s: Seconds = 10.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value, "url")


class EscalationConfig(ConfigSection):
    """Seconds after an alarm is raised at which it goes to the supervisor, then to the
    facilities manager, while nobody has acknowledged it; ``[]``: no escalation."""

    critical: list[Annotated[float, Field(gt=0)]] = Field(default_factory=lambda: [300.0, 900.0])
    major: list[Annotated[float, Field(gt=0)]] = Field(default_factory=lambda: [900.0, 3600.0])
    minor: list[Annotated[float, Field(gt=0)]] = Field(default_factory=list)
    warning: list[Annotated[float, Field(gt=0)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _increasing(self) -> EscalationConfig:
        for severity in AlarmSeverity:
            steps = getattr(self, severity.value)
            if len(steps) > 2:
                raise ValueError(f"notify.escalation.{severity.value}: at most two steps "
                                 "(supervisor, facilities manager)")
            if steps != sorted(steps) or len(set(steps)) != len(steps):
                raise ValueError(f"notify.escalation.{severity.value}: each step comes after "
                                 "the one before")
        return self


class NotifyConfig(ConfigSection):
    enabled: bool = True
    public_url: str = Field(default="", description=(
        "the address people open the hall's pages at (https://hall.example.edu); the "
        "acknowledgement links in messages point there. Empty: messages carry no link"))
    ack_link_ttl_s: Annotated[float, Field(ge=60, le=7 * 86400)] = 24 * 3600
    ack_secret: str = Field(default="", description="signs acknowledgement links; empty → "
                                                    "derived from the auth secret")
    digest_severities: list[AlarmSeverity] = Field(
        default_factory=lambda: [AlarmSeverity.MINOR, AlarmSeverity.WARNING])
    digest_interval_s: Annotated[float, Field(ge=1)] = 900
    flapping_window_s: Annotated[float, Field(ge=1)] = 600
    flapping_threshold: Annotated[int, Field(ge=2)] = 4
    tick_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    grace_s: dict[str, Annotated[float, Field(ge=0, le=3600)]] = Field(
        default_factory=lambda: {"device.offline": 60.0},
        description="alarm type → seconds it must stay active before anyone is told (a "
                    "device that reboots comes back within it)")
    retry_initial_s: Seconds = 5.0
    retry_max_s: Seconds = 600.0
    retry_max_attempts: Annotated[int, Field(ge=1, le=50)] = 8
    escalation: EscalationConfig = EscalationConfig()
    email: EmailChannelConfig | None = None
    wecom: WorkAppConfig | None = None
    dingtalk: WorkAppConfig | None = None
    sms: SmsGatewayConfig | None = None
    webhook: PlatformWebhookConfig | None = None

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str) -> str:
        return _http_url(value, "public_url") if value else value

    @field_validator("ack_secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError("expected at least 32 characters (or empty to derive one)")
        return value
