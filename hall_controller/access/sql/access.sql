-- Access control: people and their face embeddings, schedules, rules, holidays, door modes,
-- the version devices sync against, and the audit (tables from migration 0008).
-- Every write also bumps access_version and appends an 'admin' audit entry, in its
-- transaction (PostgresAccessStore does both).

-- name: access_version
-- The one row the migration inserts.
SELECT version FROM access_version

-- name: bump_access_version
UPDATE access_version SET version = version + 1

-- name: insert_admin_audit
INSERT INTO access_audit (ts, device_id, category, action, outcome, person_id, actor,
                          reason, details)
VALUES (now(), %(device_id)s, 'admin', %(action)s, %(outcome)s, %(person_id)s, %(actor)s,
        %(reason)s, %(details)s)

-- name: insert_suspicious_decision
-- A second 'decision' entry beside the device's own (the audit is append-only): the grant
-- the controller's policy does not contain. Its source makes a redelivered event count once.
INSERT INTO access_audit (ts, device_id, category, action, outcome, person_id, actor,
                          reason, details, source)
VALUES (hall_ts(%(ts_ms)s), %(device_id)s, 'decision', %(method)s, 'suspicious', %(person_id)s,
        'controller', %(reason)s, %(details)s, 'suspicious:event:' || %(event_id)s)
ON CONFLICT (source) DO NOTHING

-- name: insert_policy_refusal
-- A gate or lock refused the access.sync reply it got (policy_refusals.py). The event trigger
-- does not copy this type, so its source is free to make a redelivered event count once.
INSERT INTO access_audit (ts, device_id, category, action, outcome, actor, reason, details,
                          source)
VALUES (hall_ts(%(ts_ms)s), %(device_id)s, 'door', 'access.policy_refused', 'refused',
        %(device_id)s, %(reason)s, %(details)s, 'event:' || %(event_id)s)
ON CONFLICT (source) DO NOTHING

-- name: snapshot_persons
SELECT p.person_id, p.name, p.role, p.groups, p.cards,
       hall_ms(p.valid_from) AS valid_from_ms, hall_ms(p.valid_until) AS valid_until_ms,
       hall_ms(p.created_at) AS created_ms, hall_ms(p.updated_at) AS updated_ms,
       (SELECT count(*) FROM face_embeddings f WHERE f.person_id = p.person_id) AS face_count
FROM persons p
ORDER BY p.person_id

-- name: snapshot_rules
SELECT rule_id, group_name, target, schedule FROM access_rules ORDER BY rule_id

-- name: snapshot_schedules
SELECT name, definition FROM access_schedules

-- name: snapshot_holidays
SELECT day FROM access_holidays

-- name: snapshot_door_modes
SELECT device_id, mode FROM door_modes

-- name: face_embeddings_of
SELECT person_id, embedding FROM face_embeddings
WHERE person_id = ANY(%(person_ids)s)
ORDER BY person_id, id

-- name: upsert_person
-- created: true for a new person, false for an update (xmax is 0 only on a fresh row).
INSERT INTO persons (person_id, name, role, groups, cards, valid_from, valid_until,
                     created_at, updated_at)
VALUES (%(person_id)s, %(name)s, %(role)s, %(groups)s, %(cards)s,
        hall_ts(%(valid_from_ms)s), hall_ts(%(valid_until_ms)s), now(), now())
ON CONFLICT (person_id) DO UPDATE SET
    name = EXCLUDED.name, role = EXCLUDED.role, groups = EXCLUDED.groups,
    cards = EXCLUDED.cards, valid_from = EXCLUDED.valid_from,
    valid_until = EXCLUDED.valid_until, updated_at = now()
RETURNING (xmax = 0) AS created

-- name: get_person
SELECT p.person_id, p.name, p.role, p.groups, p.cards,
       hall_ms(p.valid_from) AS valid_from_ms, hall_ms(p.valid_until) AS valid_until_ms,
       hall_ms(p.created_at) AS created_ms, hall_ms(p.updated_at) AS updated_ms,
       (SELECT count(*) FROM face_embeddings f WHERE f.person_id = p.person_id) AS face_count
