-- name: apply_ticket_move
-- The move and its transition in one statement (its own transaction, on an autocommit
-- connection), guarded by the state the move started from. No row back: the ticket is gone
-- or another window moved it first. case_ids is not touched: the cases engine links cases
-- to tickets concurrently.
WITH moved AS (
    UPDATE tickets SET
        state = %(state)s, service_code = %(service_code)s, issued_at = hall_ts(%(issued_ms)s::bigint),
        window_id = %(window_id)s, called_at = hall_ts(%(called_ms)s::bigint),
        serving_at = hall_ts(%(serving_ms)s::bigint), completed_at = hall_ts(%(completed_ms)s::bigint),
        recalls = %(recalls)s, outcome = %(outcome)s
    WHERE ticket_id = %(ticket_id)s AND state = %(expected_state)s
    RETURNING ticket_id::text, service_code, service_day::text, seq, number, state, source,
              priority, hall_ms(issued_at) AS issued_ms, hall_ms(appointment_at) AS appointment_ms,
              person_id, case_ids, window_id, hall_ms(called_at) AS called_ms,
              hall_ms(serving_at) AS serving_ms, hall_ms(completed_at) AS completed_ms, recalls,
              outcome, origin_device, request_id
), transition AS (
    INSERT INTO ticket_transitions (ticket_id, from_state, to_state, at, actor, window_id, detail)
    SELECT ticket_id::uuid, %(from_state)s, %(state)s, hall_ts(%(at_ms)s::bigint), %(actor)s,
           %(transition_window)s, %(detail)s
    FROM moved
)
SELECT * FROM moved

-- name: ticket_state
SELECT state, number FROM tickets WHERE ticket_id = %(ticket_id)s

-- name: waiting_for
SELECT ticket_id::text, service_code, service_day::text, seq, number, state, source, priority,
       hall_ms(issued_at) AS issued_ms, hall_ms(appointment_at) AS appointment_ms, person_id,
       case_ids, window_id, hall_ms(called_at) AS called_ms, hall_ms(serving_at) AS serving_ms,
       hall_ms(completed_at) AS completed_ms, recalls, outcome, origin_device, request_id
FROM tickets
WHERE service_code = ANY(%(codes)s::text[]) AND service_day = %(service_day)s
  AND state = 'waiting'
ORDER BY issued_at, seq

-- name: tickets_at_window
SELECT ticket_id::text, service_code, service_day::text, seq, number, state, source, priority,
       hall_ms(issued_at) AS issued_ms, hall_ms(appointment_at) AS appointment_ms, person_id,
       case_ids, window_id, hall_ms(called_at) AS called_ms, hall_ms(serving_at) AS serving_ms,
       hall_ms(completed_at) AS completed_ms, recalls, outcome, origin_device, request_id
FROM tickets
WHERE window_id = %(window_id)s AND state = ANY(%(states)s::text[])
ORDER BY called_at, seq

-- name: recent_window_calls
-- Oldest first after the inner newest-first LIMIT.
SELECT priority FROM (
    SELECT tr.id, t.priority
    FROM ticket_transitions tr JOIN tickets t USING (ticket_id)
    WHERE tr.window_id = %(window_id)s AND tr.from_state = 'waiting' AND tr.to_state = 'called'
      AND t.appointment_at IS NULL
    ORDER BY tr.id DESC
    LIMIT %(limit)s
) recent
ORDER BY id

-- name: clerk_day
-- One clerk's transitions on the tickets of one service day (tickets_waiting's index finds
-- the day's tickets, ticket_transitions_ticket their moves). Service time: from the ticket's
-- last start of service before the completion.
SELECT
    count(DISTINCT tr.ticket_id) FILTER (WHERE tr.to_state = 'called') AS called,
    count(*) FILTER (WHERE tr.to_state = 'done') AS done,
    count(*) FILTER (WHERE tr.to_state = 'no_show') AS no_show,
    -- A transfer puts the ticket back in a queue with the detail "<from> -> <to>".
    count(*) FILTER (WHERE tr.to_state = 'waiting' AND tr.detail LIKE '%% -> %%') AS transferred,
    coalesce(sum(extract(epoch FROM tr.at - (
        SELECT s.at FROM ticket_transitions s
        WHERE s.ticket_id = tr.ticket_id AND s.to_state = 'serving' AND s.id < tr.id
        ORDER BY s.id DESC LIMIT 1))) FILTER (WHERE tr.to_state = 'done'), 0) AS service_s_total
FROM tickets t JOIN ticket_transitions tr USING (ticket_id)
WHERE t.service_day = %(service_day)s::date AND tr.actor = %(actor)s

-- name: open_window_session
-- Nothing back when the window is open already (the partial unique index refuses a second
-- open session); the caller then reads who has it.
INSERT INTO window_sessions (window_id, clerk, opened_at)
VALUES (%(window_id)s, %(clerk)s, hall_ts(%(at_ms)s::bigint))
ON CONFLICT (window_id) WHERE closed_at IS NULL DO NOTHING
RETURNING window_id, clerk, hall_ms(opened_at) AS opened_ms, hall_ms(closed_at) AS closed_ms

-- name: close_window_session
UPDATE window_sessions SET closed_at = greatest(opened_at, hall_ts(%(at_ms)s::bigint))
WHERE window_id = %(window_id)s AND closed_at IS NULL
RETURNING window_id, clerk, hall_ms(opened_at) AS opened_ms, hall_ms(closed_at) AS closed_ms

-- name: open_window_session_of
SELECT window_id, clerk, hall_ms(opened_at) AS opened_ms, hall_ms(closed_at) AS closed_ms
FROM window_sessions
WHERE window_id = %(window_id)s AND closed_at IS NULL
