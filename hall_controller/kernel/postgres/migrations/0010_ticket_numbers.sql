-- A ticket's number belongs to the service whose counter issued it, not to the queue the
-- ticket is in now.
--
-- The visitor holds a printed slip, so a ticket a clerk transfers to another service keeps its
-- number (and its place: its arrival time, unless the clerk sends it to the back). 0004 made
-- (service_code, service_day, seq) unique, and a transfer changes service_code: transferring
-- A004 to the transcript service failed with a unique violation as soon as transcript had
-- issued B004 -- in a busy hall, most transfers. Uniqueness now keys on the issuing service
-- (numbered_by), which never changes, so the numbers each counter hands out stay unique per
-- day, and wherever tickets move no two live tickets of a day show the same printed number.

ALTER TABLE tickets ADD COLUMN numbered_by text REFERENCES queue_services (code);

-- Tickets transferred before this migration name their first service in the detail of their
-- first transfer ("<from> -> <to>", the only move from waiting/called/serving back to
-- waiting); the others were never moved and are still in the service that issued them.
UPDATE tickets t SET numbered_by = coalesce(
    (SELECT split_part(tr.detail, ' -> ', 1)
     FROM ticket_transitions tr
     WHERE tr.ticket_id = t.ticket_id AND tr.to_state = 'waiting'
       AND tr.from_state IN ('waiting', 'called', 'serving') AND tr.detail LIKE '% -> %'
     ORDER BY tr.id
     LIMIT 1),
    t.service_code);

ALTER TABLE tickets ALTER COLUMN numbered_by SET NOT NULL;
ALTER TABLE tickets DROP CONSTRAINT tickets_service_code_service_day_seq_key;
ALTER TABLE tickets ADD CONSTRAINT tickets_numbered_once UNIQUE (numbered_by, service_day, seq);

-- What the visitor reads: among the open tickets of a day, a printed number is shown by one
-- ticket only. The counters already guarantee it while every service has its own prefix (the
-- config refuses two services with one prefix); this also holds when prefixes are swapped
-- between restarts during a day, where the store refuses the ticket (NumberInUse) rather than
-- print a second slip with a number the hall is already calling. Per day, so that a ticket
-- of yesterday still being served at the rollover does not block today's first numbers.
CREATE UNIQUE INDEX tickets_live_number ON tickets (service_day, number)
    WHERE state IN ('awaiting_checkin', 'waiting', 'called', 'serving', 'parked');
