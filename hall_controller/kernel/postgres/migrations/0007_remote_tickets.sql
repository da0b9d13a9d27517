-- Remote tickets (指尖办): taken through the API before arriving, checked in at a kiosk.
--
-- The ticket itself is an ordinary row of tickets (state awaiting_checkin until check-in);
-- this table holds what only a remote ticket has. A ticket without a row here (e.g. its
-- row was not written because the API call failed halfway) lapses after the configured
-- default window, so none waits forever.
CREATE TABLE remote_tickets (
    ticket_id  uuid PRIMARY KEY REFERENCES tickets (ticket_id),
    checkin_by timestamptz NOT NULL,
    case_id    text,
    created_by text NOT NULL
);

-- Check-in at a kiosk looks the awaiting ticket up by the identity the visitor shows.
CREATE INDEX tickets_awaiting_identity
    ON tickets (service_code, service_day, identity_type, identity_value)
    WHERE state = 'awaiting_checkin';

-- The lapse job and the rollover look for still-open tickets; few are open at any time.
CREATE INDEX tickets_open_by_day ON tickets (service_day)
    WHERE state IN ('awaiting_checkin', 'waiting', 'called', 'parked');

-- The kiosk request that checked a remote ticket in, so its redelivery finds the ticket.
-- (A ticket's own origin_device/request_id name the request that issued it: none, for one
-- taken through the API without an idempotency key.)
CREATE TABLE remote_checkins (
    origin_device text NOT NULL,
    request_id    text NOT NULL,
    ticket_id     uuid NOT NULL UNIQUE REFERENCES tickets (ticket_id),
    PRIMARY KEY (origin_device, request_id)
);
