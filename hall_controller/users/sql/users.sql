-- name: get_user
SELECT username, password_hash, role, disabled FROM users WHERE username = %(username)s

-- name: upsert_user
INSERT INTO users (username, password_hash, role, disabled)
VALUES (%(username)s, %(password_hash)s, %(role)s, %(disabled)s)
ON CONFLICT (username) DO UPDATE SET
    password_hash = excluded.password_hash, role = excluded.role, disabled = excluded.disabled
