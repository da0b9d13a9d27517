-- Alarms: unique per (device, type) while active (the partial unique index alarms_one_active).

-- name: raise_alarm
-- Atomic create-or-bump: two controllers raising the same alarm at once end with one active
-- alarm counted twice. A bumped alarm has count >= 2, so count = 1 means it was created.
INSERT INTO alarms AS a (device_id, type, severity, status, acknowledged, raised_at,
                         updated_at, count, details)
VALUES (%(device_id)s, %(type)s, %(severity)s, 'active', false, hall_ts(%(at_ms)s),
        hall_ts(%(at_ms)s), 1, %(details)s)
ON CONFLICT (device_id, type) WHERE status = 'active' DO UPDATE SET
    count = a.count + 1,
    updated_at = greatest(a.updated_at, excluded.updated_at),
    severity = excluded.severity,
    details = excluded.details
RETURNING id, device_id, type, severity, status, acknowledged, hall_ms(raised_at) AS raised_ms,
          hall_ms(updated_at) AS updated_ms, count, details, hall_ms(cleared_at) AS cleared_ms,
          hall_ms(acked_at) AS acked_ms, acked_by, cleared_by, cleared_note

-- name: clear_alarm_by_type
UPDATE alarms SET status = 'cleared', cleared_at = hall_ts(%(at_ms)s), cleared_by = %(by)s,
                  updated_at = greatest(updated_at, hall_ts(%(at_ms)s))
WHERE device_id = %(device_id)s AND type = %(type)s AND status = 'active'
RETURNING id, device_id, type, severity, status, acknowledged, hall_ms(raised_at) AS raised_ms,
          hall_ms(updated_at) AS updated_ms, count, details, hall_ms(cleared_at) AS cleared_ms,
          hall_ms(acked_at) AS acked_ms, acked_by, cleared_by, cleared_note

-- name: ack_alarm
-- Only an unacknowledged alarm changes; acknowledging twice keeps the first ack.
UPDATE alarms SET acknowledged = true, acked_at = hall_ts(%(at_ms)s), acked_by = %(by)s,
                  updated_at = greatest(updated_at, hall_ts(%(at_ms)s))
WHERE id = %(id)s AND NOT acknowledged
RETURNING id, device_id, type, severity, status, acknowledged, hall_ms(raised_at) AS raised_ms,
          hall_ms(updated_at) AS updated_ms, count, details, hall_ms(cleared_at) AS cleared_ms,
          hall_ms(acked_at) AS acked_ms, acked_by, cleared_by, cleared_note

-- name: clear_alarm
-- Only an active alarm changes; clearing twice keeps the first clear (and its note).
UPDATE alarms SET status = 'cleared', cleared_at = hall_ts(%(at_ms)s), cleared_by = %(by)s,
                  cleared_note = %(note)s,
                  updated_at = greatest(updated_at, hall_ts(%(at_ms)s))
WHERE id = %(id)s AND status = 'active'
RETURNING id, device_id, type, severity, status, acknowledged, hall_ms(raised_at) AS raised_ms,
          hall_ms(updated_at) AS updated_ms, count, details, hall_ms(cleared_at) AS cleared_ms,
          hall_ms(acked_at) AS acked_ms, acked_by, cleared_by, cleared_note

-- name: get_alarm
SELECT id, device_id, type, severity, status, acknowledged, hall_ms(raised_at) AS raised_ms,
       hall_ms(updated_at) AS updated_ms, count, details, hall_ms(cleared_at) AS cleared_ms,
       hall_ms(acked_at) AS acked_ms, acked_by, cleared_by, cleared_note
FROM alarms
WHERE id = %(id)s

-- name: list_alarms
-- {where} is built by the store from the optional filters.
SELECT id, device_id, type, severity, status, acknowledged, hall_ms(raised_at) AS raised_ms,
       hall_ms(updated_at) AS updated_ms, count, details, hall_ms(cleared_at) AS cleared_ms,
       hall_ms(acked_at) AS acked_ms, acked_by, cleared_by, cleared_note
FROM alarms
{where}
ORDER BY raised_at DESC, id DESC
LIMIT %(limit)s
