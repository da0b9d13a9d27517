-- Queue tickets: the services catalog, tickets, their transitions and the per-day counters.
--
-- Numbers are allocated by one upsert on ticket_counters in the statement (its own
-- transaction) that inserts the tickets and their first transitions: the counter row is
-- locked until that transaction ends,
-- so concurrent kiosks (and controllers) queue up on it and each gets the next number; a
-- transaction that rolls back gives its number back. Numbers are therefore unique and
-- gap-free per committed ticket, per service and service day.

-- Synced from the config at every controller start. A service dropped from the config is
-- marked inactive, never deleted: its tickets keep referring to it.
CREATE TABLE queue_services (
    code          text PRIMARY KEY,
    name          text NOT NULL,
    prefix        text NOT NULL,
    first_number  integer NOT NULL CHECK (first_number >= 0),
    last_number   integer NOT NULL,
    daily_cap     integer CHECK (daily_cap IS NULL OR daily_cap >= 1),
    target_wait_s integer NOT NULL CHECK (target_wait_s > 0),
    active        boolean NOT NULL DEFAULT true,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (last_number >= first_number)
);

-- last_seq: the sequence number of the last ticket issued for (service, day); the first
-- allocation of a day inserts the row. One allocation may hand out several consecutive
-- numbers (a controller allocates for all the requests that queued up meanwhile, in one
-- statement); last_grant is how many, so the statement's RETURNING knows where its range
-- starts (last_seq - last_grant + 1).
CREATE TABLE ticket_counters (
    service_code text NOT NULL REFERENCES queue_services (code),
    service_day  date NOT NULL,
    last_seq     integer NOT NULL,
    last_grant   integer NOT NULL CHECK (last_grant >= 1),
    PRIMARY KEY (service_code, service_day)
);

CREATE TABLE tickets (
    ticket_id      uuid PRIMARY KEY,
    service_code   text NOT NULL REFERENCES queue_services (code),
    service_day    date NOT NULL,
    seq            integer NOT NULL,
    number         text NOT NULL,
    state          text NOT NULL CHECK (state IN ('awaiting_checkin', 'waiting', 'called',
                                                  'serving', 'parked', 'done', 'no_show',
                                                  'cancelled', 'lapsed')),
    source         text NOT NULL CHECK (source IN ('kiosk', 'remote', 'counter')),
    priority       boolean NOT NULL DEFAULT false,
    issued_at      timestamptz NOT NULL,
    appointment_at timestamptz,
    person_id      text,
    identity_type  text,         -- as the kiosk read it; the cases engine resolves it to cases
    identity_value text,
    case_ids       text[] NOT NULL DEFAULT '{}',
    window_id      text,
    called_at      timestamptz,
    serving_at     timestamptz,
    completed_at   timestamptz,
    recalls        integer NOT NULL DEFAULT 0,
    outcome        text,
    origin_device  text,
    request_id     text,
    UNIQUE (service_code, service_day, seq),
    -- A redelivered ticket.take (same kiosk, same request id) finds the ticket it created.
    -- NULLs are distinct, so tickets not made by a device request are not constrained.
    UNIQUE (origin_device, request_id)
);
-- The waiting list of a service and day, in arrival order (waiting_ahead, call next).
CREATE INDEX tickets_waiting ON tickets (service_code, service_day, issued_at, seq)
    WHERE state = 'waiting';
CREATE INDEX tickets_person ON tickets (person_id, service_day) WHERE person_id IS NOT NULL;

-- Append-only: every state change with who made it and when.
CREATE TABLE ticket_transitions (
    id         bigserial PRIMARY KEY,
    ticket_id  uuid NOT NULL REFERENCES tickets (ticket_id),
    from_state text,
    to_state   text NOT NULL,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    window_id  text,
    detail     text
);
CREATE INDEX ticket_transitions_ticket ON ticket_transitions (ticket_id, id);

CREATE FUNCTION ticket_transitions_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'ticket_transitions is append-only (% refused)', TG_OP;
    END
    $$;
CREATE TRIGGER ticket_transitions_append_only
    BEFORE UPDATE OR DELETE ON ticket_transitions
    FOR EACH ROW EXECUTE FUNCTION ticket_transitions_append_only();

-- Recent service times per service (the interim wait estimate reads the last few).
CREATE INDEX tickets_recently_done ON tickets (service_code, completed_at DESC)
    WHERE state = 'done';
