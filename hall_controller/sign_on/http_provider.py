"""``ProviderHttp`` over httpx: the identity provider's endpoints, with timeouts and a cap on
answer sizes (a provider is trusted, but a wrong URL in the config must not hang a login)."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote_plus

import httpx

from hall_controller.sign_on.ports import ProviderUnreachable

_MAX_ANSWER_BYTES = 256 * 1024


class HttpxProvider:
    """One client for the life of the controller (``aclose`` when it stops)."""

    def __init__(self, *, timeout_s: float = 10.0, verify: bool | str = True) -> None:
        self._client = httpx.AsyncClient(timeout=timeout_s, verify=verify,
                                         follow_redirects=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get_json(self, url: str, *, bearer: str | None = None) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        return await self._send(self._client.build_request("GET", url, headers=headers))

    async def get_text(self, url: str) -> tuple[int, bytes]:
        try:
            async with self._client.stream("GET", url) as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_ANSWER_BYTES:
                        raise ProviderUnreachable(f"{url} answered more than "
                                                  f"{_MAX_ANSWER_BYTES} bytes")
        except httpx.HTTPError as exc:
            raise ProviderUnreachable(f"{type(exc).__name__}") from None
        return response.status_code, body

    async def post_form(self, url: str, form: dict[str, str],
                        basic_auth: tuple[str, str] | None = None) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if basic_auth is not None:
            # RFC 6749 §2.3.1: id and secret are form-encoded before the Basic encoding.
            pair = f"{quote_plus(basic_auth[0])}:{quote_plus(basic_auth[1])}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return await self._send(self._client.build_request("POST", url, data=form,
                                                           headers=headers))

    async def _send(self, request: httpx.Request) -> dict[str, Any]:
        try:
            response = await self._client.send(request, stream=True)
            try:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_ANSWER_BYTES:
                        raise ProviderUnreachable(f"{request.url} answered more than "
                                                  f"{_MAX_ANSWER_BYTES} bytes")
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise ProviderUnreachable(f"{request.url.host}: {type(exc).__name__}") from None
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            raise ProviderUnreachable(f"{request.url} answered {response.status_code} "
                                      "without JSON") from None
        if not isinstance(parsed, dict):
            raise ProviderUnreachable(f"{request.url} answered JSON that is not an object")
        if response.status_code >= 400:
            parsed["_status"] = response.status_code
        return parsed
