-- name: add_attempt
INSERT INTO sign_on_attempts (state, protocol, nonce, code_verifier, return_to, expires_at)
VALUES (%(state)s, %(protocol)s, %(nonce)s, %(code_verifier)s, %(return_to)s,
        to_timestamp(%(expires_at)s))

-- name: take_attempt
DELETE FROM sign_on_attempts WHERE state = %(state)s
RETURNING state, protocol, nonce, code_verifier, return_to,
          extract(epoch FROM expires_at)::float8 AS expires_at

-- name: forget_expired_attempts
DELETE FROM sign_on_attempts WHERE expires_at < to_timestamp(%(now)s)

-- name: record_login
INSERT INTO sign_on_accounts (username, issuer, subject, role, person_kind, person_id,
                              last_login_at)
VALUES (%(username)s, %(issuer)s, %(subject)s, %(role)s, %(person_kind)s, %(person_id)s,
        to_timestamp(%(now)s))
ON CONFLICT (username) DO UPDATE SET
    role = excluded.role, person_kind = excluded.person_kind, person_id = excluded.person_id,
    last_login_at = excluded.last_login_at
 WHERE sign_on_accounts.issuer = excluded.issuer AND sign_on_accounts.subject = excluded.subject
RETURNING username, issuer, subject, role, person_kind, person_id, disabled,
          extract(epoch FROM last_login_at)::float8 AS last_login_at

-- name: get_account
SELECT username, issuer, subject, role, person_kind, person_id, disabled,
       extract(epoch FROM last_login_at)::float8 AS last_login_at
  FROM sign_on_accounts WHERE username = %(username)s

-- name: list_accounts
SELECT username, issuer, subject, role, person_kind, person_id, disabled,
       extract(epoch FROM last_login_at)::float8 AS last_login_at
  FROM sign_on_accounts ORDER BY username

-- name: set_disabled
UPDATE sign_on_accounts SET disabled = %(disabled)s WHERE username = %(username)s
RETURNING username, issuer, subject, role, person_kind, person_id, disabled,
          extract(epoch FROM last_login_at)::float8 AS last_login_at

-- name: end_user_sessions
UPDATE sign_on_sessions SET ended_at = to_timestamp(%(now)s)
 WHERE username = %(username)s AND ended_at IS NULL

-- name: add_session
INSERT INTO sign_on_sessions (id_hash, username, protocol, role, person_kind, person_id,
                              provider_sid, id_token, created_at, expires_at)
VALUES (%(id_hash)s, %(username)s, %(protocol)s, %(role)s, %(person_kind)s, %(person_id)s,
        %(provider_sid)s, %(id_token)s, to_timestamp(%(created_at)s),
        to_timestamp(%(expires_at)s))

-- name: get_session
SELECT id_hash, username, protocol, role, person_kind, person_id, provider_sid, id_token,
       extract(epoch FROM created_at)::float8 AS created_at,
       extract(epoch FROM expires_at)::float8 AS expires_at,
       extract(epoch FROM ended_at)::float8 AS ended_at
  FROM sign_on_sessions WHERE id_hash = %(id_hash)s

-- name: end_session
UPDATE sign_on_sessions SET ended_at = to_timestamp(%(now)s)
 WHERE id_hash = %(id_hash)s AND ended_at IS NULL
RETURNING id_hash, username, protocol, role, person_kind, person_id, provider_sid, id_token,
          extract(epoch FROM created_at)::float8 AS created_at,
          extract(epoch FROM expires_at)::float8 AS expires_at,
          extract(epoch FROM ended_at)::float8 AS ended_at

-- name: end_provider_sessions
UPDATE sign_on_sessions s SET ended_at = to_timestamp(%(now)s)
  FROM sign_on_accounts a
 WHERE s.username = a.username AND a.issuer = %(issuer)s AND s.ended_at IS NULL
   AND s.protocol = 'oidc'
   AND CASE WHEN %(sid)s::text IS NOT NULL THEN s.provider_sid = %(sid)s::text
            ELSE a.subject = %(subject)s::text END

-- name: end_cas_sessions
UPDATE sign_on_sessions SET ended_at = to_timestamp(%(now)s)
 WHERE protocol = 'cas' AND provider_sid = %(ticket)s AND ended_at IS NULL

-- name: forget_old_sessions
DELETE FROM sign_on_sessions WHERE expires_at < to_timestamp(%(before)s)
