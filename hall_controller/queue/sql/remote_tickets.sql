-- name: record_remote_ticket
INSERT INTO remote_tickets (ticket_id, checkin_by, case_id, created_by)
VALUES (%(ticket_id)s, hall_ts(%(checkin_by_ms)s::bigint), %(case_id)s, %(created_by)s)
ON CONFLICT (ticket_id) DO NOTHING

-- name: get_remote_ticket
SELECT ticket_id::text, hall_ms(checkin_by) AS checkin_by_ms, case_id, created_by
FROM remote_tickets WHERE ticket_id = %(ticket_id)s

-- name: awaiting_for_identity
SELECT ticket_id::text, service_code, service_day::text, seq, number, state, source, priority,
       hall_ms(issued_at) AS issued_ms, hall_ms(appointment_at) AS appointment_ms, person_id,
       case_ids, window_id, hall_ms(called_at) AS called_ms, hall_ms(serving_at) AS serving_ms,
       hall_ms(completed_at) AS completed_ms, recalls, outcome, origin_device, request_id
FROM tickets
WHERE service_code = %(service_code)s AND service_day = %(service_day)s
  AND identity_type = %(identity_type)s AND identity_value = %(identity_value)s
  AND state = 'awaiting_checkin'
ORDER BY issued_at, seq

-- name: ticket_for_request
-- Checked in by this request, or issued by it. Two index lookups (UNION ALL rather than OR,
-- so neither becomes a scan: this runs on every identified ticket.take).
(SELECT t.ticket_id::text, t.service_code, t.service_day::text, t.seq, t.number, t.state,
        t.source, t.priority, hall_ms(t.issued_at) AS issued_ms,
        hall_ms(t.appointment_at) AS appointment_ms, t.person_id, t.case_ids, t.window_id,
        hall_ms(t.called_at) AS called_ms, hall_ms(t.serving_at) AS serving_ms,
        hall_ms(t.completed_at) AS completed_ms, t.recalls, t.outcome, t.origin_device,
        t.request_id
 FROM remote_checkins c JOIN tickets t USING (ticket_id)
 WHERE c.origin_device = %(origin_device)s AND c.request_id = %(request_id)s)
UNION ALL
(SELECT t.ticket_id::text, t.service_code, t.service_day::text, t.seq, t.number, t.state,
        t.source, t.priority, hall_ms(t.issued_at) AS issued_ms,
        hall_ms(t.appointment_at) AS appointment_ms, t.person_id, t.case_ids, t.window_id,
        hall_ms(t.called_at) AS called_ms, hall_ms(t.serving_at) AS serving_ms,
        hall_ms(t.completed_at) AS completed_ms, t.recalls, t.outcome, t.origin_device,
        t.request_id
 FROM tickets t
 WHERE t.origin_device = %(origin_device)s AND t.request_id = %(request_id)s)
LIMIT 1

-- name: check_in_remote_ticket
-- The check-in move, its transition and the kiosk request that made it, in one statement
-- (its own transaction), guarded by the state: two kiosks checking the same ticket in, one
-- gets no row. A redelivered request that raced in anyway hits the primary key of
-- remote_checkins and the whole statement rolls back.
WITH moved AS (
    UPDATE tickets SET state = %(state)s, issued_at = hall_ts(%(issued_ms)s::bigint)
    WHERE ticket_id = %(ticket_id)s AND state = 'awaiting_checkin'
    RETURNING ticket_id::text, service_code, service_day::text, seq, number, state, source,
              priority, hall_ms(issued_at) AS issued_ms, hall_ms(appointment_at) AS appointment_ms,
              person_id, case_ids, window_id, hall_ms(called_at) AS called_ms,
              hall_ms(serving_at) AS serving_ms, hall_ms(completed_at) AS completed_ms, recalls,
              outcome, origin_device, request_id
), transition AS (
    INSERT INTO ticket_transitions (ticket_id, from_state, to_state, at, actor, window_id, detail)
    SELECT ticket_id::uuid, 'awaiting_checkin', %(state)s, hall_ts(%(at_ms)s::bigint), %(actor)s,
           NULL, %(detail)s
    FROM moved
), request AS (
    INSERT INTO remote_checkins (origin_device, request_id, ticket_id)
    SELECT %(origin_device)s, %(request_id)s, ticket_id::uuid
    FROM moved
    WHERE %(origin_device)s::text IS NOT NULL AND %(request_id)s::text IS NOT NULL
)
SELECT * FROM moved

-- name: due_to_lapse
SELECT t.ticket_id::text, t.service_code, t.service_day::text, t.seq, t.number, t.state,
       t.source, t.priority, hall_ms(t.issued_at) AS issued_ms,
       hall_ms(t.appointment_at) AS appointment_ms, t.person_id, t.case_ids, t.window_id,
       hall_ms(t.called_at) AS called_ms, hall_ms(t.serving_at) AS serving_ms,
       hall_ms(t.completed_at) AS completed_ms, t.recalls, t.outcome, t.origin_device,
       t.request_id
FROM tickets t LEFT JOIN remote_tickets r USING (ticket_id)
WHERE t.state = 'awaiting_checkin'
  AND coalesce(r.checkin_by, hall_ts(hall_ms(t.issued_at) + %(default_window_ms)s::bigint))
      <= hall_ts(%(now_ms)s::bigint)
ORDER BY t.issued_at
LIMIT %(limit)s

-- name: open_before_day
SELECT ticket_id::text, service_code, service_day::text, seq, number, state, source, priority,
       hall_ms(issued_at) AS issued_ms, hall_ms(appointment_at) AS appointment_ms, person_id,
       case_ids, window_id, hall_ms(called_at) AS called_ms, hall_ms(serving_at) AS serving_ms,
       hall_ms(completed_at) AS completed_ms, recalls, outcome, origin_device, request_id
FROM tickets
WHERE service_day < %(service_day)s::date
  AND state IN ('awaiting_checkin', 'waiting', 'called', 'parked')
ORDER BY service_day, seq
LIMIT %(limit)s
