"""Security headers on every response: the pages', the API's and the API docs'.

The pages are plain ES modules and style sheets served by the controller itself, with no
inline script, inline event handler, ``javascript:`` URL or inline style, so their policy allows
only the controller's own files (``PAGE_POLICY``): a script injected into a page (say, through a
device name that escaped escaping) does not run. The API's JSON answers carry the same headers;
they cost nothing there and cover a browser that is tricked into rendering one.

A response that brings its own ``Content-Security-Policy`` keeps it: only the API docs do
(``/docs`` and ``/redoc``, see ``api.api_docs``), because Swagger UI is started by an inline
script that their policy allows by a per-response nonce (``docs_policy``).

``Strict-Transport-Security`` is sent only when the app is told that its clients reach it over
HTTPS (``hsts=True``, from ``http.hsts`` in the config): sent over plain HTTP on a campus LAN it
would be ignored at best, and behind a TLS proxy the app cannot see the scheme itself.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Everything the pages load comes from the controller: their modules, style sheets and the live
# streams (fetch, so connect-src). No page embeds an image, a font or a frame.
PAGE_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
])
HSTS_VALUE = "max-age=31536000"   # a year; no includeSubDomains: other campus hosts are not ours
_CSP = b"content-security-policy"


def docs_policy(nonce: str) -> str:
    """The policy of the Swagger UI and ReDoc pages: their bundles come from the controller
    (fastapi-offline ships them), their one inline script runs by ``nonce``. What else they
    need was found in Chromium (tests/browser/test_security_policy.py): ReDoc draws with
    styled-components, which writes ``<style>`` tags (hence inline styles, for these pages only;
    no script can run from a style); Swagger UI's icons are ``data:`` SVG images; ReDoc's search
    runs in a worker made from a ``blob:`` URL. ReDoc's Redocly logo on a CDN stays blocked."""
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ])


class SecurityHeaders:
    """ASGI middleware: adds the headers to every HTTP response of ``app``."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.headers: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
        ]
        if hsts:
            self.headers.append((b"strict-transport-security", HSTS_VALUE.encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in self.headers if h[0] not in present)
                if _CSP not in present:
                    headers.append((_CSP, PAGE_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
