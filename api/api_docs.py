"""The API docs pages, ``/docs`` (Swagger UI) and ``/redoc``, each with a policy of its own.

FastAPIOffline serves the Swagger UI and ReDoc bundles from the app (no CDN); these routes
replace its three HTML pages with the same pages plus a Content-Security-Policy. Swagger UI is
started by an inline ``<script>`` (so is the OAuth2 redirect page), which the pages' policy
(``script-src 'self'``) would block. Rather than exempt the docs from a policy, each response
gets a fresh random nonce: the page's own ``<script>`` tags carry it and its policy allows
scripts with that nonce and nothing else inline, so a script injected into the page still does
not run.
"""

from __future__ import annotations

import re
import secrets

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

from api.security_headers import docs_policy

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
# Where FastAPIOffline mounts the bundles it ships (its default).
DOCS_STATIC_URL = "/static-offline-docs"
_SCRIPT_TAG = re.compile(r"<script(?=[\s>])", re.IGNORECASE)


def mount_api_docs(app: FastAPI) -> None:
    """Add ``/docs``, its OAuth2 redirect page and ``/redoc`` to ``app``, which must be built
    by FastAPIOffline with ``docs_url=None, redoc_url=None`` (its bundles, not its pages)."""
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or f"{DOCS_URL}/oauth2-redirect"

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _with_nonce(get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=oauth2_redirect_url,
            swagger_js_url=f"{root}{DOCS_STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_STATIC_URL}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        ))

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return _with_nonce(get_swagger_ui_oauth2_redirect_html())

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _with_nonce(get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_STATIC_URL}/favicon.png",
            with_google_fonts=False,
        ))


def _with_nonce(page: HTMLResponse) -> HTMLResponse:
    """``page`` with a fresh nonce on each of its ``<script>`` tags and the policy allowing it."""
    nonce = secrets.token_urlsafe(18)
    html = bytes(page.body).decode()
    html = _SCRIPT_TAG.sub(f'<script nonce="{nonce}"', html)
    return HTMLResponse(html, headers={"Content-Security-Policy": docs_policy(nonce)})
