-- name: insert_command
INSERT INTO commands (command_id, device_id, method, params, status, created_at, expires_at,
                      requested_by, sent_at, completed_at, result, error, note)
VALUES (%(command_id)s, %(device_id)s, %(method)s, %(params)s, %(status)s,
        hall_ts(%(created_ms)s), hall_ts(%(expires_at_ms)s), %(requested_by)s,
        hall_ts(%(sent_ms)s), hall_ts(%(completed_ms)s), %(result)s, %(error)s, %(note)s)

-- name: update_command
UPDATE commands SET
    device_id = %(device_id)s, method = %(method)s, params = %(params)s, status = %(status)s,
    created_at = hall_ts(%(created_ms)s), expires_at = hall_ts(%(expires_at_ms)s),
    requested_by = %(requested_by)s, sent_at = hall_ts(%(sent_ms)s),
    completed_at = hall_ts(%(completed_ms)s), result = %(result)s, error = %(error)s
WHERE command_id = %(command_id)s

-- name: get_command
SELECT command_id, device_id, method, params, status, hall_ms(created_at) AS created_ms,
       hall_ms(expires_at) AS expires_at_ms, requested_by, hall_ms(sent_at) AS sent_ms,
       hall_ms(completed_at) AS completed_ms, result, error, note
FROM commands
WHERE command_id = %(command_id)s

-- name: list_commands
SELECT command_id, device_id, method, params, status, hall_ms(created_at) AS created_ms,
       hall_ms(expires_at) AS expires_at_ms, requested_by, hall_ms(sent_at) AS sent_ms,
       hall_ms(completed_at) AS completed_ms, result, error, note
FROM commands
WHERE device_id = %(device_id)s
ORDER BY created_at DESC, command_id DESC
LIMIT %(limit)s

-- name: list_staff_commands
-- Without the automatic ones (a display's call and waiting list every few seconds): those the
-- controller sent by itself, requested by 'system:...' (no username has a colon) or by
-- 'clerk-service' (the displays' requester before migration 0019). The condition is the
-- partial index commands_by_staff's, so a display's thousands of calls are never scanned.
SELECT command_id, device_id, method, params, status, hall_ms(created_at) AS created_ms,
       hall_ms(expires_at) AS expires_at_ms, requested_by, hall_ms(sent_at) AS sent_ms,
       hall_ms(completed_at) AS completed_ms, result, error, note
FROM commands
WHERE device_id = %(device_id)s
  AND NOT (left(requested_by, 7) = 'system:' OR requested_by = 'clerk-service')
ORDER BY created_at DESC, command_id DESC
LIMIT %(limit)s
