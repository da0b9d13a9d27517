-- name: insert_kiosk_key
INSERT INTO kiosk_keys (key_id, device_id, name, secret_hash, created_at, created_by)
VALUES (%(key_id)s, %(device_id)s, %(name)s, %(secret_hash)s, hall_ts(%(created_ms)s),
        %(created_by)s)

-- name: get_kiosk_key
SELECT key_id, device_id, name, secret_hash, hall_ms(created_at) AS created_ms, created_by,
       hall_ms(last_used_at) AS last_used_ms, hall_ms(revoked_at) AS revoked_ms
FROM kiosk_keys WHERE key_id = %(key_id)s

-- name: list_kiosk_keys
SELECT key_id, device_id, name, secret_hash, hall_ms(created_at) AS created_ms, created_by,
       hall_ms(last_used_at) AS last_used_ms, hall_ms(revoked_at) AS revoked_ms
FROM kiosk_keys ORDER BY created_at DESC, key_id DESC

-- name: revoke_kiosk_key
-- Revoking twice keeps the first time.
UPDATE kiosk_keys SET revoked_at = coalesce(revoked_at, hall_ts(%(at_ms)s))
WHERE key_id = %(key_id)s
RETURNING key_id, device_id, name, secret_hash, hall_ms(created_at) AS created_ms, created_by,
          hall_ms(last_used_at) AS last_used_ms, hall_ms(revoked_at) AS revoked_ms

-- name: mark_kiosk_key_used
-- Never back: two controllers (or a late write) cannot move it to an older time.
UPDATE kiosk_keys SET last_used_at = hall_ts(%(at_ms)s)
WHERE key_id = %(key_id)s AND (last_used_at IS NULL OR last_used_at < hall_ts(%(at_ms)s))

-- name: insert_pairing_code
INSERT INTO kiosk_pairing_codes (code_hash, device_id, name, created_at, created_by, expires_at)
VALUES (%(code_hash)s, %(device_id)s, %(name)s, hall_ts(%(created_ms)s), %(created_by)s,
        hall_ts(%(expires_ms)s))

-- name: get_pairing_code
SELECT code_hash, device_id, name, hall_ms(created_at) AS created_ms, created_by,
       hall_ms(expires_at) AS expires_ms, hall_ms(used_at) AS used_ms, used_from, key_id
FROM kiosk_pairing_codes WHERE code_hash = %(code_hash)s

-- name: claim_pairing_code
-- Single use even with two kiosks (or two controllers) entering the same code at once: only
-- the UPDATE that finds it unused and unexpired gets a row back.
UPDATE kiosk_pairing_codes SET used_at = hall_ts(%(at_ms)s), used_from = %(used_from)s
WHERE code_hash = %(code_hash)s AND used_at IS NULL AND expires_at > hall_ts(%(at_ms)s)
RETURNING code_hash, device_id, name, hall_ms(created_at) AS created_ms, created_by,
          hall_ms(expires_at) AS expires_ms, hall_ms(used_at) AS used_ms, used_from, key_id

-- name: set_pairing_code_key
UPDATE kiosk_pairing_codes SET key_id = %(key_id)s WHERE code_hash = %(code_hash)s

-- name: list_pairing_codes
SELECT code_hash, device_id, name, hall_ms(created_at) AS created_ms, created_by,
       hall_ms(expires_at) AS expires_ms, hall_ms(used_at) AS used_ms, used_from, key_id
FROM kiosk_pairing_codes ORDER BY created_at DESC, code_hash LIMIT %(limit)s
