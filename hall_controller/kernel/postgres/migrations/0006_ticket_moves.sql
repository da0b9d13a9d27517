-- The clerk's side of the queue: who sits at which window, and finding a window's calls fast.
--
-- A ticket move (call, start, complete, ...) is an UPDATE of tickets guarded by the state the
-- move started from, plus a row in ticket_transitions, in one transaction: two windows calling
-- the same ticket at once, the second UPDATE finds 0 rows (after waiting for the first one's
-- row lock, READ COMMITTED re-checks the condition on the committed row) and retries.

-- One row per clerk session at a window; at most one open session per window.
CREATE TABLE window_sessions (
    id        bigserial PRIMARY KEY,
    window_id text NOT NULL,
    clerk     text NOT NULL,
    opened_at timestamptz NOT NULL,
    closed_at timestamptz,
    CHECK (closed_at IS NULL OR closed_at >= opened_at)
);
CREATE UNIQUE INDEX window_sessions_one_open ON window_sessions (window_id)
    WHERE closed_at IS NULL;

-- The priority ratio's history is the window's last walk-in calls, read from the transitions
-- (so it survives restarts and every controller sees the same); this keeps that read short.
CREATE INDEX ticket_transitions_calls ON ticket_transitions (window_id, id DESC)
    WHERE from_state = 'waiting' AND to_state = 'called';

-- The window's current (called or serving) and parked tickets.
CREATE INDEX tickets_at_window ON tickets (window_id, called_at)
    WHERE state IN ('called', 'serving', 'parked');
