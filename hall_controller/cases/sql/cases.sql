-- Online cases, their event log, API keys, webhooks and deliveries (migration 0005).

-- name: lock_case_events
-- Taken first by every transaction that appends case events and held until it commits, so
-- event ids are handed out in commit order (the feed's cursor relies on it).
SELECT pg_advisory_xact_lock(7305005)

-- name: get_case
SELECT case_id, service_code, status, status_reason, person_id, campus_card, applicant_name,
       materials, appointment, visits, linked_tickets, hall_ms(created_at) AS created_ms,
       hall_ms(updated_at) AS updated_ms, hall_ms(resolved_at) AS resolved_ms, version
FROM cases WHERE case_id = %(case_id)s

-- name: list_cases
SELECT case_id, service_code, status, status_reason, person_id, campus_card, applicant_name,
       materials, appointment, visits, linked_tickets, hall_ms(created_at) AS created_ms,
       hall_ms(updated_at) AS updated_ms, hall_ms(resolved_at) AS resolved_ms, version
FROM cases
WHERE (%(person_id)s::text IS NULL OR person_id = %(person_id)s)
  AND (%(campus_card)s::text IS NULL OR campus_card = %(campus_card)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(service_code)s::text IS NULL OR service_code = %(service_code)s)
ORDER BY created_at, case_id
LIMIT %(limit)s

-- name: insert_case
-- A new case (expected version 0). Nothing is returned when it already exists: a conflict.
INSERT INTO cases (case_id, service_code, status, status_reason, person_id, campus_card,
                   applicant_name, materials, appointment, visits, visit_count, linked_tickets,
                   created_at, updated_at, resolved_at, version)
VALUES (%(case_id)s, %(service_code)s, %(status)s, %(status_reason)s, %(person_id)s,
        %(campus_card)s, %(applicant_name)s, %(materials)s, %(appointment)s, %(visits)s,
        %(visit_count)s, %(linked_tickets)s, hall_ts(%(created_ms)s), hall_ts(%(updated_ms)s),
        hall_ts(%(resolved_ms)s), 1)
ON CONFLICT (case_id) DO NOTHING
RETURNING version

-- name: update_case
-- Only from the version the caller read: nothing is returned when someone wrote in between.
UPDATE cases SET service_code = %(service_code)s, status = %(status)s,
                 status_reason = %(status_reason)s, person_id = %(person_id)s,
                 campus_card = %(campus_card)s, applicant_name = %(applicant_name)s,
                 materials = %(materials)s, appointment = %(appointment)s, visits = %(visits)s,
                 visit_count = %(visit_count)s, linked_tickets = %(linked_tickets)s,
                 updated_at = hall_ts(%(updated_ms)s), resolved_at = hall_ts(%(resolved_ms)s),
                 version = version + 1
WHERE case_id = %(case_id)s AND version = %(expected_version)s
RETURNING version

-- name: case_version
SELECT version FROM cases WHERE case_id = %(case_id)s

-- name: append_case_events
INSERT INTO case_events (case_id, type, at, data)
SELECT case_id, type, hall_ts(at_ms), data::jsonb
FROM unnest(%(case_ids)s::text[], %(types)s::text[], %(at_ms)s::bigint[], %(data)s::text[])
     WITH ORDINALITY AS e(case_id, type, at_ms, data, n)
ORDER BY n
RETURNING id, case_id, type, hall_ms(at) AS at_ms, data

-- name: queue_deliveries
-- One delivery per new event and active webhook, in the same transaction as the events.
INSERT INTO webhook_deliveries (webhook_id, event_id, created_at, next_attempt_at)
SELECT w.id, e.id, e.at, e.at
FROM webhooks w CROSS JOIN case_events e
WHERE w.active AND e.id = ANY(%(event_ids)s::bigint[])

-- name: events_after
SELECT id, case_id, type, hall_ms(at) AS at_ms, data
FROM case_events
WHERE id > %(cursor)s AND (%(case_id)s::text IS NULL OR case_id = %(case_id)s)
ORDER BY id
LIMIT %(limit)s

-- name: one_trip_counts
SELECT count(*) FILTER (WHERE visit_count >= 1) AS resolved_with_visit,
       count(*) FILTER (WHERE visit_count = 1) AS one_visit
FROM cases
WHERE status = 'resolved' AND resolved_at >= hall_ts(%(from_ms)s)
  AND resolved_at < hall_ts(%(to_ms)s)

-- name: insert_api_key
INSERT INTO api_keys (key_id, name, secret_hash, scopes, created_at, created_by, revoked_at)
VALUES (%(key_id)s, %(name)s, %(secret_hash)s, %(scopes)s, hall_ts(%(created_ms)s),
        %(created_by)s, hall_ts(%(revoked_ms)s))
ON CONFLICT (key_id) DO NOTHING
RETURNING key_id

-- name: get_api_key
SELECT key_id, name, secret_hash, scopes, hall_ms(created_at) AS created_ms, created_by,
       hall_ms(revoked_at) AS revoked_ms
FROM api_keys WHERE key_id = %(key_id)s

-- name: list_api_keys
SELECT key_id, name, secret_hash, scopes, hall_ms(created_at) AS created_ms, created_by,
       hall_ms(revoked_at) AS revoked_ms
FROM api_keys ORDER BY created_at, key_id

-- name: revoke_api_key
-- Revoking twice keeps the first time.
UPDATE api_keys SET revoked_at = coalesce(revoked_at, hall_ts(%(at_ms)s))
WHERE key_id = %(key_id)s
RETURNING key_id, name, secret_hash, scopes, hall_ms(created_at) AS created_ms, created_by,
          hall_ms(revoked_at) AS revoked_ms

-- name: insert_webhook
INSERT INTO webhooks (url, secret, description, active, created_at, created_by)
VALUES (%(url)s, %(secret)s, %(description)s, true, hall_ts(%(at_ms)s), %(created_by)s)
RETURNING id, url, secret, description, active, hall_ms(created_at) AS created_ms, created_by

-- name: get_webhook
SELECT id, url, secret, description, active, hall_ms(created_at) AS created_ms, created_by
FROM webhooks WHERE id = %(id)s

-- name: list_webhooks
SELECT id, url, secret, description, active, hall_ms(created_at) AS created_ms, created_by
FROM webhooks ORDER BY id

-- name: set_webhook_active
UPDATE webhooks SET active = %(active)s WHERE id = %(id)s
RETURNING id, url, secret, description, active, hall_ms(created_at) AS created_ms, created_by

-- name: claim_due_deliveries
-- SKIP LOCKED and the lease let several dispatchers share the work without sending twice.
WITH due AS (
    SELECT d.id
    FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= hall_ts(%(now_ms)s) AND w.active
    ORDER BY d.next_attempt_at, d.id
    LIMIT %(limit)s
    FOR UPDATE OF d SKIP LOCKED
), claimed AS (
    UPDATE webhook_deliveries d SET next_attempt_at = hall_ts(%(now_ms)s::bigint + %(lease_ms)s::bigint)
    FROM due WHERE d.id = due.id
    RETURNING d.*
)
SELECT c.id, c.webhook_id, c.event_id, c.status, c.attempts,
       hall_ms(c.created_at) AS created_ms, hall_ms(c.next_attempt_at) AS next_attempt_ms,
       c.last_status_code, c.last_error, hall_ms(c.delivered_at) AS delivered_ms,
       w.url AS w_url, w.secret AS w_secret, w.description AS w_description,
       w.active AS w_active, hall_ms(w.created_at) AS w_created_ms, w.created_by AS w_created_by,
       e.case_id AS e_case_id, e.type AS e_type, hall_ms(e.at) AS e_at_ms, e.data AS e_data
FROM claimed c
JOIN webhooks w ON w.id = c.webhook_id
JOIN case_events e ON e.id = c.event_id
ORDER BY c.next_attempt_at, c.id

-- name: record_attempt
-- Only a pending delivery changes: a late answer cannot undo a delivery already made.
WITH updated AS (
    UPDATE webhook_deliveries SET
        status = %(result)s, attempts = attempts + 1,
        next_attempt_at = hall_ts(%(next_attempt_ms)s), last_status_code = %(status_code)s,
        last_error = %(error)s,
        delivered_at = CASE WHEN %(result)s = 'delivered' THEN hall_ts(%(at_ms)s)
                            ELSE delivered_at END
    WHERE id = %(delivery_id)s AND status = 'pending'
    RETURNING id, attempts
)
INSERT INTO webhook_attempts (delivery_id, attempt, at, duration_ms, status_code, error, result,
                              next_attempt_at)
SELECT id, attempts, hall_ts(%(at_ms)s), %(duration_ms)s, %(status_code)s, %(error)s,
       %(result)s, hall_ts(%(next_attempt_ms)s)
FROM updated

-- name: get_delivery
SELECT id, webhook_id, event_id, status, attempts, hall_ms(created_at) AS created_ms,
       hall_ms(next_attempt_at) AS next_attempt_ms, last_status_code, last_error,
       hall_ms(delivered_at) AS delivered_ms
FROM webhook_deliveries WHERE id = %(id)s

-- name: list_deliveries
SELECT id, webhook_id, event_id, status, attempts, hall_ms(created_at) AS created_ms,
       hall_ms(next_attempt_at) AS next_attempt_ms, last_status_code, last_error,
       hall_ms(delivered_at) AS delivered_ms
FROM webhook_deliveries
WHERE (%(webhook_id)s::bigint IS NULL OR webhook_id = %(webhook_id)s)
  AND (%(event_id)s::bigint IS NULL OR event_id = %(event_id)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
ORDER BY id DESC
LIMIT %(limit)s

-- name: list_attempts
SELECT delivery_id, attempt, hall_ms(at) AS at_ms, duration_ms, status_code, error, result,
       hall_ms(next_attempt_at) AS next_attempt_ms
FROM webhook_attempts WHERE delivery_id = %(delivery_id)s ORDER BY attempt

-- name: retry_delivery
UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = hall_ts(%(now_ms)s)
WHERE id = %(id)s AND status <> 'delivered'
