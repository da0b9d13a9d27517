"""Request body limits: a size cap and a deadline, enforced before any route reads the body.

FastAPI reads and parses a request's body (JSON or a form) before it solves the route's
dependencies, so before a login is checked or a bearer token is looked at: without a cap, anyone
who can reach the port can make the controller hold a huge body in memory (or spool it to disk),
and a client that sends its body slowly holds a connection and a task for as long as it likes.
``RequestLimits`` is a pure ASGI middleware outside the routes:

- a ``Content-Length`` over the limit is refused with 413 at once: the application is never
  called, so no route, dependency or password hash runs, and a client that sent
  ``Expect: 100-continue`` is not even asked for the body;
- a body without a length (chunked) is counted as it arrives, and refused with 413 as soon as it
  passes the limit;
- a body that has not fully arrived ``body_timeout_s`` after the request's headers gets 408.

Two limits, chosen by the body's type: ``multipart/form-data`` is how photos are uploaded (face
enrolment takes up to ten photos of up to 10 MiB each), and Starlette spools its file parts to
disk and caps its text parts at 1 MiB, so a large multipart body never sits whole in memory;
every other body (JSON, a login form) is read whole into memory and parsed, so it gets the small
limit.

A refusal carries ``Connection: close``: the client may still be sending the rest of its body,
and that connection cannot be reused. The application, if it was reading, is told the client
went away (``http.disconnect``) and whatever it answers after that is dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import code_for_status, error_body
from hall_controller.access.rules import MAX_FACES_PER_PERSON
from hall_controller.access.service import MAX_PHOTO_BYTES

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 1 * MIB
# The largest legitimate upload, face enrolment: MAX_FACES_PER_PERSON photos of MAX_PHOTO_BYTES
# each (10 × 10 MiB), plus room for the multipart boundaries and part headers.
DEFAULT_MAX_UPLOAD_BYTES = MAX_FACES_PER_PERSON * MAX_PHOTO_BYTES + MIB
DEFAULT_BODY_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """``max_body_bytes`` for ordinary bodies, ``max_upload_bytes`` for ``multipart/form-data``,
    and the time a whole body may take to arrive."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.max_body_bytes < 0 or self.max_upload_bytes < 0 or self.body_timeout_s <= 0:
            raise ValueError(f"body limits must be positive: {self}")

    def limit_for(self, content_type: str) -> int:
        """The limit for a body of ``content_type`` (the header's value, parameters and all)."""
        media_type = content_type.split(";", 1)[0].strip().lower()
        return self.max_upload_bytes if media_type == "multipart/form-data" else self.max_body_bytes


class RequestLimits:
    """The ASGI middleware: wraps ``app`` and enforces ``limits`` on every HTTP request."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        content_type, content_length = _body_headers(scope)
        limit = self.limits.limit_for(content_type)
        if content_length is not None and content_length > limit:
            logger.info("refused a %d-byte body (limit %d) for %s %s", content_length, limit,
                        scope["method"], scope["path"],
                        extra={"path": scope["path"], "content_length": content_length})
            await _refuse(send, 413, _too_large(limit))
            return
        await _LimitedRequest(self.app, scope, receive, send, limit=limit,
                              timeout_s=self.limits.body_timeout_s).run()


class _LimitedRequest:
    """One request whose body is counted and timed while the application reads it."""

    def __init__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, *, limit: int,
                 timeout_s: float) -> None:
        self.app = app
        self.scope = scope
        self._receive = receive
        self._send = send
        self.limit = limit
        self.deadline = asyncio.get_running_loop().time() + timeout_s
        self.timeout_s = timeout_s
        self.received = 0
        self.body_done = False
        self.response_started = False
        self.refused = False

    async def run(self) -> None:
        try:
            await self.app(self.scope, self.receive, self.send)
        except Exception:
            # Once refused, the application only saw a disconnect; whatever it raised about
            # that is noise, since the client already has its answer.
            if not self.refused:
                raise
            logger.debug("after refusing %s: the application raised", self.scope["path"],
                         exc_info=True)

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        if self.body_done:
            # The body is in: what is left to receive is the disconnect a streaming response
            # waits for, however long that takes.
            return await self._receive()
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self._receive()
        except TimeoutError:
            return await self._refuse(408, f"the request body did not arrive within "
                                           f"{self.timeout_s:g} s")
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                return await self._refuse(413, _too_large(self.limit))
            self.body_done = not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the refusal was the answer
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)

    async def _refuse(self, status: int, detail: str) -> Message:
        self.refused = True
        logger.info("refused the body of %s %s: %s", self.scope["method"], self.scope["path"],
                    detail, extra={"path": self.scope["path"], "status": status})
        if not self.response_started:
            await _refuse(self._send, status, detail)
        return {"type": "http.disconnect"}


def _body_headers(scope: Scope) -> tuple[str, int | None]:
    """The request's content type and its declared length (None when absent or unreadable;
    the server refuses a malformed length itself)."""
    content_type = ""
    content_length: int | None = None
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value.decode("latin-1")
        elif name == b"content-length":
            try:
                content_length = int(value)
            except ValueError:
                content_length = None
    return content_type, content_length


def _too_large(limit: int) -> str:
    return f"the request body is over the limit of {limit} bytes"


async def _refuse(send: Send, status: int, detail: str) -> None:
    """Answer like the application's other errors: ``{"detail", "code", "params"}``."""
    body = json.dumps(error_body(detail, code_for_status(status))).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": body})
