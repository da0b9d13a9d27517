-- The notify room: recipients, rota, maintenance windows, tracks, history, deliveries.

-- name: list_recipients
SELECT id, name, role, channels, sites, min_severity, email, wecom_user, dingtalk_user, phone,
       platform_user, locale, active, hall_ms(updated_at) AS updated_ms, updated_by
FROM notify_recipients ORDER BY id

-- name: insert_recipient
INSERT INTO notify_recipients (name, role, channels, sites, min_severity, email, wecom_user,
                               dingtalk_user, phone, platform_user, locale, active, updated_at,
                               updated_by)
VALUES (%(name)s, %(role)s, %(channels)s, %(sites)s, %(min_severity)s, %(email)s,
        %(wecom_user)s, %(dingtalk_user)s, %(phone)s, %(platform_user)s, %(locale)s, %(active)s,
        hall_ts(%(at_ms)s), %(by)s)
RETURNING id, name, role, channels, sites, min_severity, email, wecom_user, dingtalk_user,
          phone, platform_user, locale, active, hall_ms(updated_at) AS updated_ms, updated_by

-- name: update_recipient
UPDATE notify_recipients SET name = %(name)s, role = %(role)s, channels = %(channels)s,
       sites = %(sites)s, min_severity = %(min_severity)s, email = %(email)s,
       wecom_user = %(wecom_user)s, dingtalk_user = %(dingtalk_user)s, phone = %(phone)s,
       platform_user = %(platform_user)s, locale = %(locale)s, active = %(active)s,
       updated_at = hall_ts(%(at_ms)s), updated_by = %(by)s
WHERE id = %(id)s
RETURNING id, name, role, channels, sites, min_severity, email, wecom_user, dingtalk_user,
          phone, platform_user, locale, active, hall_ms(updated_at) AS updated_ms, updated_by

-- name: list_shifts
SELECT id, recipient_id, weekday, start_minute, end_minute, site FROM notify_shifts
ORDER BY weekday, start_minute, id

-- name: insert_shift
INSERT INTO notify_shifts (recipient_id, weekday, start_minute, end_minute, site)
VALUES (%(recipient_id)s, %(weekday)s, %(start_minute)s, %(end_minute)s, %(site)s)
RETURNING id, recipient_id, weekday, start_minute, end_minute, site

-- name: delete_shift
DELETE FROM notify_shifts WHERE id = %(id)s

-- name: list_overrides
SELECT id, recipient_id, day::text AS day, start_minute, end_minute, site, note
FROM notify_overrides WHERE day >= %(from_day)s::date ORDER BY day, start_minute, id

-- name: insert_override
INSERT INTO notify_overrides (recipient_id, day, start_minute, end_minute, site, note)
VALUES (%(recipient_id)s, %(day)s::date, %(start_minute)s, %(end_minute)s, %(site)s, %(note)s)
RETURNING id, recipient_id, day::text AS day, start_minute, end_minute, site, note

-- name: delete_override
DELETE FROM notify_overrides WHERE id = %(id)s

-- name: list_windows
SELECT id, device_id, site, hall_ms(starts_at) AS starts_ms, hall_ms(ends_at) AS ends_ms, reason,
       created_by
FROM notify_maintenance WHERE ends_at > hall_ts(%(after_ms)s) ORDER BY starts_at, id

-- name: insert_window
INSERT INTO notify_maintenance (device_id, site, starts_at, ends_at, reason, created_by)
VALUES (%(device_id)s, %(site)s, hall_ts(%(starts_ms)s), hall_ts(%(ends_ms)s), %(reason)s,
        %(created_by)s)
RETURNING id, device_id, site, hall_ms(starts_at) AS starts_ms, hall_ms(ends_at) AS ends_ms,
          reason, created_by

-- name: end_window
-- Ends a window now; one that has not started yet ends right after its start (never runs).
UPDATE notify_maintenance
SET ends_at = greatest(hall_ts(%(at_ms)s), starts_at + interval '1 millisecond')
WHERE id = %(id)s AND ends_at > hall_ts(%(at_ms)s)
RETURNING id

-- name: get_window
SELECT id, device_id, site, hall_ms(starts_at) AS starts_ms, hall_ms(ends_at) AS ends_ms, reason,
       created_by
FROM notify_maintenance WHERE id = %(id)s

-- name: start_track
INSERT INTO notify_tracks (alarm_id, device_id, type, severity, site, raised_at, status, level,
                           next_step_at, digest_pending, reason)
VALUES (%(alarm_id)s, %(device_id)s, %(type)s, %(severity)s, %(site)s, hall_ts(%(raised_ms)s),
        %(status)s, %(level)s, hall_ts(%(next_step_ms)s), %(digest_pending)s, %(reason)s)
ON CONFLICT (alarm_id) DO NOTHING
RETURNING alarm_id

-- name: save_track
UPDATE notify_tracks SET status = %(status)s, level = %(level)s,
       next_step_at = hall_ts(%(next_step_ms)s), digest_pending = %(digest_pending)s,
       reason = %(reason)s, lease_until = NULL
WHERE alarm_id = %(alarm_id)s

-- name: tracked
SELECT alarm_id FROM notify_tracks WHERE alarm_id = ANY(%(ids)s)

