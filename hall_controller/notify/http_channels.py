"""SMS through a configurable HTTP gateway, and the online platform's message centre through
a signed webhook.

SMS gateways differ (Aliyun, Tencent Cloud, a campus SMS platform); the hall speaks to any of
them through a template: the URL, the method, headers, and the body fields, whose values may
hold ``{phone}``, ``{text}`` and ``{subject}``. The gateway took the message when it answers
2xx and, if ``success_field`` is set, that field of its JSON answer equals ``success_value``
(many gateways answer 200 with an error code inside).

The webhook is signed as the case webhooks are (``cases.webhooks.sign``: ``X-Hall-Signature``
over the raw body, ``X-Hall-Timestamp`` equal to the body's ``sent_at_ms``), so the platform
checks it with the code it already has. Its URL comes from the config an admin writes, not
from the API.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from devices.contract import now_ms
from hall_controller.cases.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from hall_controller.notify.model import Channel, OutgoingMessage
from hall_controller.notify.ports import SendFailed

PLACEHOLDERS = frozenset({"phone", "text", "subject"})


@dataclass(frozen=True, slots=True)
class SmsTemplate:
    url: str
    method: str = "POST"                     # POST or GET (fields go in the query)
    encoding: str = "json"                   # json or form, for POST
    headers: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)
    success_field: str = ""                  # dotted path in the JSON answer
    success_value: str = ""
    max_chars: int = 300


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` replaced; unknown names were refused by the config."""
    out = template
    for name, value in values.items():
        out = out.replace("{" + name + "}", value)
    return out


def _field(answer: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(answer, dict) or part not in answer:
            return None
        answer = answer[part]
    return answer


def _http_failure(channel: str, status: int) -> SendFailed:
    return SendFailed(f"{channel}: HTTP {status}", retryable=status >= 500 or status in (408, 429))


class SmsGatewaySender:
    channel = Channel.SMS

    def __init__(self, template: SmsTemplate, *, timeout_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._template = template
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport,
                                         follow_redirects=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, message: OutgoingMessage) -> None:
        t = self._template
        text = message.text if len(message.text) <= t.max_chars \
            else message.text[:t.max_chars - 1] + "…"
        values = {"phone": message.address, "text": text, "subject": message.subject}
        fields = {k: fill(v, values) for k, v in t.fields.items()}
        headers = {k: fill(v, values) for k, v in t.headers.items()}
        try:
            if t.method == "GET":
                response = await self._client.get(t.url, params=fields, headers=headers)
            elif t.encoding == "form":
                response = await self._client.post(t.url, data=fields, headers=headers)
            else:
                response = await self._client.post(t.url, json=fields, headers=headers)
        except httpx.HTTPError as exc:
            raise SendFailed(f"sms gateway: {type(exc).__name__}", retryable=True) from exc
        if not 200 <= response.status_code < 300:
            raise _http_failure("sms gateway", response.status_code)
        if t.success_field:
            try:
                got = _field(response.json(), t.success_field)
            except ValueError:
                got = None
            if str(got) != t.success_value:
                raise SendFailed(f"sms gateway refused: {t.success_field}={str(got)[:100]}",
                                 retryable=False)


class PlatformWebhookSender:
    channel = Channel.WEBHOOK

    def __init__(self, url: str, secret: str, *, timeout_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._url, self._secret = url, secret
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport,
                                         follow_redirects=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, message: OutgoingMessage) -> None:
        sent_at = now_ms()
        body = json.dumps({"type": "alarm.notification", "user": message.address,
                           "subject": message.subject, "text": message.text,
                           "link": message.link, "sent_at_ms": sent_at},
                          ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json; charset=utf-8",
                   SIGNATURE_HEADER: sign(self._secret, body), TIMESTAMP_HEADER: str(sent_at)}
        try:
            response = await self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SendFailed(f"webhook: {type(exc).__name__}", retryable=True) from exc
        if not 200 <= response.status_code < 300:
            raise _http_failure("webhook", response.status_code)
