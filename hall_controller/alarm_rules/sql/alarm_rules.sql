-- name: list_rules
SELECT rule_id, body, version, hall_ms(updated_at) AS updated_ms, updated_by
  FROM alarm_rules ORDER BY rule_id

-- name: get_rule
SELECT rule_id, body, version, hall_ms(updated_at) AS updated_ms, updated_by
  FROM alarm_rules WHERE rule_id = %(rule_id)s

-- name: lock_rule
SELECT rule_id, body, version FROM alarm_rules WHERE rule_id = %(rule_id)s FOR UPDATE

-- name: insert_rule
-- Nothing when the id is taken (the store reports the conflict).
INSERT INTO alarm_rules (rule_id, body, version, updated_at, updated_by)
VALUES (%(rule_id)s, %(body)s, 1, hall_ts(%(at_ms)s), %(by)s)
ON CONFLICT (rule_id) DO NOTHING
RETURNING version

-- name: update_rule
UPDATE alarm_rules SET body = %(body)s, version = version + 1,
       updated_at = hall_ts(%(at_ms)s), updated_by = %(by)s
 WHERE rule_id = %(rule_id)s
RETURNING version

-- name: delete_rule
DELETE FROM alarm_rules WHERE rule_id = %(rule_id)s RETURNING rule_id

-- name: list_tunings
SELECT builtin_id, severity, enabled, delay_s, version, hall_ms(updated_at) AS updated_ms,
       updated_by
  FROM alarm_builtin_tunings ORDER BY builtin_id

-- name: save_tuning
INSERT INTO alarm_builtin_tunings (builtin_id, severity, enabled, delay_s, version,
                                   updated_at, updated_by)
VALUES (%(builtin_id)s, %(severity)s, %(enabled)s, %(delay_s)s, 1, hall_ts(%(at_ms)s), %(by)s)
ON CONFLICT (builtin_id) DO UPDATE SET
    severity = excluded.severity, enabled = excluded.enabled, delay_s = excluded.delay_s,
    version = alarm_builtin_tunings.version + 1, updated_at = excluded.updated_at,
    updated_by = excluded.updated_by
RETURNING version

-- name: delete_tuning
DELETE FROM alarm_builtin_tunings WHERE builtin_id = %(builtin_id)s RETURNING builtin_id

-- name: insert_audit
INSERT INTO alarm_rule_audit (rule_id, action, by_user, at, before, after)
VALUES (%(rule_id)s, %(action)s, %(by)s, hall_ts(%(at_ms)s), %(before)s, %(after)s)

-- name: list_audit
SELECT id, rule_id, action, by_user, hall_ms(at) AS at_ms, before, after
  FROM alarm_rule_audit
 WHERE %(rule_id)s::text IS NULL OR rule_id = %(rule_id)s
 ORDER BY id DESC LIMIT %(limit)s

-- name: revision
SELECT coalesce(max(id), 0) AS revision FROM alarm_rule_audit

-- name: samples
-- One device's raw samples over a range, oldest first (the preview replays them).
SELECT hall_ms(ts) AS ts_ms, metric, value_num, value_text, value_bool
  FROM (SELECT ts, metric, value_num, value_text, value_bool FROM telemetry
         WHERE device_id = %(device_id)s
           AND (%(metric)s::text IS NULL OR metric = %(metric)s)
           AND ts >= hall_ts(%(from_ms)s) AND ts < hall_ts(%(to_ms)s)
         ORDER BY ts DESC LIMIT %(limit)s) newest
 ORDER BY ts

-- name: event_times
SELECT hall_ms(ts) AS ts_ms
  FROM (SELECT ts FROM events
         WHERE device_id = %(device_id)s AND type = %(type)s
           AND ts >= hall_ts(%(from_ms)s) AND ts < hall_ts(%(to_ms)s)
         ORDER BY ts DESC LIMIT %(limit)s) newest
 ORDER BY ts

-- name: seen_metrics
SELECT DISTINCT metric FROM telemetry_latest
