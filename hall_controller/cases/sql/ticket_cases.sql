-- name: add_ticket_cases
-- Record on the ticket the cases linked to it (the clerk's window shows them), keeping the
-- order they were linked in; a case already there is not added again, so a redelivered
-- ticket.take changes nothing. Only case_ids is written: the clerk side moves the ticket
-- concurrently and never touches this column.
UPDATE tickets
SET case_ids = case_ids || ARRAY(
        SELECT c FROM unnest(%(case_ids)s::text[]) WITH ORDINALITY AS n (c, ord)
        WHERE c <> ALL(tickets.case_ids)
        ORDER BY ord)
WHERE ticket_id = %(ticket_id)s::uuid
