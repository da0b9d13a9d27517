"""CAS 3.0 sign-on against the test CAS server (tests/support/cas_server.py, built from the
protocol specification) and a real hall controller: the ``/login`` redirect, ticket
validation with attributes mapped to a role and a person, a ticket for another service, a
replayed ticket, single logout, and a hostile logout request."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest

from tests.browser.hall_process import HallProcess
from tests.support.cas_server import PASSWORD, CasState, cas_server
from tests.support.sign_on_hall import signed_on_hall

CasHall = tuple[HallProcess, str, CasState]


@pytest.fixture
def cas(broker_url: str, database_url: str, tmp_path: Path) -> Iterator[CasHall]:
    with cas_server() as (prefix, state), signed_on_hall(
            broker_url, database_url, tmp_path, cookie_secure=False, cas_url=prefix) as (hall, _):
        yield hall, prefix, state


def cas_login(client: httpx.Client, hall: HallProcess, user: str,
              return_to: str = "/pages/window.html") -> str:
    """Through the CAS login form; the hall callback URL it sends the browser to."""
    start = client.get(f"{hall.api}/sign-on/cas/login", params={"return_to": return_to})
    assert start.status_code == 303, start.text
    login = client.get(start.headers["location"])
    if login.is_redirect:   # single sign-on: the CAS session is still there
        return str(login.headers["location"])
    service = re.search(r'name="service" value="([^"]*)"', login.text)
    assert service is not None
    done = client.post(urljoin(start.headers["location"], "/cas/login"), data={
        "service": service.group(1).replace("&amp;", "&"), "username": user,
        "password": PASSWORD})
    assert done.status_code == 303, done.text
    return str(done.headers["location"])


def refusal(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["sign_on_error"][0]


def test_a_clerk_signs_on_with_cas_and_the_attributes_give_role_and_person(cas: CasHall) -> None:
    hall, _, _ = cas
    client = httpx.Client(timeout=15)
    assert httpx.get(f"{hall.api}/sign-on/options").json()["cas"] is True
    done = client.get(cas_login(client, hall, "zhang.wei"))
    assert done.headers["location"] == "/pages/window.html"
    me = client.get(f"{hall.api}/auth/me").json()
    assert (me["username"], me["role"], me["person_kind"], me["person_id"]) == (
        "zhang.wei", "clerk", "staff", "T2001")
    assert client.post(f"{hall.api}/windows/w1/open",
                       headers={"X-CSRF-Token": client.cookies["hall_csrf"]}).status_code == 200
    # Someone whose attributes no rule maps is refused.
    other = httpx.Client(timeout=15)
    assert refusal(other.get(cas_login(other, hall, "visitor.x"))) == "sign_on_no_role"


def test_a_ticket_issued_for_another_service_is_refused(cas: CasHall) -> None:
    hall, prefix, _ = cas
    client = httpx.Client(timeout=15)
    # A ticket the CAS server issued for the library, presented to the hall.
    login = client.post(f"{prefix}/login", data={"service": "http://library.example/cb",
                                                 "username": "zhang.wei", "password": PASSWORD})
    ticket = parse_qs(urlsplit(login.headers["location"]).query)["ticket"][0]
    start = client.get(f"{hall.api}/sign-on/cas/login")
    state = parse_qs(urlsplit(parse_qs(urlsplit(start.headers["location"]).query)["service"][0])
                     .query)["state"][0]
    response = client.get(f"{hall.api}/sign-on/cas/callback?"
                          + urlencode({"state": state, "ticket": ticket}))
    assert refusal(response) == "sign_on_provider_error"
    assert client.get(f"{hall.api}/auth/me").status_code == 401


def test_a_replayed_ticket_is_refused(cas: CasHall) -> None:
    hall, _, _ = cas
    client = httpx.Client(timeout=15)
    callback = cas_login(client, hall, "zhang.wei")
    state_cookie = client.cookies["hall_sign_on_state"]
    assert client.get(callback).status_code == 303
    assert client.get(f"{hall.api}/auth/me").status_code == 200
    # The same callback with the state cookie put back: the state was used.
    replay = httpx.Client(timeout=15, cookies={"hall_sign_on_state": state_cookie})
    assert refusal(replay.get(callback)) == "sign_on_state"
    # The used ticket with a fresh state: the CAS server validates a ticket once.
    again = httpx.Client(timeout=15)
    start = again.get(f"{hall.api}/sign-on/cas/login")
    fresh = parse_qs(urlsplit(parse_qs(urlsplit(start.headers["location"]).query)["service"][0])
                     .query)["state"][0]
    ticket = parse_qs(urlsplit(callback).query)["ticket"][0]
    response = again.get(f"{hall.api}/sign-on/cas/callback?"
                         + urlencode({"state": fresh, "ticket": ticket}))
    assert refusal(response) == "sign_on_provider_error"
    assert again.get(f"{hall.api}/auth/me").status_code == 401


def test_single_logout_ends_the_hall_session(cas: CasHall) -> None:
    hall, prefix, state = cas
    client = httpx.Client(timeout=15)
    client.get(cas_login(client, hall, "zhang.wei"))
    bystander = httpx.Client(timeout=15)
    bystander.get(cas_login(bystander, hall, "wang.fang"))
    assert bystander.get(f"{hall.api}/auth/me").json()["person_kind"] == "student"
    # The campus portal's logout: the CAS server tells every service of that session.
    client.get(f"{prefix}/logout")
    assert [status for _, status in state.logout_posts] == [200]
    assert client.get(f"{hall.api}/auth/me").status_code == 401
    assert bystander.get(f"{hall.api}/auth/me").status_code == 200


def test_logout_from_a_page_goes_to_the_cas_logout(cas: CasHall) -> None:
    hall, prefix, _ = cas
    client = httpx.Client(timeout=15)
    client.get(cas_login(client, hall, "zhang.wei"))
    out = client.post(f"{hall.api}/sign-on/logout",
                      headers={"X-CSRF-Token": client.cookies["hall_csrf"]})
    assert out.json()["redirect"].startswith(f"{prefix}/logout?service=")
    assert client.get(f"{hall.api}/auth/me").status_code == 401


def test_hostile_logout_requests_end_nothing(cas: CasHall) -> None:
    hall, _, _ = cas
    client = httpx.Client(timeout=15)
    callback = cas_login(client, hall, "zhang.wei")
    client.get(callback)
    ticket = parse_qs(urlsplit(callback).query)["ticket"][0]
    bomb = ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">'
            f'<samlp:SessionIndex>{ticket}&b;</samlp:SessionIndex></samlp:LogoutRequest>')
    for body in (bomb, "not xml", "<a/>", ""):
        response = httpx.post(f"{hall.api}/sign-on/cas/callback", data={"logoutRequest": body})
        assert response.status_code in {400, 422}, body
    assert client.get(f"{hall.api}/auth/me").status_code == 200
