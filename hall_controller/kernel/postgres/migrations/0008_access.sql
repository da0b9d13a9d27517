-- Access control: people and their face embeddings, schedules, rules (groups × doors), door
-- modes, and an append-only audit of every access decision and every command.

-- One number for "what the edge devices hold": bumped in the same transaction as any change to
-- people, embeddings, rules, schedules, holidays or modes. A device that syncs with the version
-- it already has gets "unchanged" and keeps its gallery.
CREATE TABLE access_version (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    version bigint NOT NULL
);
INSERT INTO access_version VALUES (true, 1);

CREATE TABLE persons (
    person_id   text PRIMARY KEY,             -- the campus id (学号/工号) or a visitor pass id
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('student', 'staff', 'visitor')),
    groups      text[] NOT NULL DEFAULT '{}', -- e.g. {dorm-b3, dorm-b3-0412, hall-staff}
    cards       text[] NOT NULL DEFAULT '{}', -- campus card numbers
    valid_from  timestamptz,                  -- a visitor pass starts and ends
    valid_until timestamptz,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX persons_groups ON persons USING gin (groups);
CREATE INDEX persons_cards ON persons USING gin (cards);

-- 128 float32 values, little-endian. Photos are never stored; deleting the person deletes these.
CREATE TABLE face_embeddings (
    id         bigserial PRIMARY KEY,
    person_id  text NOT NULL REFERENCES persons ON DELETE CASCADE,
    embedding  bytea NOT NULL CHECK (length(embedding) = 512),
    created_at timestamptz NOT NULL
);
CREATE INDEX face_embeddings_person ON face_embeddings (person_id);

CREATE TABLE access_schedules (
    name       text PRIMARY KEY,
    definition jsonb NOT NULL,                -- the wire form of devices.access_rules.Schedule
    updated_at timestamptz NOT NULL
);

-- A group may pass at the doors a target names (a device id, or a pattern such as lock-b3-*),
-- during a schedule ('always' is built in).
CREATE TABLE access_rules (
    rule_id    bigserial PRIMARY KEY,
    group_name text NOT NULL,
    target     text NOT NULL,
    schedule   text NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (group_name, target, schedule)
);

CREATE TABLE access_holidays (
    day  date PRIMARY KEY,
    name text NOT NULL DEFAULT ''
);

CREATE TABLE door_modes (
    device_id  text PRIMARY KEY,
    mode       text NOT NULL CHECK (mode IN ('normal', 'locked_down', 'free_pass')),
    changed_at timestamptz NOT NULL,
    changed_by text NOT NULL
);

-- Who/what/when/why. Decisions come from the devices' access events and commands from the
-- command log, both copied here by triggers in the same transaction that stores them, so the
-- audit cannot miss one; admin changes are written by the controller.
CREATE TABLE access_audit (
    id        bigserial PRIMARY KEY,
    ts        timestamptz NOT NULL,
    device_id text,
    category  text NOT NULL CHECK (category IN ('decision', 'door', 'command', 'admin')),
    action    text NOT NULL,
    outcome   text NOT NULL,
    person_id text,
    actor     text,
    reason    text,
    details   jsonb NOT NULL DEFAULT '{}',
    source    text UNIQUE                     -- event id / command id + step: copied once
);
CREATE INDEX access_audit_newest ON access_audit (ts DESC, id DESC);
CREATE INDEX access_audit_device ON access_audit (device_id, ts DESC, id DESC);
CREATE INDEX access_audit_person ON access_audit (person_id, ts DESC, id DESC)
    WHERE person_id IS NOT NULL;

CREATE FUNCTION access_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_audit is append-only';
END $$;
CREATE TRIGGER access_audit_append_only BEFORE UPDATE OR DELETE ON access_audit
    FOR EACH ROW EXECUTE FUNCTION access_audit_append_only();

CREATE FUNCTION access_audit_from_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.type IN ('access.granted', 'access.denied') THEN
        INSERT INTO access_audit (ts, device_id, category, action, outcome, person_id, actor,
                                  reason, details, source)
        VALUES (NEW.ts, NEW.device_id, 'decision',
                COALESCE(NEW.data->>'method', 'unknown'),
                CASE WHEN NEW.type = 'access.granted' THEN 'granted' ELSE 'denied' END,
                NEW.data->>'person_id', NEW.device_id, NEW.data->>'reason', NEW.data,
                'event:' || NEW.event_id)
        ON CONFLICT (source) DO NOTHING;
    ELSIF NEW.type IN ('door.forced', 'door.held_open', 'door.opened', 'door.closed',
                       'lock.tamper', 'door.mode_changed') THEN
        INSERT INTO access_audit (ts, device_id, category, action, outcome, actor, details, source)
        VALUES (NEW.ts, NEW.device_id, 'door', NEW.type, 'reported', NEW.device_id, NEW.data,
                'event:' || NEW.event_id)
        ON CONFLICT (source) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER access_audit_from_event AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION access_audit_from_event();

-- Every command: once when it is requested, once when it ends (the device's refusal code, e.g.
-- bad_signature or replayed, lands in reason).
CREATE FUNCTION access_audit_from_command() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO access_audit (ts, device_id, category, action, outcome, actor, details, source)
        VALUES (NEW.created_at, NEW.device_id, 'command', NEW.method, 'requested',
                NEW.requested_by, jsonb_build_object('command_id', NEW.command_id,
                                                     'params', NEW.params),
                'command:' || NEW.command_id || ':requested')
        ON CONFLICT (source) DO NOTHING;
    ELSIF NEW.status IS DISTINCT FROM OLD.status
          AND NEW.status IN ('succeeded', 'failed', 'timed_out', 'expired') THEN
        INSERT INTO access_audit (ts, device_id, category, action, outcome, actor, reason,
                                  details, source)
        VALUES (COALESCE(NEW.completed_at, now()), NEW.device_id, 'command', NEW.method,
                NEW.status, NEW.requested_by, NEW.error->>'code',
                jsonb_build_object('command_id', NEW.command_id, 'error', NEW.error,
                                   'result', NEW.result),
                'command:' || NEW.command_id || ':' || NEW.status)
        ON CONFLICT (source) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER access_audit_from_command AFTER INSERT OR UPDATE ON commands
    FOR EACH ROW EXECUTE FUNCTION access_audit_from_command();
