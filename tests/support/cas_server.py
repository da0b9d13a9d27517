"""A small CAS 3.0 server for the sign-on tests, built from the Apereo CAS Protocol 3.0
specification (no CAS server package runs here): ``/cas/login`` (credential form, a ticket
granting cookie, ``renew``-less single sign-on), ``/cas/p3/serviceValidate`` (attributes,
``INVALID_TICKET``, ``INVALID_SERVICE``, ``INVALID_REQUEST``), ``/cas/logout`` (single logout
to every service a ticket was issued for, then the ``service`` redirect).

Runs in a thread of the test process over real HTTP. Service tickets are single-use and
expire after 10 s (spec §3.1.1: a ticket is valid for one validation attempt, whatever its
outcome). Every account's password is ``PASSWORD``.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

PASSWORD = "campus-password"
TICKET_TTL_S = 10

ACCOUNTS: dict[str, dict[str, Any]] = {
    "zhang.wei": {"groups": ["hall-clerks"], "人员类别": "教职工", "student_id": "T2001"},
    "wang.fang": {"groups": [], "人员类别": "本科生", "student_id": "S2024001"},
    "visitor.x": {"groups": ["library-only"], "人员类别": "校友"},
}


@dataclass
class _Ticket:
    user: str
    service: str
    issued_at: float


@dataclass
class CasState:
    tickets: dict[str, _Ticket] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)            # TGC → user
    issued: dict[str, list[_Ticket | str]] = field(default_factory=dict)  # TGC → [ST, service]
    logout_posts: list[tuple[str, int]] = field(default_factory=list)


def _success(user: str) -> str:
    attributes = "".join(
        f"<cas:{name}>{html.escape(str(v))}</cas:{name}>"
        for name, value in ACCOUNTS[user].items()
        for v in (value if isinstance(value, list) else [value]))
    return ("<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'>"
            f"<cas:authenticationSuccess><cas:user>{html.escape(user)}</cas:user>"
            f"<cas:attributes>{attributes}</cas:attributes>"
            "</cas:authenticationSuccess></cas:serviceResponse>")


def _failure(code: str, text: str) -> str:
    return ("<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'>"
            f"<cas:authenticationFailure code='{code}'>{html.escape(text)}"
            "</cas:authenticationFailure></cas:serviceResponse>")


def _logout_request(ticket: str) -> str:
    return ("<samlp:LogoutRequest xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol' "
            "xmlns:saml='urn:oasis:names:tc:SAML:2.0:assertion' "
            f"ID='{secrets.token_hex(8)}' Version='2.0' IssueInstant='now'>"
            "<saml:NameID>@NOT_USED@</saml:NameID>"
            f"<samlp:SessionIndex>{ticket}</samlp:SessionIndex></samlp:LogoutRequest>")


def _handler(state: CasState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, body: str = "", headers: dict[str, str] | None = None,
                  content_type: str = "text/html; charset=utf-8") -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _tgc(self) -> str | None:
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
            tgc = cookie.get("CASTGC")
            return tgc.value if tgc is not None and tgc.value in state.sessions else None

        def _grant(self, tgc: str, service: str, extra: dict[str, str] | None = None) -> None:
            ticket = "ST-" + secrets.token_urlsafe(24)
            state.tickets[ticket] = _Ticket(state.sessions[tgc], service, time.time())
            state.issued.setdefault(tgc, []).append(ticket)
            state.issued[tgc].append(service)
            joiner = "&" if "?" in service else "?"
            self._send(303, headers={"Location": f"{service}{joiner}ticket={ticket}",
                                     **(extra or {})})

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/cas/login":
                service = query.get("service", "")
                tgc = self._tgc()
                if tgc is not None and service:
                    self._grant(tgc, service)   # single sign-on: no form the second time
                    return
                self._send(200, f"""<!doctype html><title>CAS 统一身份认证</title>
                    <form method="post" action="/cas/login">
                    <input type="hidden" name="service" value="{html.escape(service)}">
                    <label>用户名 <input name="username"></label>
                    <label>密码 <input name="password" type="password"></label>
                    <button type="submit">登录</button></form>""")
            elif url.path == "/cas/p3/serviceValidate":
                self._validate(query)
            elif url.path == "/cas/logout":
                self._logout(query.get("service"))
            else:
                self._send(404, "not found")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path != "/cas/login":
                self._send(404, "not found")
                return
            user = form.get("username", "")
            if user not in ACCOUNTS or form.get("password") != PASSWORD:
                self._send(401, "<p>用户名或密码错误</p>")
                return
            tgc = "TGT-" + secrets.token_urlsafe(24)
            state.sessions[tgc] = user
            self._grant(tgc, form.get("service", ""),
                        {"Set-Cookie": f"CASTGC={tgc}; Path=/cas; HttpOnly"})

        def _validate(self, query: dict[str, str]) -> None:
            xml = "application/xml; charset=utf-8"
            if "service" not in query or "ticket" not in query:
                self._send(200, _failure("INVALID_REQUEST", "service and ticket are required"),
                           content_type=xml)
                return
            ticket = state.tickets.pop(query["ticket"], None)   # one validation attempt only
            if ticket is None or time.time() - ticket.issued_at > TICKET_TTL_S:
                self._send(200, _failure("INVALID_TICKET", f"Ticket {query['ticket']} not "
                                                           "recognized"), content_type=xml)
            elif ticket.service != query["service"]:
                self._send(200, _failure("INVALID_SERVICE", "the ticket was issued for "
                                                            "another service"), content_type=xml)
            else:
                self._send(200, _success(ticket.user), content_type=xml)

        def _logout(self, service: str | None) -> None:
            tgc = self._tgc()
            if tgc is not None:
                issued = state.issued.pop(tgc, [])
                for ticket, target in zip(issued[::2], issued[1::2], strict=True):
                    # Back channel, to each service the session signed on to (spec §2.3.3).
                    # A service that does not answer must not keep the user from logging out.
                    try:
                        status = httpx.post(str(target), timeout=10, data={
                            "logoutRequest": _logout_request(str(ticket))}).status_code
                    except httpx.HTTPError:
                        status = 0
                    state.logout_posts.append((str(target), status))
                del state.sessions[tgc]
            headers = {"Set-Cookie": "CASTGC=; Path=/cas; Max-Age=0"}
            if service:
                headers["Location"] = service
                self._send(303, headers=headers)
            else:
                self._send(200, "<p>已退出统一身份认证</p>", headers=headers)

    return Handler


@contextmanager
def cas_server() -> Iterator[tuple[str, CasState]]:
    """``(prefix, state)``: the server's ``/cas`` prefix URL, and what it holds."""
    state = CasState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, name="test-cas", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/cas", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


