"""The ``[sign_on]`` tables of the config: campus sign-on (docs/sign-on.md).

```toml
[sign_on]
local_login = "admins"                 # "everyone" (default) or "admins": break-glass only
public_url = "https://hall.example.edu"  # the hall as browsers reach it

[sign_on.oidc]
issuer = "https://idp.example.edu"
client_id = "service-hall"
client_secret = "..."                  # or HALL_SIGN_ON_OIDC_CLIENT_SECRET

[[sign_on.mapping]]
claim = "groups"
values = ["hall-admins"]
role = "admin"
```

Every mistake is refused at start-up naming the key, like the rest of the config.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AnyHttpUrl, Field, field_validator, model_validator

from hall.config_sections import ConfigSection
from hall_controller.fleet.model import Role
from hall_controller.sign_on.rules import ClaimMapping, ClaimRule, PersonKind
from hall_controller.sign_on.tokens import SAFE_ALGORITHMS, TokenChecks

ClaimName = Annotated[str, Field(min_length=1, max_length=100)]


class OidcConfig(ConfigSection):
    """One OpenID provider: the hall is registered there as a confidential client whose
    redirect URI is ``<public_url>/api/v1/sign-on/oidc/callback``."""

    issuer: str | None = Field(default=None, description="the provider's issuer URL, exactly "
                               "as its tokens say it; unset → no OpenID Connect sign-on")
    client_id: str = ""
    client_secret: str = Field(default="", repr=False)
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "PS256"])
    clock_skew_s: Annotated[int, Field(ge=0, le=300)] = 60
    max_token_age_s: Annotated[int, Field(ge=30, le=3600)] = 600
    use_userinfo: bool = True
    jwks_refetch_interval_s: Annotated[float, Field(ge=1, le=3600)] = 10
    ca_file: str = Field(default="", description="CA bundle for the provider's TLS; empty → "
                                                 "the system's")

    @field_validator("issuer")
    @classmethod
    def _https_issuer(cls, value: str | None) -> str | None:
        return None if value is None else _https_url(value)

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        unsafe = sorted(set(value) - SAFE_ALGORITHMS)
        if unsafe or not value:
            raise ValueError(f"only asymmetric signing algorithms ({', '.join(sorted(SAFE_ALGORITHMS))})"
                             f" may be allowed; refused: {unsafe or 'an empty list'}")
        return value

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: list[str]) -> list[str]:
        if "openid" not in value:
            raise ValueError("the scopes must include openid")
        return value

    @model_validator(mode="after")
    def _client_when_configured(self) -> OidcConfig:
        if self.issuer is not None and not (self.client_id and self.client_secret):
            raise ValueError("sign_on.oidc.issuer is set: client_id and client_secret are "
                             "needed too")
        return self


class CasConfig(ConfigSection):
    """A CAS 3.0 server; the hall's service URL is ``<public_url>/api/v1/sign-on/cas/callback``
    (register it, with single logout to the same URL)."""

    server_url: str | None = Field(default=None, description="the CAS prefix, e.g. "
                                   "https://cas.campus.edu/cas; unset → no CAS sign-on")

    @field_validator("server_url")
    @classmethod
    def _https_server(cls, value: str | None) -> str | None:
        return None if value is None else _https_url(value).rstrip("/")


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    local = parts.hostname in {"localhost", "127.0.0.1", "::1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise ValueError("expected an https:// URL (http:// only for localhost)")
    if parts.query or parts.fragment or not parts.hostname:
        raise ValueError("expected a URL with a host and no query or fragment")
    return value


class MappingRuleConfig(ConfigSection):
    """A claim holding one of ``values`` gives ``role`` and/or ``person_kind``; the first
    matching rule decides each."""

    claim: ClaimName
    values: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    role: Role | None = None
    person_kind: Literal["student", "staff"] | None = None

    @model_validator(mode="after")
    def _gives_something(self) -> MappingRuleConfig:
        if self.role is None and self.person_kind is None:
            raise ValueError(f"the rule for claim {self.claim!r} gives neither a role nor a "
                             "person_kind")
        return self


class SignOnConfig(ConfigSection):
    local_login: Literal["everyone", "admins"] = Field(
        default="everyone", description="who may still log in with a local password; "
                                        "\"admins\" keeps them for break-glass only")
    public_url: AnyHttpUrl | None = Field(
        default=None, description="the hall's address as browsers reach it (behind a proxy: "
                                  "the proxy's https:// address); unset → http://<http.host>:"
                                  "<http.port>")
    session_ttl_s: Annotated[int, Field(ge=300, le=7 * 86400)] = 8 * 3600
    cookie_secure: bool = Field(default=True, description="Secure cookies (HTTPS; browsers "
                                "accept them from http://localhost and 127.0.0.1 too)")
    username_claim: ClaimName = "preferred_username"
    person_id_claim: ClaimName | None = None
    mapping: list[MappingRuleConfig] = Field(default_factory=list)
    oidc: OidcConfig = OidcConfig()
    cas: CasConfig = CasConfig()

    @model_validator(mode="after")
    def _mapping_when_configured(self) -> SignOnConfig:
        if self.enabled and not self.mapping:
            raise ValueError("sign_on.oidc or sign_on.cas is configured but sign_on.mapping "
                             "has no rule: nobody could sign on")
        return self

    @property
    def enabled(self) -> bool:
        return self.oidc.issuer is not None or self.cas.server_url is not None

    def base_url(self, http_host: str, http_port: int) -> str:
        """Where the provider sends browsers back: ``public_url``, else the API's address."""
        if self.public_url is not None:
            return str(self.public_url).rstrip("/")
        host = f"[{http_host}]" if ":" in http_host else http_host
        return f"http://{host}:{http_port}"

    def claim_mapping(self) -> ClaimMapping:
        return ClaimMapping(
            rules=tuple(ClaimRule(claim=r.claim, values=tuple(r.values), role=r.role,
                                  person_kind=None if r.person_kind is None
                                  else PersonKind(r.person_kind)) for r in self.mapping),
            username_claim=self.username_claim, person_id_claim=self.person_id_claim)

    def token_checks(self) -> TokenChecks:
        return TokenChecks(issuer=self.oidc.issuer or "", client_id=self.oidc.client_id,
                           algorithms=tuple(self.oidc.algorithms),
                           clock_skew_s=self.oidc.clock_skew_s,
                           max_age_s=self.oidc.max_token_age_s)
