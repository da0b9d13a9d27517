"""Who the provider's claims make someone in the hall, where a sign-in may return to, the
``[sign_on]`` config's refusals, and page sessions over the memory store."""

from __future__ import annotations

from typing import Any

import pytest

from hall.config import ConfigError, load_config
from hall_controller.fleet.model import Role, User
from hall_controller.sign_on.memory_store import MemorySignOnStore
from hall_controller.sign_on.model import Protocol
from hall_controller.sign_on.rules import (
    ClaimMapping,
    ClaimRule,
    Identity,
    PersonKind,
    Refusal,
    SignOnRefused,
    map_identity,
    pkce_challenge,
    safe_return_to,
)
from hall_controller.sign_on.service import SessionInvalid, SessionSettings, SignOnService
from hall_controller.users.memory_store import MemoryUserStore
from hall_controller.users.service import AccountDisabledError

MAPPING = ClaimMapping(rules=(
    ClaimRule("groups", ("hall-admins",), role=Role.ADMIN),
    ClaimRule("groups", ("hall-supervisors",), role=Role.SUPERVISOR),
    ClaimRule("groups", ("hall-clerks",), role=Role.CLERK),
    ClaimRule("department", ("后勤处",), role=Role.FACILITIES),
    ClaimRule("人员类别", ("教职工",), person_kind=PersonKind.STAFF),
    ClaimRule("人员类别", ("本科生", "研究生"), person_kind=PersonKind.STUDENT),
), person_id_claim="student_id")


def _claims(**more: Any) -> dict[str, Any]:
    return {"sub": "s-1", "preferred_username": "zhang.wei", **more}


def test_the_first_matching_rule_gives_the_role() -> None:
    both = map_identity(_claims(groups=["hall-clerks", "hall-supervisors"], 人员类别="教职工",
                                student_id="T2001"), MAPPING, "iss")
    assert (both.role, both.person_kind, both.person_id) == (Role.SUPERVISOR, PersonKind.STAFF,
                                                             "T2001")
    facilities = map_identity(_claims(department="后勤处"), MAPPING, "iss")
    assert (facilities.role, facilities.person_kind) == (Role.FACILITIES, None)
    student = map_identity(_claims(人员类别="研究生", student_id=2024001), MAPPING, "iss")
    assert (student.role, student.person_kind, student.person_id) == (
        None, PersonKind.STUDENT, "2024001")


def test_nobody_gets_in_without_a_rule() -> None:
    with pytest.raises(SignOnRefused) as caught:
        map_identity(_claims(groups=["library"], 人员类别="校友"), MAPPING, "iss")
    assert caught.value.code is Refusal.NO_ROLE
    # A group name that merely contains a mapped one is not it.
    with pytest.raises(SignOnRefused):
        map_identity(_claims(groups=["hall-admins-old"]), MAPPING, "iss")


@pytest.mark.parametrize(("claims", "code"), [
    ({"sub": "s-1", "groups": ["hall-clerks"]}, Refusal.CLAIMS),                  # no username
    (_claims(preferred_username="a b", groups=["hall-clerks"]), Refusal.CLAIMS),  # malformed
    (_claims(groups=["hall-clerks"], student_id="x" * 65), Refusal.CLAIMS),
    ({"preferred_username": "z", "groups": ["hall-clerks"]}, Refusal.CLAIMS),     # no sub
])
def test_missing_or_malformed_claims_are_refused(claims: dict[str, Any], code: Refusal) -> None:
    with pytest.raises(SignOnRefused) as caught:
        map_identity(claims, MAPPING, "iss")
    assert caught.value.code is code


def test_an_unverified_email_names_nobody() -> None:
    by_email = ClaimMapping(rules=MAPPING.rules, username_claim="email")
    claims = {"sub": "s", "email": "zhang@campus.edu", "groups": ["hall-admins"]}
    for verified in (False, None, "true"):
        with pytest.raises(SignOnRefused) as caught:
            map_identity({**claims, "email_verified": verified}, by_email, "iss")
        assert caught.value.code is Refusal.EMAIL_UNVERIFIED
    assert map_identity({**claims, "email_verified": True}, by_email, "iss").role is Role.ADMIN


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil",
                                    "/pages/../api/v1/users", "/api/v1/users", "", None,
                                    "/pages/x.html#<script>", "javascript:alert(1)"])
