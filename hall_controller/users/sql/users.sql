-- name: get_user
SELECT username, password_hash, role, disabled, token_version FROM users
 WHERE username = %(username)s

-- name: list_users
SELECT username, password_hash, role, disabled, token_version FROM users ORDER BY username

-- name: lock_users
SELECT username, password_hash, role, disabled, token_version FROM users
 ORDER BY username FOR UPDATE

-- name: upsert_user
INSERT INTO users (username, password_hash, role, disabled, token_version)
VALUES (%(username)s, %(password_hash)s, %(role)s, %(disabled)s, %(token_version)s)
ON CONFLICT (username) DO UPDATE SET
    password_hash = excluded.password_hash, role = excluded.role, disabled = excluded.disabled,
    token_version = excluded.token_version
