"""Campus sign-on (统一身份认证): OpenID Connect sign-in for the pages, the mapping of the
identity provider's claims to hall roles and people, cookie sessions with CSRF protection,
and logout (from the page, and the provider's back channel).

``rules`` the pure mapping and checks; ``tokens`` the ID and logout token checks; ``oidc``
the relying party (discovery, keys, code flow with PKCE); ``service`` the use cases and
sessions; ``ports`` what they need; ``http_provider`` (httpx), ``postgres_store`` and
``memory_store`` the adapters. docs/sign-on.md describes the whole.
"""
