"""WeCom (企业微信) application messages and DingTalk (钉钉) work notifications, following
their documented HTTP APIs.

Both hand out an ``access_token`` (valid ``expires_in`` seconds, 7200 today) from a
``gettoken`` call with the app's credentials; every send carries it as a query parameter. The
token is cached and shared by concurrent sends, fetched again a minute before it expires, and
fetched again at once (then the send retried once) when the API answers that it is invalid or
expired (errcode 40014 / 42001) — tokens can be revoked early, e.g. when the secret is reset.

- WeCom: ``GET /cgi-bin/gettoken?corpid=&corpsecret=``, then
  ``POST /cgi-bin/message/send?access_token=`` with
  ``{"touser": "<userid>", "msgtype": "text", "agentid": <int>, "text": {"content": ...}}``;
  an ``invaliduser`` in the answer means the user id is not in the app's visible range.
- DingTalk: ``GET /gettoken?appkey=&appsecret=``, then
  ``POST /topapi/message/corpconversation/asyncsend_v2?access_token=`` with
  ``{"agent_id": <int>, "userid_list": "<userid>", "msg": {"msgtype": "text", "text":
  {"content": ...}}}``; the answer carries a ``task_id``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from hall_controller.notify.model import Channel, OutgoingMessage
from hall_controller.notify.ports import SendFailed

TOKEN_ERRORS = frozenset({40014, 42001})   # invalid / expired access_token
# Busy or over the rate limit: worth trying again later. Anything else is permanent (a wrong
# user id, a missing permission, a wrong agent id) and retrying would fail the same way.
RETRYABLE_ERRORS = frozenset({-1, 45009, 45033, 90018})
MAX_TEXT_BYTES = 2000     # WeCom's text messages take 2048 bytes; DingTalk's more
_REFRESH_EARLY_S = 60.0


def _truncate(text: str, limit: int = MAX_TEXT_BYTES) -> str:
    raw = text.encode()
    return text if len(raw) <= limit else raw[:limit - 3].decode(errors="ignore") + "…"


@dataclass(frozen=True, slots=True)
class WorkAppApi:
    """One of the two APIs: where its token comes from and how a message is sent."""

    channel: Channel
    token_path: str
    send_path: str

    def token_params(self, key: str, secret: str) -> dict[str, str]:
        if self.channel is Channel.WECOM:
            return {"corpid": key, "corpsecret": secret}
        return {"appkey": key, "appsecret": secret}

    def body(self, agent_id: int, user: str, text: str) -> dict[str, Any]:
        content = {"content": _truncate(text)}
        if self.channel is Channel.WECOM:
            return {"touser": user, "msgtype": "text", "agentid": agent_id, "text": content,
                    "safe": 0}
        return {"agent_id": agent_id, "userid_list": user,
                "msg": {"msgtype": "text", "text": content}}


WECOM = WorkAppApi(Channel.WECOM, "/cgi-bin/gettoken", "/cgi-bin/message/send")
DINGTALK = WorkAppApi(Channel.DINGTALK, "/gettoken",
                      "/topapi/message/corpconversation/asyncsend_v2")


class WorkAppSender:
    """``ChannelSender`` for WeCom or DingTalk (``api``: ``WECOM`` or ``DINGTALK``)."""

    def __init__(self, api: WorkAppApi, *, base_url: str, key: str, secret: str,
                 agent_id: int, timeout_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.channel = api.channel
        self._api = api
        self._key, self._secret, self._agent_id = key, secret, agent_id
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s,
                                         transport=transport, follow_redirects=False)
        self._token: str | None = None
        self._expires_at = 0.0
        self._token_lock = asyncio.Lock()
        self.token_fetches = 0   # how often a token was fetched (tests and the log show it)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, message: OutgoingMessage) -> None:
        body = self._api.body(self._agent_id, message.address, message.text)
        token = await self._access_token()
        answer = await self._post(token, body)
        if _errcode(answer) in TOKEN_ERRORS:
            token = await self._access_token(stale=token)
            answer = await self._post(token, body)
        code = _errcode(answer)
        if code != 0:
            raise SendFailed(f"{self.channel.value} errcode {code}: "
                             f"{str(answer.get('errmsg', ''))[:200]}",
                             retryable=code in RETRYABLE_ERRORS or code in TOKEN_ERRORS)
        invalid = answer.get("invaliduser")
        if invalid:
            raise SendFailed(f"{self.channel.value}: user {invalid!s:.64} is not reachable "
                             "by the app", retryable=False)

    async def _access_token(self, stale: str | None = None) -> str:
        """The cached token, fetched when missing, near its expiry, or equal to ``stale``
        (the one the API just refused); concurrent callers share one fetch."""
        async with self._token_lock:
            fresh = self._token is not None and time.monotonic() < self._expires_at
            if fresh and self._token != stale:
                assert self._token is not None
                return self._token
            answer = await self._get(self._api.token_path,
                                     self._api.token_params(self._key, self._secret))
            code = _errcode(answer)
            token = answer.get("access_token")
            if code != 0 or not isinstance(token, str) or not token:
                # A wrong corp id / secret will not fix itself, but a busy API will.
                raise SendFailed(f"{self.channel.value} gettoken errcode {code}: "
                                 f"{str(answer.get('errmsg', ''))[:200]}",
                                 retryable=code in RETRYABLE_ERRORS)
            expires_in = answer.get("expires_in", 7200)
            lifetime = float(expires_in) if isinstance(expires_in, int | float) else 7200.0
            self._token = token
            self._expires_at = time.monotonic() + max(lifetime - _REFRESH_EARLY_S, 1.0)
            self.token_fetches += 1
            return token

    async def _get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        return await self._call("GET", path, params=dict(params))

    async def _post(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", self._api.send_path, params={"access_token": token},
                                json=body)

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise SendFailed(f"{self.channel.value}: {type(exc).__name__}",
                             retryable=True) from exc
        if response.status_code != 200:
            raise SendFailed(f"{self.channel.value}: HTTP {response.status_code}",
                             retryable=response.status_code >= 500
                             or response.status_code == 429)
        try:
            answer = response.json()
        except ValueError:
            raise SendFailed(f"{self.channel.value}: the answer is not JSON",
                             retryable=True) from None
        if not isinstance(answer, dict):
            raise SendFailed(f"{self.channel.value}: unexpected answer", retryable=True)
        return answer


def _errcode(answer: Mapping[str, Any]) -> int:
    code = answer.get("errcode", 0)
    # DingTalk's newer gateway wraps some errors as errcode 88 with the old code in sub_code.
    sub = answer.get("sub_code")
    if code == 88 and isinstance(sub, str) and sub.isdigit():
        return int(sub)
    return code if isinstance(code, int) else -1