FROM persons p
WHERE person_id = %(person_id)s

-- name: lock_person_for_delete
-- As get_person, with the row locked until the deleting transaction ends.
SELECT p.person_id, p.name, p.role, p.groups, p.cards,
       hall_ms(p.valid_from) AS valid_from_ms, hall_ms(p.valid_until) AS valid_until_ms,
       hall_ms(p.created_at) AS created_ms, hall_ms(p.updated_at) AS updated_ms,
       (SELECT count(*) FROM face_embeddings f WHERE f.person_id = p.person_id) AS face_count
FROM persons p
WHERE person_id = %(person_id)s
FOR UPDATE

-- name: list_persons
-- group and role filter when given (NULL: any).
SELECT p.person_id, p.name, p.role, p.groups, p.cards,
       hall_ms(p.valid_from) AS valid_from_ms, hall_ms(p.valid_until) AS valid_until_ms,
       hall_ms(p.created_at) AS created_ms, hall_ms(p.updated_at) AS updated_ms,
       (SELECT count(*) FROM face_embeddings f WHERE f.person_id = p.person_id) AS face_count
FROM persons p
WHERE (%(group)s::text IS NULL OR %(group)s = ANY(p.groups))
  AND (%(role)s::text IS NULL OR p.role = %(role)s)
ORDER BY p.person_id LIMIT %(limit)s OFFSET %(offset)s

-- name: delete_person
DELETE FROM persons WHERE person_id = %(person_id)s

-- name: lock_person
-- The row lock serialises two enrolments of one person, so the cap on faces holds.
SELECT 1 FROM persons WHERE person_id = %(person_id)s FOR UPDATE

-- name: count_faces
SELECT count(*) AS n FROM face_embeddings WHERE person_id = %(person_id)s

-- name: insert_face
INSERT INTO face_embeddings (person_id, embedding, created_at)
VALUES (%(person_id)s, %(embedding)s, now())

-- name: delete_faces
DELETE FROM face_embeddings WHERE person_id = %(person_id)s

-- name: upsert_schedule
INSERT INTO access_schedules (name, definition, updated_at)
VALUES (%(name)s, %(definition)s, now())
ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition, updated_at = now()

-- name: count_rules_using_schedule
SELECT count(*) AS n FROM access_rules WHERE schedule = %(name)s

-- name: delete_schedule
DELETE FROM access_schedules WHERE name = %(name)s

-- name: schedule_exists
SELECT 1 FROM access_schedules WHERE name = %(name)s

-- name: insert_rule
-- A rule that exists already is a unique violation (group, target, schedule).
INSERT INTO access_rules (group_name, target, schedule, created_at)
VALUES (%(group)s, %(target)s, %(schedule)s, now())
RETURNING rule_id

-- name: delete_rule
DELETE FROM access_rules WHERE rule_id = %(rule_id)s
RETURNING group_name, target, schedule

-- name: upsert_holiday
INSERT INTO access_holidays (day, name) VALUES (%(day)s, %(name)s)
ON CONFLICT (day) DO UPDATE SET name = EXCLUDED.name

-- name: delete_holiday
DELETE FROM access_holidays WHERE day = %(day)s

-- name: upsert_door_mode
INSERT INTO door_modes (device_id, mode, changed_at, changed_by)
VALUES (%(device_id)s, %(mode)s, now(), %(actor)s)
ON CONFLICT (device_id) DO UPDATE SET mode = EXCLUDED.mode,
    changed_at = now(), changed_by = EXCLUDED.changed_by

-- name: list_audit
-- Newest first; each filter applies when given (NULL: any); before_id pages back.
SELECT id, hall_ms(ts) AS ts_ms, device_id, category, action, outcome,
       person_id, actor, reason, details
FROM access_audit
WHERE (%(device_id)s::text IS NULL OR device_id = %(device_id)s)
  AND (%(person_id)s::text IS NULL OR person_id = %(person_id)s)
  AND (%(category)s::text IS NULL OR category = %(category)s)
  AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
ORDER BY id DESC LIMIT %(limit)s