def test_a_sign_in_returns_only_to_our_pages(target: str | None) -> None:
    assert safe_return_to(target) == "/pages/"


def test_pages_are_kept_as_return_targets() -> None:
    assert safe_return_to("/pages/window.html") == "/pages/window.html"
    assert safe_return_to("/pages/device.html?id=gate-1") == "/pages/device.html?id=gate-1"


def test_the_pkce_challenge_is_rfc_7636s() -> None:
    # RFC 7636 appendix B.
    assert pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == \
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize(("toml", "names"), [
    ('[sign_on.oidc]\nissuer = "http://idp.campus.edu"\nclient_id = "h"\nclient_secret = "s"\n'
     '[[sign_on.mapping]]\nclaim = "groups"\nvalues = ["a"]\nrole = "clerk"\n',
     "sign_on.oidc.issuer"),
    ('[sign_on.oidc]\nissuer = "https://idp.campus.edu"\n'
     '[[sign_on.mapping]]\nclaim = "groups"\nvalues = ["a"]\nrole = "clerk"\n', "client_secret"),
    ('[sign_on.oidc]\nissuer = "https://idp.campus.edu"\nclient_id = "h"\nclient_secret = "s"\n',
     "sign_on.mapping has no rule"),
    ('[sign_on.oidc]\nalgorithms = ["HS256"]\n', "sign_on.oidc.algorithms"),
    ('[[sign_on.mapping]]\nclaim = "groups"\nvalues = ["a"]\n', "neither a role nor"),
    ('[[sign_on.mapping]]\nclaim = "groups"\nvalues = ["a"]\nrole = "janitor"\n',
     "sign_on.mapping.0.role"),
    ('[sign_on]\nlocal_login = "nobody"\n', "sign_on.local_login"),
])
def test_config_mistakes_are_named(tmp_path: Any, toml: str, names: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError, match=names):
        load_config(path, environ={})


SECRET = "s" * 40


async def _signed_on(service: SignOnService, store: MemorySignOnStore, name: str) -> str:
    identity = Identity(username=name, issuer="iss", subject=f"sub-{name}", role=Role.CLERK,
                        person_kind=PersonKind.STAFF, person_id=None)
    signed = await service.open_session(identity, Protocol.OIDC, "sid-1", "id-token", "/pages/")
    return signed.session_id


async def test_sessions_end_when_they_expire_or_an_admin_disables_someone() -> None:
    store, users, clock = MemorySignOnStore(), MemoryUserStore(), [1000.0]
    service = SignOnService(store, MAPPING, SessionSettings(ttl_s=600, secret=SECRET),
                            local_users=users, clock=lambda: clock[0])
    first = await _signed_on(service, store, "zhang.wei")
    second = await _signed_on(service, store, "li.na")
    assert (await service.session(first)).username == "zhang.wei"
    assert service.csrf_token(first) != service.csrf_token(second)
    assert not service.csrf_ok(first, service.csrf_token(second))
    assert not service.csrf_ok(first, None)
    await service.set_disabled("zhang.wei", True, by="admin")
    with pytest.raises((SessionInvalid, AccountDisabledError)):
        await service.session(first)
    with pytest.raises(SignOnRefused):
        await _signed_on(service, store, "zhang.wei")
    # The local account of the same name disabled on the users page refuses too.
    users.users["li.na"] = User("li.na", "", Role.CLERK, disabled=True)
    with pytest.raises(AccountDisabledError):
        await service.session(second)
    users.users["li.na"] = User("li.na", "", Role.CLERK)
    clock[0] += 601
    with pytest.raises(SessionInvalid):
        await service.session(second)


async def test_another_subject_cannot_take_a_signed_on_name() -> None:
    store = MemorySignOnStore()
    service = SignOnService(store, MAPPING, SessionSettings(secret=SECRET))
    await _signed_on(service, store, "zhang.wei")
    impostor = Identity(username="zhang.wei", issuer="iss", subject="someone-else",
                        role=Role.ADMIN, person_kind=None, person_id=None)
    with pytest.raises(SignOnRefused, match="another person"):
        await service.open_session(impostor, Protocol.OIDC, None, None, "/pages/")
