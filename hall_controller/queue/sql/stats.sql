-- name: wait_recent_service_times
-- The last %(keep)s window-occupancy times (called -> done, seconds) of every active service,
-- oldest first. A ticket occupies its window from the call, because the walk to the window
-- blocks it too. One index scan per service (tickets_recently_done).
SELECT s.code AS service_code, d.occupied_s
FROM queue_services s
CROSS JOIN LATERAL (
    SELECT (hall_ms(t.completed_at) - hall_ms(t.called_at)) / 1000.0 AS occupied_s,
           t.completed_at
    FROM tickets t
    WHERE t.service_code = s.code AND t.state = 'done'
      AND t.called_at IS NOT NULL AND t.completed_at IS NOT NULL
    ORDER BY t.completed_at DESC
    LIMIT %(keep)s
) d
WHERE s.active
ORDER BY s.code, d.completed_at

-- name: wait_day_state
-- The day's queue as the estimate sees it: waiting tickets by service (window is NULL), and
-- the windows with a ticket called or being served (one row each; the earliest call if a
-- window somehow has two).
SELECT 'waiting' AS kind, service_code, NULL::text AS window_id, count(*)::bigint AS n,
       NULL::bigint AS since_ms
FROM tickets
WHERE service_day = %(service_day)s AND state = 'waiting'
GROUP BY service_code
UNION ALL
SELECT DISTINCT ON (window_id) 'busy', service_code, window_id, 1, hall_ms(called_at)
FROM tickets
WHERE service_day = %(service_day)s AND state IN ('called', 'serving')
  AND window_id IS NOT NULL AND called_at IS NOT NULL

-- name: service_day_stats
-- Per service and service day, from the tickets and their transitions (the transitions are the
-- record of what happened; the ticket row only says where it is now):
--   wait    = the ticket's first call - its arrival (issued_at: kept across a transfer, so a
--             transferred visitor's wait counts from when they came in);
--   service = done - the last start of serving (a parked and resumed ticket counts its last
--             stretch at the window);
-- A ticket counts under the service it is in now (after a transfer: the new one).
-- Service level and no-show rate are over the tickets called at least once: a ticket still
-- waiting at the end of the day has no wait yet.
-- linked = tickets linked to at least one online case; pending = completed as pending materials.
WITH day_tickets AS (
    SELECT t.ticket_id, t.service_code, t.state, t.issued_at,
           cardinality(t.case_ids) > 0 AS linked, t.outcome = 'pending_materials' AS pending
    FROM tickets t
    WHERE t.service_day = %(service_day)s
), moments AS (
    SELECT d.ticket_id, d.service_code, d.state, d.issued_at, d.linked, d.pending,
           min(tr.at) FILTER (WHERE tr.to_state = 'called') AS first_called,
           max(tr.at) FILTER (WHERE tr.to_state = 'serving') AS last_serving,
           max(tr.at) FILTER (WHERE tr.to_state = 'done') AS done_at
    FROM day_tickets d
    LEFT JOIN ticket_transitions tr USING (ticket_id)
    GROUP BY d.ticket_id, d.service_code, d.state, d.issued_at, d.linked, d.pending
), timed AS (
    SELECT m.*,
           (hall_ms(m.first_called) - hall_ms(m.issued_at)) / 1000.0 AS wait_s,
           CASE WHEN m.state = 'done'
                THEN (hall_ms(m.done_at) - hall_ms(m.last_serving)) / 1000.0 END AS service_s
    FROM moments m
)
SELECT s.code AS service_code, s.target_wait_s,
       count(t.ticket_id) AS tickets,
       count(t.wait_s) AS called,
       count(*) FILTER (WHERE t.state = 'done') AS served,
       count(*) FILTER (WHERE t.state = 'no_show') AS no_shows,
       avg(t.wait_s)::float8 AS mean_wait_s,
       (percentile_cont(0.9) WITHIN GROUP (ORDER BY t.wait_s))::float8 AS p90_wait_s,
       avg(t.service_s)::float8 AS mean_service_s,
       (count(*) FILTER (WHERE t.wait_s <= s.target_wait_s))::float8
           / nullif(count(t.wait_s), 0) AS service_level,
       (count(*) FILTER (WHERE t.state = 'no_show'))::float8
           / nullif(count(t.wait_s), 0) AS no_show_rate,
       count(*) FILTER (WHERE t.linked) AS linked,
       count(*) FILTER (WHERE t.state = 'done' AND t.pending) AS pending
FROM queue_services s
LEFT JOIN timed t ON t.service_code = s.code
WHERE s.active OR t.ticket_id IS NOT NULL
GROUP BY s.code, s.target_wait_s
ORDER BY s.code
