-- name: upsert_services
-- The catalog as configured; a service that comes back into the config is active again.
INSERT INTO queue_services (code, name, prefix, first_number, last_number, daily_cap,
                            target_wait_s, active, updated_at)
SELECT code, name, prefix, first_number, last_number, daily_cap, target_wait_s, true, now()
FROM unnest(%(codes)s::text[], %(names)s::text[], %(prefixes)s::text[],
            %(first_numbers)s::int[], %(last_numbers)s::int[], %(daily_caps)s::int[],
            %(target_waits)s::int[])
     AS s (code, name, prefix, first_number, last_number, daily_cap, target_wait_s)
ON CONFLICT (code) DO UPDATE SET
    name = excluded.name, prefix = excluded.prefix, first_number = excluded.first_number,
    last_number = excluded.last_number, daily_cap = excluded.daily_cap,
    target_wait_s = excluded.target_wait_s, active = true, updated_at = now()

-- name: deactivate_other_services
UPDATE queue_services SET active = false, updated_at = now()
WHERE active AND code <> ALL(%(codes)s::text[])

-- name: get_active_service
SELECT code, prefix, first_number, last_number, daily_cap
FROM queue_services
WHERE code = %(service_code)s AND active

-- name: issue_tickets
-- Allocation, the tickets and their first transitions in ONE statement, run outside an
-- explicit transaction: the statement is its own transaction, so the counter row lock (which
-- makes concurrent callers queue up and get consecutive numbers) is held only while the
-- server executes and commits it, never across a round trip to the client. Every ticket of a
-- service passes through that lock, so the statement takes a whole group of requests (the
-- ones that queued up while the previous group was committing): one commit, one fsync, for
-- many tickets. Numbers follow the order of the arrays.
--
-- The group gets min(n, what is left of the day's range or cap) numbers; requests beyond that
-- get no row back, and when nothing is left the counter is not touched (the WHERE of DO
-- UPDATE refuses). If one of the (origin_device, request_id) was stored meanwhile by another
-- controller, the insert raises unique_violation and the whole statement, counter included,
-- is rolled back: no number is ever burnt. The same happens when a number the group would
-- print is shown by a live ticket of the day (tickets_live_number, see 0010): nothing is
-- stored and the store answers NumberInUse.
WITH alloc AS (
    INSERT INTO ticket_counters AS c (service_code, service_day, last_seq, last_grant)
    VALUES (%(service_code)s, %(service_day)s,
            least(%(first_number)s + %(n)s - 1, %(max_seq)s),
            least(%(n)s, %(max_seq)s - %(first_number)s + 1))
    ON CONFLICT (service_code, service_day) DO UPDATE
        SET last_seq = least(c.last_seq + %(n)s, %(max_seq)s),
            last_grant = least(%(n)s, %(max_seq)s - c.last_seq)
        WHERE c.last_seq < %(max_seq)s
    RETURNING last_seq - last_grant AS before_seq, last_grant
), request AS (
    SELECT *
    FROM unnest(%(ticket_ids)s::uuid[], %(sources)s::text[], %(priorities)s::boolean[],
                %(issued_ms)s::bigint[], %(person_ids)s::text[], %(identity_types)s::text[],
                %(identity_values)s::text[], %(origin_devices)s::text[],
                %(request_ids)s::text[], %(actors)s::text[])
         WITH ORDINALITY
         AS r (ticket_id, source, priority, issued_ms, person_id, identity_type,
               identity_value, origin_device, request_id, actor, ord)
), ticket AS (
    INSERT INTO tickets (ticket_id, service_code, numbered_by, service_day, seq, number, state,
                         source, priority, issued_at, person_id, identity_type, identity_value,
                         origin_device, request_id)
    SELECT r.ticket_id, %(service_code)s, %(service_code)s, %(service_day)s,
           (a.before_seq + r.ord)::integer,
           %(prefix)s || lpad((a.before_seq + r.ord)::text, %(width)s, '0'),
           -- A remote ticket (指尖办) holds its number but joins the queue only at check-in.
           CASE WHEN r.source = 'remote' THEN 'awaiting_checkin' ELSE 'waiting' END,
           r.source, r.priority, hall_ts(r.issued_ms), r.person_id, r.identity_type,
           r.identity_value, r.origin_device, r.request_id
    FROM request r CROSS JOIN alloc a
    WHERE r.ord <= a.last_grant
    RETURNING ticket_id, seq, number
), transition AS (
    INSERT INTO ticket_transitions (ticket_id, from_state, to_state, at, actor)
    SELECT t.ticket_id, NULL,
           CASE WHEN r.source = 'remote' THEN 'awaiting_checkin' ELSE 'waiting' END,
           hall_ts(r.issued_ms), r.actor
    FROM ticket t JOIN request r USING (ticket_id)
)
SELECT ticket_id::text, seq, number FROM ticket

-- name: get_ticket
SELECT ticket_id::text, service_code, service_day::text, seq, number, state, source, priority,
       hall_ms(issued_at) AS issued_ms, hall_ms(appointment_at) AS appointment_ms, person_id,
       case_ids, window_id, hall_ms(called_at) AS called_ms, hall_ms(serving_at) AS serving_ms,
       hall_ms(completed_at) AS completed_ms, recalls, outcome, origin_device, request_id
FROM tickets
WHERE ticket_id = %(ticket_id)s

-- name: list_tickets
SELECT ticket_id::text, service_code, service_day::text, seq, number, state, source, priority,
       hall_ms(issued_at) AS issued_ms, hall_ms(appointment_at) AS appointment_ms, person_id,
       case_ids, window_id, hall_ms(called_at) AS called_ms, hall_ms(serving_at) AS serving_ms,
       hall_ms(completed_at) AS completed_ms, recalls, outcome, origin_device, request_id
FROM tickets
WHERE service_code = %(service_code)s AND service_day = %(service_day)s
ORDER BY seq, number  -- a ticket transferred in may share its seq with one issued here

-- name: person_tickets
-- tickets_person's index: one person's tickets of one day.
SELECT ticket_id::text, service_code, service_day::text, seq, number, state, source, priority,
       hall_ms(issued_at) AS issued_ms, hall_ms(appointment_at) AS appointment_ms, person_id,
       case_ids, window_id, hall_ms(called_at) AS called_ms, hall_ms(serving_at) AS serving_ms,
       hall_ms(completed_at) AS completed_ms, recalls, outcome, origin_device, request_id
FROM tickets
WHERE person_id = %(person_id)s AND service_day = %(service_day)s
ORDER BY issued_at, seq

-- name: list_transitions
SELECT ticket_id::text, from_state, to_state, hall_ms(at) AS at_ms, actor, window_id, detail
FROM ticket_transitions
WHERE ticket_id = %(ticket_id)s
ORDER BY id

-- name: tickets_by_requests
-- The tickets these device requests already made (redeliveries), by (device, request id).
SELECT ticket_id::text, service_code, service_day::text, seq, number, state, source, priority,
       hall_ms(issued_at) AS issued_ms, hall_ms(appointment_at) AS appointment_ms, person_id,
       case_ids, window_id, hall_ms(called_at) AS called_ms, hall_ms(serving_at) AS serving_ms,
       hall_ms(completed_at) AS completed_ms, recalls, outcome, origin_device, request_id
FROM tickets
WHERE (origin_device, request_id) IN (
    SELECT * FROM unnest(%(origin_devices)s::text[], %(request_ids)s::text[]))

-- name: group_snapshot
-- What the replies to an allocation group need, in one statement after it committed. Interim
-- rule for "ahead" (until the calling rules of queue/rules.py are wired in): a normal ticket
-- counts every waiting ticket that arrived earlier, a green-channel ticket only the
-- green-channel ones.
SELECT w.ticket_id::text,
       CASE WHEN w.priority THEN w.rank_in_channel ELSE w.rank_in_all END - 1 AS waiting_ahead,
       (SELECT avg(hall_ms(d.completed_at) - hall_ms(d.serving_at)) / 1000.0
        FROM (SELECT completed_at, serving_at FROM tickets
              WHERE service_code = %(service_code)s AND state = 'done'
                AND serving_at IS NOT NULL AND completed_at IS NOT NULL
              ORDER BY completed_at DESC LIMIT 20) d)::float8 AS recent_service_s,
       (SELECT count(DISTINCT window_id) FROM tickets
        WHERE service_code = %(service_code)s AND service_day = %(service_day)s
          AND window_id IS NOT NULL) AS serving_windows
FROM (SELECT ticket_id, priority,
             row_number() OVER (ORDER BY issued_at, seq) AS rank_in_all,
             row_number() OVER (PARTITION BY priority ORDER BY issued_at, seq) AS rank_in_channel
      FROM tickets
      WHERE service_code = %(service_code)s AND service_day = %(service_day)s
        AND state = 'waiting') w
WHERE w.ticket_id = ANY(%(ticket_ids)s::uuid[])
