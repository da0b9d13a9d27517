-- The controller's tables other than raw telemetry (which 0002 creates, differently on
-- TimescaleDB and plain PostgreSQL).
--
-- Times are timestamptz in the database and integer milliseconds since the epoch everywhere
-- else; hall_ts() and hall_ms() convert exactly (no float rounding), so queries take and
-- return milliseconds. Both are built only from immutable functions (going through
-- "timestamp AT TIME ZONE 'UTC'", because extract() and + interval on timestamptz are merely
-- stable) so that the planner inlines them and folds them into constants, which partition
-- pruning needs.

CREATE FUNCTION hall_ts(ms bigint) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT (timestamp '1970-01-01 00:00:00' + ms * interval '1 millisecond') AT TIME ZONE 'UTC'
    $$;

CREATE FUNCTION hall_ms(ts timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT floor(extract(epoch FROM ts AT TIME ZONE 'UTC') * 1000)::bigint $$;

-- No foreign keys to devices anywhere: telemetry or an event may arrive before the birth that
-- registers its device, and refusing it would lose data the contract says we keep.

CREATE TABLE devices (
    device_id      text PRIMARY KEY,
    kind           text NOT NULL,
    model          text NOT NULL DEFAULT '',
    fw             text NOT NULL DEFAULT '',
    site           text NOT NULL DEFAULT '',
    online         boolean NOT NULL DEFAULT false,
    session        bigint NOT NULL DEFAULT 0,
    first_seen     timestamptz NOT NULL,
    last_seen      timestamptz NOT NULL,
    online_since   timestamptz,
    offline_reason text
);

-- The newest value of every metric of every device, for dashboards. The value keeps its JSON
-- type (an integer stays an integer), unlike the typed columns of raw telemetry.
CREATE TABLE telemetry_latest (
    device_id text NOT NULL,
    metric    text NOT NULL,
    ts        timestamptz NOT NULL,
    value     jsonb NOT NULL,
    PRIMARY KEY (device_id, metric)
);

CREATE TABLE events (
    event_id    uuid PRIMARY KEY,          -- from the device; redelivery dedupes on it
    device_id   text NOT NULL,
    ts          timestamptz NOT NULL,
    type        text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}',
    received_at timestamptz NOT NULL
);
CREATE INDEX events_newest ON events (ts DESC, event_id DESC);
CREATE INDEX events_device_newest ON events (device_id, ts DESC, event_id DESC);

CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL,
    topic       text NOT NULL,
    device_id   text,
    reason      text NOT NULL,
    payload     bytea NOT NULL,            -- at most 64 KiB of it
    size        integer NOT NULL           -- the real length
);
CREATE INDEX dead_letters_newest ON dead_letters (received_at DESC, id DESC);
CREATE INDEX dead_letters_device_newest ON dead_letters (device_id, received_at DESC, id DESC)
    WHERE device_id IS NOT NULL;

CREATE TABLE alarms (
    id           bigserial PRIMARY KEY,
    device_id    text NOT NULL,
    type         text NOT NULL,
    severity     text NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning')),
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cleared')),
    acknowledged boolean NOT NULL DEFAULT false,
    raised_at    timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    count        bigint NOT NULL DEFAULT 1,
    details      jsonb NOT NULL DEFAULT '{}',
    cleared_at   timestamptz,
    acked_at     timestamptz,
    acked_by     text,
    cleared_by   text
);
-- At most one active alarm per (device, type): raise_alarm upserts against this index, so two
-- controllers raising the same alarm at once bump one row instead of creating two.
CREATE UNIQUE INDEX alarms_one_active ON alarms (device_id, type) WHERE status = 'active';
CREATE INDEX alarms_newest ON alarms (raised_at DESC, id DESC);
CREATE INDEX alarms_device_newest ON alarms (device_id, raised_at DESC, id DESC);

CREATE TABLE commands (
    command_id   text PRIMARY KEY,
    device_id    text NOT NULL,
    method       text NOT NULL,
    params       jsonb NOT NULL DEFAULT '{}',
    status       text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    requested_by text NOT NULL,
    sent_at      timestamptz,
    completed_at timestamptz,
    result       jsonb,
    error        jsonb
);
CREATE INDEX commands_device_newest ON commands (device_id, created_at DESC, command_id DESC);

CREATE TABLE users (
    username      text PRIMARY KEY,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'facilities', 'clerk')),
    disabled      boolean NOT NULL DEFAULT false
);
