-- Alarm rules staff edit (hall_controller/alarm_rules): the rule as the API reads and writes
-- it (jsonb, checked by alarm_rules/model.py before it is stored), the tuning of the alarms
-- shipped in code, and the audit of every change to either (who, when, before and after).
CREATE TABLE alarm_rules (
    rule_id    text PRIMARY KEY,
    body       jsonb NOT NULL,
    version    integer NOT NULL DEFAULT 1,        -- + 1 on each update: lost updates show
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL
);

CREATE TABLE alarm_builtin_tunings (
    builtin_id text PRIMARY KEY,                  -- e.g. door.held_open, device.offline.kiosk
    severity   text,                              -- NULL: the code's default
    enabled    boolean NOT NULL DEFAULT true,
    delay_s    integer NOT NULL DEFAULT 0 CHECK (delay_s BETWEEN 0 AND 3600),
    version    integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL
);

CREATE TABLE alarm_rule_audit (
    id      bigserial PRIMARY KEY,
    rule_id text NOT NULL,                        -- a rule id, or builtin:<id> for a tuning
    action  text NOT NULL,                        -- created, updated, deleted, tuned, reset
    by_user text NOT NULL,
    at      timestamptz NOT NULL,
    before  jsonb,
    after   jsonb
);
CREATE INDEX alarm_rule_audit_by_rule ON alarm_rule_audit (rule_id, id DESC);
