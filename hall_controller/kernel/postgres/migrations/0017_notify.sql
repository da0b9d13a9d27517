-- Alarm notification (hall_controller/notify): recipients, the on-call rota, maintenance
-- windows, each alarm's notification track and history, and the outgoing deliveries.

CREATE TABLE notify_recipients (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('oncall', 'watcher', 'supervisor',
                                                'facilities_manager')),
    channels      text[] NOT NULL,
    sites         text[] NOT NULL DEFAULT '{}',
    min_severity  text NOT NULL CHECK (min_severity IN ('critical', 'major', 'minor', 'warning')),
    email         text NOT NULL DEFAULT '',
    wecom_user    text NOT NULL DEFAULT '',
    dingtalk_user text NOT NULL DEFAULT '',
    phone         text NOT NULL DEFAULT '',
    platform_user text NOT NULL DEFAULT '',
    locale        text NOT NULL DEFAULT 'zh',
    active        boolean NOT NULL DEFAULT true,
    updated_at    timestamptz NOT NULL,
    updated_by    text NOT NULL
);

-- Weekly on-call shifts; minutes after local midnight (queue.timezone); a shift may run past
-- midnight (end_minute up to 2880).
CREATE TABLE notify_shifts (
    id           bigserial PRIMARY KEY,
    recipient_id bigint NOT NULL REFERENCES notify_recipients (id) ON DELETE CASCADE,
    weekday      smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    start_minute integer NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute   integer NOT NULL CHECK (end_minute > start_minute AND end_minute <= 2880),
    site         text NOT NULL DEFAULT ''
);

-- A day's overrides replace that day's weekly shifts (for their site).
CREATE TABLE notify_overrides (
    id           bigserial PRIMARY KEY,
    recipient_id bigint NOT NULL REFERENCES notify_recipients (id) ON DELETE CASCADE,
    day          date NOT NULL,
    start_minute integer NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute   integer NOT NULL CHECK (end_minute > start_minute AND end_minute <= 2880),
    site         text NOT NULL DEFAULT '',
    note         text NOT NULL DEFAULT ''
);
CREATE INDEX notify_overrides_day ON notify_overrides (day);

CREATE TABLE notify_maintenance (
    id         bigserial PRIMARY KEY,
    device_id  text NOT NULL DEFAULT '',
    site       text NOT NULL DEFAULT '',
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL CHECK (ends_at > starts_at),
    reason     text NOT NULL,
    created_by text NOT NULL,
    CHECK ((device_id = '') <> (site = ''))
);
CREATE INDEX notify_maintenance_ends ON notify_maintenance (ends_at);

-- One row per alarm the notifier has handled: the primary key makes handling it once safe
-- when two controllers (or a restart's catch-up) hear of the same alarm.
CREATE TABLE notify_tracks (
    alarm_id       bigint PRIMARY KEY REFERENCES alarms (id) ON DELETE CASCADE,
    device_id      text NOT NULL,
    type           text NOT NULL,
    severity       text NOT NULL,
    site           text NOT NULL DEFAULT '',
    raised_at      timestamptz NOT NULL,
    status         text NOT NULL CHECK (status IN ('notifying', 'done', 'maintenance', 'digest')),
    level          smallint NOT NULL DEFAULT 0,
    next_step_at   timestamptz,
    lease_until    timestamptz,
    digest_pending boolean NOT NULL DEFAULT false,
    reason         text NOT NULL DEFAULT ''
);
CREATE INDEX notify_tracks_due ON notify_tracks (next_step_at) WHERE status = 'notifying';
CREATE INDEX notify_tracks_digest ON notify_tracks (alarm_id) WHERE digest_pending;
CREATE INDEX notify_tracks_flapping ON notify_tracks (device_id, type, raised_at);

CREATE TABLE notify_deliveries (
    id              bigserial PRIMARY KEY,
    alarm_id        bigint REFERENCES alarms (id) ON DELETE SET NULL,
    recipient_id    bigint REFERENCES notify_recipients (id) ON DELETE SET NULL,
    purpose         text NOT NULL,
    channel         text NOT NULL,
    address         text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    link            text NOT NULL DEFAULT '',
    status          text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz,
    lease_until     timestamptz,
    delivered_at    timestamptz,
    last_error      text NOT NULL DEFAULT ''
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX notify_deliveries_newest ON notify_deliveries (created_at DESC, id DESC);
CREATE INDEX notify_deliveries_alarm ON notify_deliveries (alarm_id) WHERE alarm_id IS NOT NULL;

CREATE TABLE notify_history (
    id           bigserial PRIMARY KEY,
    alarm_id     bigint NOT NULL REFERENCES alarms (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL,
    kind         text NOT NULL,
    level        smallint NOT NULL DEFAULT 0,
    recipient_id bigint,
    channel      text,
    delivery_id  bigint REFERENCES notify_deliveries (id) ON DELETE SET NULL,
    details      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX notify_history_alarm ON notify_history (alarm_id, at, id);