-- name: get_track
SELECT alarm_id, device_id, type, severity, site, hall_ms(raised_at) AS raised_ms, status, level,
       hall_ms(next_step_at) AS next_step_ms, digest_pending, reason
FROM notify_tracks WHERE alarm_id = %(alarm_id)s

-- name: count_tracks
SELECT count(*) AS n FROM notify_tracks
WHERE device_id = %(device_id)s AND type = %(type)s AND raised_at >= hall_ts(%(since_ms)s)

-- name: list_tracks
-- {where} is built by the store from the optional status filter.
SELECT alarm_id, device_id, type, severity, site, hall_ms(raised_at) AS raised_ms, status, level,
       hall_ms(next_step_at) AS next_step_ms, digest_pending, reason
FROM notify_tracks {where} ORDER BY raised_at DESC, alarm_id DESC LIMIT %(limit)s

-- name: claim_due_steps
-- Leased with SKIP LOCKED: a second controller claims other tracks, or none.
UPDATE notify_tracks SET lease_until = hall_ts(%(now_ms)s) + %(lease_ms)s * interval '1 ms'
WHERE alarm_id IN (
    SELECT alarm_id FROM notify_tracks
    WHERE status = 'notifying' AND next_step_at <= hall_ts(%(now_ms)s)
      AND (lease_until IS NULL OR lease_until <= hall_ts(%(now_ms)s))
    ORDER BY next_step_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING alarm_id, device_id, type, severity, site, hall_ms(raised_at) AS raised_ms, status,
          level, hall_ms(next_step_at) AS next_step_ms, digest_pending, reason

-- name: claim_digest
-- Leased, still pending: a controller that dies before finish_digest leaves them to the next.
UPDATE notify_tracks SET lease_until = hall_ts(%(now_ms)s) + %(lease_ms)s * interval '1 ms'
WHERE alarm_id IN (
    SELECT alarm_id FROM notify_tracks
    WHERE digest_pending AND (lease_until IS NULL OR lease_until <= hall_ts(%(now_ms)s))
    ORDER BY alarm_id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING alarm_id, device_id, type, severity, site, hall_ms(raised_at) AS raised_ms, status,
          level, hall_ms(next_step_at) AS next_step_ms, digest_pending, reason

-- name: finish_digest
UPDATE notify_tracks SET digest_pending = false, lease_until = NULL
WHERE alarm_id = ANY(%(ids)s)

-- name: stop_track
UPDATE notify_tracks SET status = 'done', next_step_at = NULL, lease_until = NULL
WHERE alarm_id = %(alarm_id)s AND status = 'notifying'
RETURNING alarm_id

-- name: insert_history
INSERT INTO notify_history (alarm_id, at, kind, level, recipient_id, channel, delivery_id,
                            details)
VALUES (%(alarm_id)s, hall_ts(%(at_ms)s), %(kind)s, %(level)s, %(recipient_id)s, %(channel)s,
        %(delivery_id)s, %(details)s)

-- name: history
SELECT id, alarm_id, hall_ms(at) AS at_ms, kind, level, recipient_id, channel, delivery_id,
       details
FROM notify_history WHERE alarm_id = %(alarm_id)s ORDER BY at, id

-- name: insert_delivery
INSERT INTO notify_deliveries (alarm_id, recipient_id, purpose, channel, address, subject, body,
                               link, status, created_at, next_attempt_at)
VALUES (%(alarm_id)s, %(recipient_id)s, %(purpose)s, %(channel)s, %(address)s, %(subject)s,
        %(body)s, %(link)s, 'pending', hall_ts(%(at_ms)s), hall_ts(%(at_ms)s))
RETURNING id

-- name: claim_due_deliveries
UPDATE notify_deliveries SET lease_until = hall_ts(%(now_ms)s) + %(lease_ms)s * interval '1 ms'
WHERE id IN (
    SELECT id FROM notify_deliveries
    WHERE status = 'pending' AND next_attempt_at <= hall_ts(%(now_ms)s)
      AND (lease_until IS NULL OR lease_until <= hall_ts(%(now_ms)s))
    ORDER BY next_attempt_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING id, alarm_id, recipient_id, purpose, channel, address, subject, body, link, status,
          attempts, hall_ms(created_at) AS created_ms, hall_ms(next_attempt_at) AS next_attempt_ms,
          hall_ms(delivered_at) AS delivered_ms, last_error

-- name: record_attempt
UPDATE notify_deliveries SET status = %(status)s, attempts = attempts + 1,
       next_attempt_at = hall_ts(%(next_attempt_ms)s), lease_until = NULL,
       delivered_at = CASE WHEN %(status)s = 'delivered' THEN hall_ts(%(at_ms)s) END,
       last_error = %(error)s
WHERE id = %(id)s

-- name: list_deliveries
-- {where} is built by the store; an alarm's deliveries include the digests that listed it.
SELECT id, alarm_id, recipient_id, purpose, channel, address, subject, body, link, status,
       attempts, hall_ms(created_at) AS created_ms, hall_ms(next_attempt_at) AS next_attempt_ms,
       hall_ms(delivered_at) AS delivered_ms, last_error
FROM notify_deliveries d {where} ORDER BY created_at DESC, id DESC LIMIT %(limit)s
