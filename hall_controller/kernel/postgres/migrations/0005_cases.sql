-- Online cases (一网通办): cases upserted by the online platform, their append-only event log,
-- the platform's API keys, webhooks and the webhook delivery log.

CREATE TABLE cases (
    case_id        text PRIMARY KEY,            -- the platform's id
    service_code   text NOT NULL,
    status         text NOT NULL CHECK (status IN ('submitted', 'materials_required', 'in_review',
                                                   'awaiting_visit', 'resolved', 'rejected',
                                                   'closed')),
    status_reason  text,
    person_id      text,
    campus_card    text,
    applicant_name text,
    materials      jsonb NOT NULL DEFAULT '[]',  -- [{code, name, received}]
    appointment    jsonb,                        -- {at_ms, window_start_ms, window_end_ms}
    visits         jsonb NOT NULL DEFAULT '[]',  -- [{ticket_id, at_ms, outcome}]
    visit_count    integer NOT NULL DEFAULT 0,   -- = jsonb_array_length(visits), for the stats
    linked_tickets jsonb NOT NULL DEFAULT '[]',
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    resolved_at    timestamptz,
    version        bigint NOT NULL               -- optimistic concurrency: each write bumps it
);
-- A kiosk looks cases up by who the visitor is and the service they take a ticket for.
CREATE INDEX cases_by_person ON cases (person_id, service_code) WHERE person_id IS NOT NULL;
CREATE INDEX cases_by_card ON cases (campus_card, service_code) WHERE campus_card IS NOT NULL;
CREATE INDEX cases_resolved ON cases (resolved_at) WHERE status = 'resolved';

-- Append-only. Ids are handed out under a transaction-level advisory lock taken by every
-- writer (see case_store.py), so ids grow in commit order and a reader following the cursor
-- never skips an event that commits late with a smaller id.
CREATE TABLE case_events (
    id      bigserial PRIMARY KEY,
    case_id text NOT NULL,
    type    text NOT NULL,
    at      timestamptz NOT NULL,
    data    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX case_events_by_case ON case_events (case_id, id);

CREATE FUNCTION case_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_events is append-only';
END
$$;
CREATE TRIGGER case_events_append_only BEFORE UPDATE OR DELETE ON case_events
    FOR EACH ROW EXECUTE FUNCTION case_events_append_only();

CREATE TABLE api_keys (
    key_id      text PRIMARY KEY,               -- the public part of the key
    name        text NOT NULL,
    secret_hash text NOT NULL,                  -- sha256 hex of the secret part
    scopes      text[] NOT NULL,
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    revoked_at  timestamptz
);

CREATE TABLE webhooks (
    id          bigserial PRIMARY KEY,
    url         text NOT NULL,
    secret      text NOT NULL,                  -- needed in clear to sign (HMAC)
    description text NOT NULL DEFAULT '',
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL
);

-- One row per (webhook, event), created in the transaction that appends the event, so an
-- event is never lost between being committed and being queued for delivery (an outbox).
CREATE TABLE webhook_deliveries (
    id               bigserial PRIMARY KEY,
    webhook_id       bigint NOT NULL REFERENCES webhooks (id),
    event_id         bigint NOT NULL REFERENCES case_events (id),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    next_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_newest ON webhook_deliveries (webhook_id, id DESC);

CREATE TABLE webhook_attempts (
    delivery_id bigint NOT NULL REFERENCES webhook_deliveries (id),
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL,
    duration_ms integer NOT NULL,
    status_code integer,
    error       text,
    result      text NOT NULL,
    next_attempt_at timestamptz,
    PRIMARY KEY (delivery_id, attempt)
);
