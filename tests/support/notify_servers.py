"""Real servers for the notification channels, started by the tests: an SMTP server
(aiosmtpd) that keeps what it receives, and one stdlib HTTP server that plays WeCom, DingTalk
and an SMS gateway, checking each request against the documented shape and answering with
the documented error codes.

``ChannelServer.expire_token()`` makes the current access token of both APIs stale: the next
send with it is answered ``errcode 42001`` (WeCom) / ``40014`` (DingTalk), as the real APIs
do when a token was revoked or outlived.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ReceivedMail:
    message: EmailMessage
    recipients: list[str]
    at: float   # time.time() when the server had it


@dataclass
class MailSink:
    """aiosmtpd handler: keeps every message; addresses in ``refuse`` get a 550."""

    mails: list[ReceivedMail] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    # aiosmtpd finds its hooks by these names.
    async def handle_RCPT(  # noqa: N802
            self, server: SMTP, session: Session, envelope: Envelope, address: str,
            rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
            self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.mails.append(ReceivedMail(message, list(envelope.rcpt_tos), time.time()))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.mails if address in m.recipients]


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[MailSink, int]]:
    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@dataclass
class ChannelServer:
    """State shared with the HTTP handler."""

    corp_id: str = "ww-corp"
    corp_secret: str = "wecom-secret"
    app_key: str = "ding-key"
    app_secret: str = "ding-secret"
    agent_id: int = 1000002
    tokens_issued: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    wecom: list[dict[str, Any]] = field(default_factory=list)
    dingtalk: list[dict[str, Any]] = field(default_factory=list)
    sms: list[dict[str, Any]] = field(default_factory=list)
    refused_tokens: int = 0
    sms_status: int = 200
    # DingTalk's newer gateway answers a bad token as errcode 88 with the old code in sub_code.
    dingtalk_wraps_errors: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def expire_token(self) -> None:
        with self.lock:
            self.valid_tokens.clear()

    def issue(self) -> str:
        with self.lock:
            self.tokens_issued += 1
            token = f"tok-{self.tokens_issued}"
            self.valid_tokens.add(token)
            return token


def _handler(state: ChannelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:   # quiet
            return None

        def _answer(self, body: dict[str, Any], status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/cgi-bin/gettoken":       # WeCom
                if q.get("corpid") != state.corp_id or q.get("corpsecret") != state.corp_secret:
                    self._answer({"errcode": 40001, "errmsg": "invalid credential"})
                    return
                self._answer({"errcode": 0, "errmsg": "ok", "access_token": state.issue(),
                              "expires_in": 7200})
            elif url.path == "/gettoken":             # DingTalk
                if q.get("appkey") != state.app_key or q.get("appsecret") != state.app_secret:
                    self._answer({"errcode": 40089, "errmsg": "不合法的corpid或corpsecret"})
                    return
                self._answer({"errcode": 0, "errmsg": "ok", "access_token": state.issue(),
                              "expires_in": 7200})
            else:
                self._answer({"errcode": 404}, 404)

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if url.path == "/sms":
                self._sms(raw)
                return
            body = json.loads(raw)
            token_ok = q.get("access_token") in state.valid_tokens
            if url.path == "/cgi-bin/message/send":
                if not token_ok:
                    state.refused_tokens += 1
                    self._answer({"errcode": 42001, "errmsg": "access_token expired"})
                    return
                assert body["msgtype"] == "text" and body["agentid"] == state.agent_id, body
                assert isinstance(body["touser"], str) and body["text"]["content"], body
                if body["touser"] == "nobody":
                    self._answer({"errcode": 0, "errmsg": "ok", "invaliduser": "nobody"})
                    return
                state.wecom.append(body)
                self._answer({"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": "m1"})
            elif url.path == "/topapi/message/corpconversation/asyncsend_v2":
                if not token_ok:
                    state.refused_tokens += 1
                    if state.dingtalk_wraps_errors:
                        self._answer({"errcode": 88, "sub_code": "40014",
                                      "sub_msg": "不合法的access_token", "errmsg": "ding talk error"})
                    else:
                        self._answer({"errcode": 40014, "errmsg": "不合法的access_token"})
                    return
                assert body["agent_id"] == state.agent_id, body
                assert body["msg"]["msgtype"] == "text" and body["msg"]["text"]["content"]
                assert isinstance(body["userid_list"], str), body
                state.dingtalk.append(body)
                self._answer({"errcode": 0, "errmsg": "ok", "task_id": 256,
                              "request_id": "r1"})
            else:
                self._answer({"errcode": 404}, 404)

        def _sms(self, raw: bytes) -> None:
            # A gateway in the style of the big cloud ones: 200 with a code inside.
            if state.sms_status != 200:
                self._answer({"Code": "ServiceUnavailable"}, state.sms_status)
                return
            if self.headers.get("Authorization") != "Bearer sms-key":
                self._answer({"Code": "InvalidAccessKeyId"}, 200)
                return
            body = json.loads(raw)
            if not str(body.get("PhoneNumbers", "")).isdigit():
                self._answer({"Code": "isv.MOBILE_NUMBER_ILLEGAL"}, 200)
                return
            state.sms.append(body)
            self._answer({"Code": "OK", "BizId": "b1"}, 200)

    return Handler


@contextlib.contextmanager
def channel_server() -> Iterator[ChannelServer]:
    state = ChannelServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="channel-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
