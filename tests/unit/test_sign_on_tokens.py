"""The checks of the provider's tokens, with tokens this test signs itself: what a forged,
misdirected, stale or early token looks like, and the bounded refetch of the signing keys.
(The whole flow against the real provider: tests/security/test_sign_on_oidc.py.)"""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from hall_controller.sign_on.oidc import OidcClient, OidcSettings, ProviderKeys
from hall_controller.sign_on.rules import Refusal, SignOnRefused
from hall_controller.sign_on.tokens import (
    BACKCHANNEL_EVENT,
    TokenChecks,
    verify_id_token,
    verify_logout_token,
)

ISSUER = "https://idp.campus.edu"
NOW = 1_800_000_000.0
CHECKS = TokenChecks(issuer=ISSUER, client_id="service-hall", clock_skew_s=60, max_age_s=600)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "use": "sig", "alg": "RS256"}


def _sign(claims: dict[str, Any], *, key: Any = KEY, kid: str = "k1",
          algorithm: str = "RS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


def _id_claims(**changes: Any) -> dict[str, Any]:
    claims = {"iss": ISSUER, "aud": "service-hall", "sub": "zhang.wei", "iat": NOW,
              "exp": NOW + 300, "nonce": "n-1", "sid": "s-1"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _refused(token: str, key: Any = None) -> str:
    with pytest.raises(SignOnRefused) as caught:
        verify_id_token(token, key or KEY.public_key(), CHECKS, nonce="n-1", now=NOW)
    assert caught.value.code is Refusal.TOKEN
    return str(caught.value)


def test_a_good_id_token_passes() -> None:
    claims = verify_id_token(_sign(_id_claims()), KEY.public_key(), CHECKS, nonce="n-1", now=NOW)
    assert claims["sub"] == "zhang.wei"


def test_a_token_for_another_audience_is_refused() -> None:
    assert "another client" in _refused(_sign(_id_claims(aud="library")))
    # Several audiences with us among them, but issued to another party (azp).
    assert "azp" in _refused(_sign(_id_claims(aud=["library", "service-hall"], azp="library")))


def test_a_token_from_another_issuer_is_refused() -> None:
    assert "another provider" in _refused(_sign(_id_claims(iss="https://evil.example")))


def test_expired_stale_and_future_tokens_are_refused() -> None:
    assert "expired" in _refused(_sign(_id_claims(exp=NOW - 61)))
    assert "too long ago" in _refused(_sign(_id_claims(iat=NOW - 600 - 61, exp=NOW + 60)))
    assert "future" in _refused(_sign(_id_claims(iat=NOW + 61)))
    assert "iat" in _refused(_sign(_id_claims(iat=None)))
    # Within the skew, clocks a little apart are fine.
    verify_id_token(_sign(_id_claims(iat=NOW + 59, exp=NOW - 59)), KEY.public_key(), CHECKS,
                    nonce="n-1", now=NOW)


def test_another_sign_ins_nonce_is_refused() -> None:
    assert "nonce" in _refused(_sign(_id_claims(nonce="n-2")))
    assert "nonce" in _refused(_sign(_id_claims(nonce=None)))


def test_forged_signatures_and_algorithms_are_refused() -> None:
    assert "signature" in _refused(_sign(_id_claims(), key=OTHER_KEY))
    unsigned = jwt.encode(_id_claims(), None, algorithm="none")
    assert "algorithm" in _refused(unsigned)
    # HS256 keyed with the public key's bytes: the classic algorithm confusion.
    assert "algorithm" in _refused(_sign(_id_claims(), key="a-shared-secret-" * 4,
                                         algorithm="HS256"))
    with pytest.raises(ValueError, match="not allowed"):
        TokenChecks(issuer=ISSUER, client_id="x", algorithms=("HS256",))


def _logout_claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"iss": ISSUER, "aud": "service-hall", "iat": NOW, "jti": "j-1",
                              "sid": "s-1", "events": {BACKCHANNEL_EVENT: {}}}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_a_logout_token_names_whose_sessions_end() -> None:
    request = verify_logout_token(_sign(_logout_claims()), KEY.public_key(), CHECKS, now=NOW)
    assert (request.sid, request.subject) == ("s-1", None)


@pytest.mark.parametrize(("changes", "why"), [
    ({"events": None}, "logout event"),
    ({"nonce": "n-1"}, "nonce"),          # an ID token passed off as a logout token
    ({"sid": None}, "neither sid nor sub"),
    ({"aud": "library"}, "another client"),
    ({"iat": NOW + 120}, "future"),
])
def test_a_wrong_logout_token_is_refused(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(SignOnRefused, match=why):
        verify_logout_token(_sign(_logout_claims(**changes)), KEY.public_key(), CHECKS, now=NOW)


class FakeProvider:
    """The provider's JWKS endpoint in memory; counts how often it is asked."""

    def __init__(self, *keys: dict[str, Any]) -> None:
        self.keys = list(keys)
        self.asked = 0

    async def get_json(self, url: str, *, bearer: str | None = None) -> dict[str, Any]:
        self.asked += 1
        return {"keys": self.keys}

    async def post_form(self, url: str, form: dict[str, str],
                        basic_auth: tuple[str, str] | None = None) -> dict[str, Any]:
        raise AssertionError("not used")

    async def aclose(self) -> None:
        return None


async def test_an_unknown_key_id_is_refetched_but_not_more_than_once_per_interval() -> None:
    provider = FakeProvider(_jwk(KEY, "k1"))
    clock = [NOW]
    keys = ProviderKeys(provider, lambda: clock[0], min_interval_s=10)
    assert await keys.key_for("https://idp/jwks", "k1") is not None
    assert provider.asked == 1
    # The provider rotates to k2: the first token signed with it makes one refetch.
    provider.keys = [_jwk(OTHER_KEY, "k2")]
    clock[0] += 11
    assert await keys.key_for("https://idp/jwks", "k2") is not None
    assert provider.asked == 2
    # A stream of made-up key ids right after: refused without asking the provider again.
    for n in range(50):
        with pytest.raises(SignOnRefused, match="does not publish"):
            await keys.key_for("https://idp/jwks", f"made-up-{n}")
    assert provider.asked == 2
    clock[0] += 11
    with pytest.raises(SignOnRefused, match="does not publish"):
        await keys.key_for("https://idp/jwks", "made-up-again")
    assert provider.asked == 3


async def test_keys_that_are_not_for_signing_or_broken_are_ignored() -> None:
    encryption = {**_jwk(KEY, "enc"), "use": "enc"}
    broken = {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"}
    keys = ProviderKeys(FakeProvider(encryption, broken), lambda: NOW, min_interval_s=10)
    for kid in ("enc", "broken"):
        with pytest.raises(SignOnRefused):
            await keys.key_for("https://idp/jwks", kid)


class FakeDiscoveringProvider(FakeProvider):
    """Discovery and JWKS of one provider in memory."""

    async def get_json(self, url: str, *, bearer: str | None = None) -> dict[str, Any]:
        if url.endswith("/.well-known/openid-configuration"):
            return {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/auth",
                    "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks"}
        return await super().get_json(url)


async def test_a_key_replaced_under_the_same_kid_is_refetched_once_per_interval() -> None:
    provider = FakeDiscoveringProvider(_jwk(KEY, "k1"))
    clock = [NOW]
    client = OidcClient(OidcSettings(checks=CHECKS, client_secret="s", redirect_uri="r",
                                     post_logout_redirect_uri="p",
                                     jwks_refetch_interval_s=10),
                        provider, clock=lambda: clock[0])
    assert (await client.logout_request(_sign(_logout_claims()))).sid == "s-1"
    fetched = provider.asked
    provider.keys = [_jwk(OTHER_KEY, "k1")]   # the same kid, another key
    replaced = _sign(_logout_claims(iat=NOW + 5), key=OTHER_KEY)
    clock[0] += 5   # within the interval: no refetch, the signature fails
    with pytest.raises(SignOnRefused, match="signature"):
        await client.logout_request(replaced)
    assert provider.asked == fetched
    clock[0] += 6
    assert (await client.logout_request(replaced)).sid == "s-1"
    assert provider.asked == fetched + 1
    # A forgery is still a forgery after the refetch.
    with pytest.raises(SignOnRefused, match="signature"):
        await client.logout_request(_sign(_logout_claims(iat=NOW + 11), key=KEY))
