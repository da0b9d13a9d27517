"""Campus sign-on against a real OpenID provider (the certified ``oidc-provider``, started by
the test) and a real hall controller: the whole code flow over HTTP, and what an attacker or
a careless user tries against it. The same flow in Chromium is tests/browser/test_sign_on.py.

The hall runs with ``cookie_secure = false`` here, because httpx (unlike a browser) sends no
Secure cookie to http://127.0.0.1; the browser test runs with Secure cookies.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from tests.browser.hall_process import ADMIN_PASSWORD, PASSWORD, HallProcess
from tests.support.idp import TestIdp
from tests.support.sign_on_hall import signed_on_hall
from tests.support.waiting import eventually_blocking

CSRF = "X-CSRF-Token"


@pytest.fixture
def sso(broker_url: str, database_url: str, tmp_path: Path) -> Iterator[tuple[HallProcess, TestIdp]]:
    with signed_on_hall(broker_url, database_url, tmp_path, cookie_secure=False) as both:
        yield both


def _form(page: str) -> tuple[str, dict[str, str]]:
    action = re.search(r'<form[^>]*action="([^"]+)"', page)
    assert action is not None, page[:2000]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    return html.unescape(action.group(1)), fields


def idp_login(client: httpx.Client, start: str, idp: TestIdp, login: str) -> str:
    """Follow ``start`` through the IdP's login and consent forms; the URL it sends the
    browser back to (the hall's callback, not yet visited)."""
    url, method, data = start, "GET", None
    for _ in range(20):
        response = client.request(method, url, data=data)
        if response.is_redirect:
            url, method, data = urljoin(url, response.headers["location"]), "GET", None
            if not url.startswith(idp.issuer):
                return url
            continue
        response.raise_for_status()
        action, fields = _form(response.text)
        if 'name="login"' in response.text:
            fields.update(login=login, password="any-password")
        url, method, data = urljoin(url, action), "POST", fields
    raise AssertionError("the IdP never sent the browser back")


def sign_in(hall: HallProcess, idp: TestIdp, login: str,
            return_to: str = "/pages/window.html") -> tuple[httpx.Client, httpx.Response]:
    client = httpx.Client(timeout=15)
    start = client.get(f"{hall.api}/sign-on/oidc/login", params={"return_to": return_to})
    assert start.status_code == 303, start.text
    callback = idp_login(client, start.headers["location"], idp, login)
    assert callback.startswith(f"{hall.api}/sign-on/oidc/callback"), callback
    return client, client.get(callback)


def refusal(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["sign_on_error"][0]


def csrf(client: httpx.Client) -> dict[str, str]:
    return {CSRF: client.cookies["hall_csrf"]}


def test_a_clerk_signs_on_and_the_session_carries_the_mapped_role(sso: tuple[HallProcess, TestIdp]) -> None:
    hall, idp = sso
    client, done = sign_in(hall, idp, "zhang.wei")
    assert done.status_code == 303
    assert done.headers["location"] == "/pages/window.html"
    cookies = {h.split("=", 1)[0]: h.lower() for h in done.headers.get_list("set-cookie")}
    # The session secret is out of every script's reach; the CSRF token is for the page's.
    assert "httponly" in cookies["hall_session"]
    assert "samesite=lax" in cookies["hall_session"]
    assert "httponly" not in cookies["hall_csrf"]
    me = client.get(f"{hall.api}/auth/me").json()
    assert me == {"username": "zhang.wei", "role": "clerk", "kind": "user", "signed_on": True,
                  "person_kind": "staff", "person_id": "T2001"}
    # The clerk's pages work with the cookie: the windows, and opening one (with the token).
    assert client.get(f"{hall.api}/windows").status_code == 200
    assert client.post(f"{hall.api}/windows/w1/open", headers=csrf(client)).status_code == 200
    # Managing users is not a clerk's.
    assert client.get(f"{hall.api}/users").status_code == 403


def test_state_changing_requests_need_the_csrf_token(sso: tuple[HallProcess, TestIdp]) -> None:
    hall, idp = sso
    client, _ = sign_in(hall, idp, "zhang.wei")
    missing = client.post(f"{hall.api}/windows/w1/open")
    assert missing.status_code == 403
    assert missing.json()["code"] == "auth.csrf_failed"
    wrong = client.post(f"{hall.api}/windows/w1/open", headers={CSRF: "A" * 43})
    assert wrong.status_code == 403
    # Another session's token is not this one's.
    other, _ = sign_in(hall, idp, "li.na")
    stolen = client.post(f"{hall.api}/windows/w1/open", headers=csrf(other))
    assert stolen.status_code == 403
    assert client.post(f"{hall.api}/windows/w1/open", headers=csrf(client)).status_code == 200


def test_a_tampered_or_made_up_session_cookie_opens_nothing(sso: tuple[HallProcess, TestIdp]) -> None:
    hall, idp = sso
    client, _ = sign_in(hall, idp, "zhang.wei")
    real = client.cookies["hall_session"]
    for forged in (real[:-1] + ("A" if real[-1] != "A" else "B"), "x" * 43, "x" * 5000):
        response = httpx.get(f"{hall.api}/auth/me", cookies={"hall_session": forged})
        assert response.status_code == 401, forged


def test_a_supervisor_and_a_student_get_their_mapping(sso: tuple[HallProcess, TestIdp]) -> None:
    hall, idp = sso
    supervisor, _ = sign_in(hall, idp, "li.na")
    assert supervisor.get(f"{hall.api}/auth/me").json()["role"] == "supervisor"
    # What only admins could do before: take over another clerk's window.
    clerk, _ = sign_in(hall, idp, "zhang.wei")
    assert clerk.post(f"{hall.api}/windows/w2/open", headers=csrf(clerk)).status_code == 200
    took = supervisor.post(f"{hall.api}/windows/w2/take-over", headers=csrf(supervisor),
                           json={"note": "zhang.wei is at lunch"})
    assert took.status_code == 200, took.text
    assert took.json()["previous_clerk"] == "zhang.wei"
    student, _ = sign_in(hall, idp, "wang.fang")
    me = student.get(f"{hall.api}/auth/me").json()
    assert (me["role"], me["person_kind"], me["person_id"]) == (None, "student", "S2024001")
    assert student.get(f"{hall.api}/windows").status_code == 403


def test_someone_no_rule_maps_is_refused(sso: tuple[HallProcess, TestIdp]) -> None:
    hall, idp = sso
    client, done = sign_in(hall, idp, "visitor.x")
    assert refusal(done) == "sign_on_no_role"
    assert client.get(f"{hall.api}/auth/me").status_code == 401


def test_a_wrong_or_foreign_state_is_refused(sso: tuple[HallProcess, TestIdp]) -> None:
    hall, idp = sso
    client = httpx.Client(timeout=15)
    start = client.get(f"{hall.api}/sign-on/oidc/login")
    callback = idp_login(client, start.headers["location"], idp, "zhang.wei")
    query = parse_qs(urlsplit(callback).query)
    wrong = client.get(f"{hall.api}/sign-on/oidc/callback",
                       params={"code": query["code"][0], "state": "made-up-state"})
    assert refusal(wrong) == "sign_on_state"
    # The right link, in a browser that did not start the sign-in (login CSRF): refused.
    victim = httpx.Client(timeout=15)
    assert refusal(victim.get(callback)) == "sign_on_state"
    assert victim.get(f"{hall.api}/auth/me").status_code == 401
    # The right browser, but the callback names another issuer (RFC 9207 mix-up).
    assert query["iss"] == [idp.issuer]
    mixed = client.get(f"{hall.api}/sign-on/oidc/callback", params={
        "code": query["code"][0], "state": query["state"][0], "iss": "https://evil.example"})
    assert refusal(mixed) == "sign_on_provider_error"
    assert client.get(f"{hall.api}/auth/me").status_code == 401


def test_a_replayed_callback_or_code_is_refused(sso: tuple[HallProcess, TestIdp]) -> None:
    hall, idp = sso
    client = httpx.Client(timeout=15)
    start = client.get(f"{hall.api}/sign-on/oidc/login")
    state_cookie = client.cookies["hall_sign_on_state"]
    callback = idp_login(client, start.headers["location"], idp, "zhang.wei")
    assert client.get(callback).status_code == 303
    assert client.get(f"{hall.api}/auth/me").status_code == 200
    # The same callback again, with the state cookie put back: the state was used.
    replay = httpx.Client(timeout=15, cookies={"hall_sign_on_state": state_cookie})
    assert refusal(replay.get(callback)) == "sign_on_state"
    # The used code with a fresh, valid state: the provider refuses to redeem it twice.
    again = httpx.Client(timeout=15)
    again.get(f"{hall.api}/sign-on/oidc/login")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    fresh_state = again.cookies["hall_sign_on_state"]
    response = again.get(f"{hall.api}/sign-on/oidc/callback",
                         params={"code": code, "state": fresh_state})
    assert refusal(response) == "sign_on_provider_error"
    assert again.get(f"{hall.api}/auth/me").status_code == 401


def test_return_to_never_leaves_the_hall(sso: tuple[HallProcess, TestIdp]) -> None:
    hall, idp = sso
    for target in ("https://evil.example/", "//evil.example/pages/", "/pages/../api/v1/users",
                   "/\\evil.example"):
        _, done = sign_in(hall, idp, "zhang.wei", return_to=target)
        assert done.headers["location"] == "/pages/", target


def test_local_passwords_are_for_admins_only(sso: tuple[HallProcess, TestIdp]) -> None:
    hall, _ = sso
    clerk = httpx.post(f"{hall.api}/auth/token", data={"username": "clerk1", "password": PASSWORD})
    assert clerk.status_code == 403
    assert clerk.json()["code"] == "auth.local_login_off"
    admin = httpx.post(f"{hall.api}/auth/token",
                       data={"username": "admin", "password": ADMIN_PASSWORD})
    assert admin.status_code == 200
    assert httpx.get(f"{hall.api}/sign-on/options").json() == {
        "oidc": True, "cas": False, "local_login": "admins"}


def test_an_admin_disabling_someone_ends_their_session_at_once(sso: tuple[HallProcess, TestIdp]) -> None:
    hall, idp = sso
    client, _ = sign_in(hall, idp, "zhang.wei")
    hall.call("POST", "/sign-on/accounts/zhang.wei/disable")
    assert client.get(f"{hall.api}/auth/me").status_code in {401, 403}
    _, again = sign_in(hall, idp, "zhang.wei")
    assert refusal(again) == "sign_on_disabled"
    hall.call("POST", "/sign-on/accounts/zhang.wei/enable")
    client, _ = sign_in(hall, idp, "zhang.wei")
    assert client.get(f"{hall.api}/auth/me").status_code == 200


def test_logout_ends_the_session_and_goes_to_the_provider(sso: tuple[HallProcess, TestIdp]) -> None:
    hall, idp = sso
    client, _ = sign_in(hall, idp, "zhang.wei")
    refused = client.post(f"{hall.api}/sign-on/logout")  # no CSRF token: another site's
    assert refused.status_code == 403
    out = client.post(f"{hall.api}/sign-on/logout", headers=csrf(client))
    assert out.status_code == 200
    assert out.json()["redirect"].startswith(f"{idp.issuer}/session/end?")
    assert "id_token_hint=" in out.json()["redirect"]
    assert client.get(f"{hall.api}/auth/me").status_code == 401


def test_a_campus_logout_ends_the_hall_session_through_the_back_channel(
        sso: tuple[HallProcess, TestIdp]) -> None:
    hall, idp = sso
    client, _ = sign_in(hall, idp, "zhang.wei")
    bystander, _ = sign_in(hall, idp, "li.na")
    # Logging out at the provider itself (another tab, another application).
    page = client.get(f"{idp.issuer}/session/end")
    action, fields = _form(page.text)
    fields["logout"] = "yes"
    client.post(urljoin(idp.issuer, action), data=fields)
    eventually_blocking(lambda: client.get(f"{hall.api}/auth/me").status_code == 401, 10,
                        "the back-channel logout ending the hall session",
                        context=idp.log_text)
    assert bystander.get(f"{hall.api}/auth/me").status_code == 200


def test_a_forged_logout_token_ends_nothing(sso: tuple[HallProcess, TestIdp]) -> None:
    hall, idp = sso
    client, _ = sign_in(hall, idp, "zhang.wei")
    for token in ("not-a-jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ6aGFuZy53ZWkifQ."):
        response = httpx.post(f"{hall.api}/sign-on/oidc/backchannel-logout",
                              data={"logout_token": token})
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
    assert client.get(f"{hall.api}/auth/me").status_code == 200


def test_a_rotated_signing_key_is_fetched(sso: tuple[HallProcess, TestIdp]) -> None:
    hall, idp = sso
    client, _ = sign_in(hall, idp, "zhang.wei")
    assert client.get(f"{hall.api}/auth/me").status_code == 200
    idp.restart_with_key("key-2")   # the hall still caches key-1
    client, done = sign_in(hall, idp, "zhang.wei")
    assert done.headers["location"] == "/pages/window.html"
    assert client.get(f"{hall.api}/auth/me").json()["username"] == "zhang.wei"


def test_a_role_changed_at_the_provider_applies_at_the_next_sign_on(
        sso: tuple[HallProcess, TestIdp]) -> None:
    hall, idp = sso
    before, _ = sign_in(hall, idp, "zhang.wei")
    assert before.get(f"{hall.api}/auth/me").json()["role"] == "clerk"
    idp.change_account("zhang.wei", groups=["hall-supervisors"])
    idp.restart_with_key("key-3")
    # The open session keeps the role it was given ...
    assert before.get(f"{hall.api}/auth/me").json()["role"] == "clerk"
    # ... the next sign-on gets the new one, and the admin's list shows it.
    after, _ = sign_in(hall, idp, "zhang.wei")
    assert after.get(f"{hall.api}/auth/me").json()["role"] == "supervisor"
    listed = {a["username"]: a["role"] for a in hall.call("GET", "/sign-on/accounts")}
    assert listed["zhang.wei"] == "supervisor"
