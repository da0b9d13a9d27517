-- name: get_credential
SELECT device_id, kind, site, password_hash, command_key, status, created_ms, created_by,
       rotated_ms, rotated_by, revoked_ms, revoked_by
  FROM device_credentials WHERE device_id = %(device_id)s

-- name: get_credentials
SELECT device_id, kind, site, password_hash, command_key, status, created_ms, created_by,
       rotated_ms, rotated_by, revoked_ms, revoked_by
  FROM device_credentials WHERE device_id = ANY(%(device_ids)s)

-- name: list_credentials
SELECT device_id, kind, site, password_hash, command_key, status, created_ms, created_by,
       rotated_ms, rotated_by, revoked_ms, revoked_by
  FROM device_credentials ORDER BY device_id

-- name: save_credential
INSERT INTO device_credentials (device_id, kind, site, password_hash, command_key, status,
                                created_ms, created_by, rotated_ms, rotated_by, revoked_ms,
                                revoked_by)
VALUES (%(device_id)s, %(kind)s, %(site)s, %(password_hash)s, %(command_key)s, %(status)s,
        %(created_ms)s, %(created_by)s, %(rotated_ms)s, %(rotated_by)s, %(revoked_ms)s,
        %(revoked_by)s)
ON CONFLICT (device_id) DO UPDATE SET
    kind = excluded.kind, site = excluded.site, password_hash = excluded.password_hash,
    command_key = excluded.command_key, status = excluded.status,
    created_ms = excluded.created_ms, created_by = excluded.created_by,
    rotated_ms = excluded.rotated_ms, rotated_by = excluded.rotated_by,
    revoked_ms = excluded.revoked_ms, revoked_by = excluded.revoked_by
