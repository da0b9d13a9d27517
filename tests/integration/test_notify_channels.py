"""Each channel against a real server started here: mail through aiosmtpd, WeCom, DingTalk and
an SMS gateway played by an HTTP server that checks the documented request shapes and answers
the documented error codes, the platform webhook checked with the receiver's own verify."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hall_controller.cases.webhooks import verify
from hall_controller.notify.email_channel import EmailSender, SmtpSettings
from hall_controller.notify.http_channels import (
    PlatformWebhookSender,
    SmsGatewaySender,
    SmsTemplate,
)
from hall_controller.notify.model import Channel, OutgoingMessage
from hall_controller.notify.ports import SendFailed
from hall_controller.notify.work_apps import DINGTALK, WECOM, WorkAppSender
from tests.support.notify_servers import (
    ChannelServer,
    MailSink,
    channel_server,
    free_port,
    smtp_server,
)

TEXT = "[严重] 门被强行打开 — lock-3-101\n确认告警：https://hall.example.edu/pages/alarm-ack.html#t"


@pytest.fixture
def smtp() -> Iterator[tuple[MailSink, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def apis() -> Iterator[ChannelServer]:
    with channel_server() as server:
        yield server


def mail_sender(port: int) -> EmailSender:
    return EmailSender(SmtpSettings("127.0.0.1", port, "hall@campus.edu.cn", security="none",
                                    timeout_s=5))


async def test_mail_arrives_in_utf8_with_its_subject(smtp: tuple[MailSink, int]) -> None:
    sink, port = smtp
    await mail_sender(port).send(OutgoingMessage(
        Channel.EMAIL, "zhang@campus.edu.cn", "[严重] 门被强行打开 — lock-3-101", TEXT))
    [mail] = sink.to("zhang@campus.edu.cn")
    assert mail.message["Subject"] == "[严重] 门被强行打开 — lock-3-101"
    assert mail.message["From"] == "hall@campus.edu.cn"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert "确认告警" in mail.message.get_content()


async def test_mail_refused_by_the_server_is_permanent(smtp: tuple[MailSink, int]) -> None:
    sink, port = smtp
    sink.refuse.add("gone@campus.edu.cn")
    with pytest.raises(SendFailed) as failed:
        await mail_sender(port).send(OutgoingMessage(Channel.EMAIL, "gone@campus.edu.cn", "s",
                                                     "t"))
    assert not failed.value.retryable and "550" in str(failed.value)


async def test_mail_server_down_is_retryable() -> None:
    with pytest.raises(SendFailed) as failed:
        await mail_sender(free_port()).send(OutgoingMessage(Channel.EMAIL, "a@b.cn", "s", "t"))
    assert failed.value.retryable


def wecom(apis: ChannelServer, **kw: Any) -> WorkAppSender:
    return WorkAppSender(WECOM, base_url=apis.base, key=kw.get("key", apis.corp_id),
                         secret=apis.corp_secret, agent_id=apis.agent_id)


def dingtalk(apis: ChannelServer) -> WorkAppSender:
    return WorkAppSender(DINGTALK, base_url=apis.base, key=apis.app_key,
                         secret=apis.app_secret, agent_id=apis.agent_id)


@pytest.mark.parametrize("make", [wecom, dingtalk], ids=["wecom", "dingtalk"])
async def test_work_app_token_is_cached_and_refreshed_when_expired(
        apis: ChannelServer, make: Any) -> None:
    sender = make(apis)
    message = OutgoingMessage(sender.channel, "ZhangSan", "s", TEXT)
    await sender.send(message)
    await sender.send(message)
    assert apis.tokens_issued == 1            # one token for both sends
    apis.expire_token()                       # revoked: 42001 (WeCom) / 40014 (DingTalk)
    await sender.send(message)
    assert apis.tokens_issued == 2 and apis.refused_tokens == 1
    sent = apis.wecom if sender.channel is Channel.WECOM else apis.dingtalk
    assert len(sent) == 3
    if sender.channel is Channel.WECOM:
        assert sent[0]["touser"] == "ZhangSan" and sent[0]["text"]["content"] == TEXT
    else:
        assert sent[0]["userid_list"] == "ZhangSan"
        assert sent[0]["msg"]["text"]["content"] == TEXT
    await sender.aclose()


async def test_dingtalk_token_error_wrapped_in_errcode_88_is_refreshed_too(
        apis: ChannelServer) -> None:
    apis.dingtalk_wraps_errors = True
    sender = dingtalk(apis)
    message = OutgoingMessage(Channel.DINGTALK, "ZhangSan", "s", TEXT)
    await sender.send(message)
    apis.expire_token()
    await sender.send(message)
    assert (apis.tokens_issued, apis.refused_tokens, len(apis.dingtalk)) == (2, 1, 2)
    await sender.aclose()


async def test_wecom_wrong_credentials_and_unknown_user_are_permanent(
        apis: ChannelServer) -> None:
    bad = wecom(apis, key="another-corp")
    with pytest.raises(SendFailed) as failed:
        await bad.send(OutgoingMessage(Channel.WECOM, "ZhangSan", "s", "t"))
    assert not failed.value.retryable and "40001" in str(failed.value)
    with pytest.raises(SendFailed) as failed:
        await wecom(apis).send(OutgoingMessage(Channel.WECOM, "nobody", "s", "t"))
    assert not failed.value.retryable and "nobody" in str(failed.value)


def sms(apis: ChannelServer) -> SmsGatewaySender:
    return SmsGatewaySender(SmsTemplate(
        url=f"{apis.base}/sms", headers={"Authorization": "Bearer sms-key"},
        fields={"PhoneNumbers": "{phone}", "SignName": "校园服务大厅", "Text": "{text}"},
        success_field="Code", success_value="OK", max_chars=70))


async def test_sms_gateway_template_and_its_answers(apis: ChannelServer) -> None:
    await sms(apis).send(OutgoingMessage(Channel.SMS, "13800138000", "s", TEXT))
    [sent] = apis.sms
    assert sent["PhoneNumbers"] == "13800138000" and sent["SignName"] == "校园服务大厅"
    assert sent["Text"].startswith("[严重]") and len(sent["Text"]) == 70
    with pytest.raises(SendFailed) as refused:              # 200 with an error code inside
        await sms(apis).send(OutgoingMessage(Channel.SMS, "+86-138", "s", "t"))
    assert not refused.value.retryable and "MOBILE_NUMBER_ILLEGAL" in str(refused.value)
    apis.sms_status = 503
    with pytest.raises(SendFailed) as busy:
        await sms(apis).send(OutgoingMessage(Channel.SMS, "13800138000", "s", "t"))
    assert busy.value.retryable


async def test_platform_webhook_is_signed_as_case_webhooks_are() -> None:
    received: list[tuple[bytes, dict[str, str]]] = []

    class Receiver(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, dict(self.headers)))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = "s" * 32
    try:
        sender = PlatformWebhookSender(f"http://127.0.0.1:{server.server_address[1]}/msg",
                                       secret)
        await sender.send(OutgoingMessage(Channel.WEBHOOK, "20231234", "subj", TEXT, "https://l"))
        await sender.aclose()
    finally:
        server.shutdown()
        server.server_close()
    [(body, headers)] = received
    assert verify(secret, body, headers["X-Hall-Signature"], headers["X-Hall-Timestamp"])
    assert not verify("t" * 32, body, headers["X-Hall-Signature"], headers["X-Hall-Timestamp"])
    payload = json.loads(body)
    assert payload["user"] == "20231234" and payload["link"] == "https://l"
