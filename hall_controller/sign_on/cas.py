"""The CAS 3.0 client (Apereo CAS Protocol 3.0): the ``/login`` redirect, ticket validation
with ``/p3/serviceValidate`` (attributes included), and single logout.

The ``service`` the hall names is its callback with the sign-in's ``state``; validation names
the same service, so the CAS server refuses a ticket issued for another service
(``INVALID_SERVICE``), and a ticket validates once (``INVALID_TICKET`` the second time).
Single logout: the CAS server POSTs a SAML ``LogoutRequest`` naming the service ticket to the
service URL; the hall ends the session opened with that ticket. Those requests carry no
signature (the protocol has none): only someone who saw the ticket, which is single-use and
never kept in a page (no Referer leaves the hall), can end that one session.

The XML is parsed by the standard library's expat (2.4+ refuses entity expansion bombs), and
any document type declaration is refused before parsing.
"""

from __future__ import annotations

import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from hall_controller.sign_on.model import Attempt, Protocol
from hall_controller.sign_on.ports import ProviderHttp, ProviderUnreachable
from hall_controller.sign_on.rules import ATTEMPT_TTL_S, Refusal, SignOnRefused

_CAS = "{http://www.yale.edu/tp/cas}"
_SAMLP = "{urn:oasis:names:tc:SAML:2.0:protocol}"
_MAX_XML_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class CasSettings:
    """``server_url``: the CAS server's prefix (``https://cas.campus.edu/cas``);
    ``callback_url``: the hall's service URL without its state."""

    server_url: str
    callback_url: str
    post_logout_url: str


def _xml(body: bytes) -> ET.Element:
    if len(body) > _MAX_XML_BYTES or b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise SignOnRefused(Refusal.PROVIDER, "the CAS answer is too large or declares a DTD")
    try:
        return ET.fromstring(body)  # noqa: S314 - DTDs refused above, expat caps expansion
    except ET.ParseError:
        raise SignOnRefused(Refusal.PROVIDER, "the CAS answer is not XML") from None


def parse_service_response(body: bytes) -> tuple[str, dict[str, Any]]:
    """``(user, attributes)`` of a successful validation; SignOnRefused otherwise (the CAS
    error code in the message). A repeated attribute becomes a list."""
    root = _xml(body)
    failure = root.find(f"{_CAS}authenticationFailure")
    if failure is not None:
        code = failure.get("code", "UNKNOWN")
        text = (failure.text or "").strip()
        raise SignOnRefused(Refusal.PROVIDER, f"CAS refused the ticket: {code} {text}".strip())
    success = root.find(f"{_CAS}authenticationSuccess")
    user = None if success is None else success.findtext(f"{_CAS}user")
    if success is None or not user or not user.strip():
        raise SignOnRefused(Refusal.PROVIDER, "the CAS answer has no user")
    attributes: dict[str, Any] = {}
    for element in success.find(f"{_CAS}attributes") or []:
        if not element.tag.startswith(_CAS):
            continue
        name, value = element.tag.removeprefix(_CAS), (element.text or "").strip()
        held = attributes.get(name)
        attributes[name] = value if held is None else [
            *(held if isinstance(held, list) else [held]), value]
    return user.strip(), attributes


def parse_logout_request(body: str) -> str:
    """The service ticket a single-logout request names (its ``SessionIndex``)."""
    root = _xml(body.encode("utf-8"))
    index = root.findtext(f"{_SAMLP}SessionIndex")
    if root.tag != f"{_SAMLP}LogoutRequest" or not index or not index.strip():
        raise SignOnRefused(Refusal.TOKEN, "not a CAS logout request")
    return index.strip()


class CasClient:
    """One CAS server, reached through ``http``."""

    def __init__(self, settings: CasSettings, http: ProviderHttp, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._http = http
        self._clock = clock

    @property
    def issuer(self) -> str:
        return self.settings.server_url

    def service_url(self, state: str) -> str:
        return f"{self.settings.callback_url}?{urlencode({'state': state})}"

    def begin(self, return_to: str) -> tuple[Attempt, str]:
        attempt = Attempt(state=secrets.token_urlsafe(32), protocol=Protocol.CAS, nonce="",
                          code_verifier="", return_to=return_to,
                          expires_at=self._clock() + ATTEMPT_TTL_S)
        query = urlencode({"service": self.service_url(attempt.state)})
        return attempt, f"{self.settings.server_url}/login?{query}"

    async def validate(self, attempt: Attempt, ticket: str) -> tuple[str, dict[str, Any]]:
        query = urlencode({"service": self.service_url(attempt.state), "ticket": ticket})
        try:
            status, body = await self._http.get_text(
                f"{self.settings.server_url}/p3/serviceValidate?{query}")
        except ProviderUnreachable as exc:
            raise SignOnRefused(Refusal.PROVIDER, f"the CAS server failed ({exc})") from None
        if status != 200:
            raise SignOnRefused(Refusal.PROVIDER, f"the CAS server answered {status}")
        return parse_service_response(body)

    def logout_url(self) -> str:
        return f"{self.settings.server_url}/logout?" + urlencode(
            {"service": self.settings.post_logout_url})
