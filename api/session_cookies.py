"""The cookies of a signed-on page session (docs/sign-on.md).

``session``: the session's secret; HttpOnly, so no script (nor an injected one) can read it.
``csrf``: the session's CSRF token, readable by the pages' script, which sends it back in the
``X-CSRF-Token`` header of every state-changing request. Both SameSite=Lax: another site's
form or script never sends them. With ``secure`` (HTTPS, and localhost) they carry the
``__Host-`` prefix, which browsers accept only for a Secure cookie set for this exact host on
path ``/``: nothing on a sibling subdomain can plant or overwrite them.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

CSRF_HEADER = "X-CSRF-Token"
STATE_COOKIE = "hall_sign_on_state"
STATE_PATH = "/api/v1/sign-on/"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class SessionCookies:
    secure: bool = True
    max_age_s: int = 8 * 3600

    @property
    def session_name(self) -> str:
        return "__Host-hall_session" if self.secure else "hall_session"

    @property
    def csrf_name(self) -> str:
        return "__Host-hall_csrf" if self.secure else "hall_csrf"

    def session_id(self, request: Request) -> str | None:
        value = request.cookies.get(self.session_name)
        return value if value and len(value) <= 128 else None

    def set(self, response: Response, session_id: str, csrf_token: str) -> None:
        response.set_cookie(self.session_name, session_id, max_age=self.max_age_s, path="/",
                            secure=self.secure, httponly=True, samesite="lax")
        response.set_cookie(self.csrf_name, csrf_token, max_age=self.max_age_s, path="/",
                            secure=self.secure, httponly=False, samesite="lax")

    def clear(self, response: Response) -> None:
        for name in (self.session_name, self.csrf_name):
            response.delete_cookie(name, path="/", secure=self.secure, samesite="lax")

    def set_state(self, response: Response, state: str, max_age_s: int) -> None:
        response.set_cookie(STATE_COOKIE, state, max_age=max_age_s, path=STATE_PATH,
                            secure=self.secure, httponly=True, samesite="lax")

    def clear_state(self, response: Response) -> None:
        response.delete_cookie(STATE_COOKIE, path=STATE_PATH, secure=self.secure,
                               httponly=True, samesite="lax")
