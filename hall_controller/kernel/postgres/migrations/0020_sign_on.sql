-- Campus sign-on (hall_controller/sign_on): the supervisor role, sign-in attempts in flight,
-- the accounts people signed on with, and the cookie sessions of the pages.

-- A supervisor may take over and force-close windows (what only admins could before).
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'facilities', 'clerk', 'supervisor'));

-- One row per redirect to the identity provider, consumed (deleted) by its callback: a state
-- that is unknown, expired or already used is refused, so a replayed callback gets nothing.
CREATE TABLE sign_on_attempts (
    state          text PRIMARY KEY,
    protocol       text NOT NULL CHECK (protocol IN ('oidc', 'cas')),
    nonce          text NOT NULL,
    code_verifier  text NOT NULL,
    return_to      text NOT NULL,
    expires_at     timestamptz NOT NULL
);
CREATE INDEX sign_on_attempts_expiry ON sign_on_attempts (expires_at);

-- Who signed on, as the identity provider said at their last login; an admin can disable one
-- here, which ends their sessions at once.
CREATE TABLE sign_on_accounts (
    username       text PRIMARY KEY,
    issuer         text NOT NULL,
    subject        text NOT NULL,
    role           text CHECK (role IN ('admin', 'facilities', 'clerk', 'supervisor')),
    person_kind    text CHECK (person_kind IN ('student', 'staff')),
    person_id      text,
    disabled       boolean NOT NULL DEFAULT false,
    last_login_at  timestamptz NOT NULL
);
CREATE INDEX sign_on_accounts_subject ON sign_on_accounts (issuer, subject);

-- A page's session: the cookie holds a random secret, the table only its SHA-256.
CREATE TABLE sign_on_sessions (
    id_hash        text PRIMARY KEY,
    username       text NOT NULL REFERENCES sign_on_accounts (username) ON DELETE CASCADE,
    protocol       text NOT NULL CHECK (protocol IN ('oidc', 'cas')),
    role           text,
    person_kind    text,
    person_id      text,
    provider_sid   text,            -- the IdP's session (OIDC sid, CAS service ticket)
    id_token       text,            -- the id_token_hint of RP-initiated logout
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    ended_at       timestamptz
);
CREATE INDEX sign_on_sessions_user ON sign_on_sessions (username);
CREATE INDEX sign_on_sessions_sid ON sign_on_sessions (provider_sid);
