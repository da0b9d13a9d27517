-- Queries of commit_batch: everything one ingest transaction writes.
-- Batches arrive as parallel arrays (one per column) expanded by unnest(): one statement and
-- one round trip per table, whatever the batch size. The arrays are sent in binary (%(name)b),
-- which spares the server parsing thousands of array elements from text: about a third
-- faster for a batch of 1000 messages.

-- name: create_telemetry_staging
-- Raw telemetry goes in by binary COPY, the fastest way into PostgreSQL, but COPY cannot skip
-- rows that are already stored (a redelivered message): it goes into this staging table, then
-- into telemetry by insert_telemetry. The table is the session's own (temporary), created by
-- the first batch a connection commits and emptied at every commit: cheaper than creating
-- and dropping one per batch (about 15% more batches of 100 messages a second here, and no
-- churn of the system catalogs), and still right when the session is new or was reset, or
-- behind a transaction-pooling proxy (IF NOT EXISTS; its "already exists" notice is ignored).
CREATE TEMPORARY TABLE IF NOT EXISTS hall_telemetry_staging (
    device_id  text NOT NULL,
    ts         timestamptz NOT NULL,
    metric     text NOT NULL,
    value_num  double precision,
    value_text text,
    value_bool boolean
) ON COMMIT DELETE ROWS

-- name: copy_telemetry
-- The store sets the column types before writing rows.
COPY hall_telemetry_staging (device_id, ts, metric, value_num, value_text, value_bool)
FROM STDIN (FORMAT BINARY)

-- name: insert_telemetry
-- A sample already stored (same device, metric and ts: migration 0003's unique index) is
-- skipped, so a redelivered message is not counted twice; the first value stored stands.
-- prepare_batch has removed duplicates within the batch (DO NOTHING would cope with them
-- too, keeping one of them; DO UPDATE would fail). Rows go in key order, so two controllers
-- inserting overlapping batches (a message redelivered to another controller while the first
-- still commits it) wait for each other's rows in the same order instead of deadlocking.
INSERT INTO telemetry (device_id, ts, metric, value_num, value_text, value_bool)
SELECT device_id, ts, metric, value_num, value_text, value_bool
FROM hall_telemetry_staging
ORDER BY device_id, metric, ts
ON CONFLICT (device_id, metric, ts) DO NOTHING

-- name: upsert_latest
-- The batch holds at most one row per (device, metric), the newest; an older sample arriving
-- late (an outbox flush) must not overwrite a newer value, hence the WHERE. A sample with the
-- same ts as the stored one is a redelivery (or a device sending two values for one instant):
-- the first value stands, as in raw telemetry.
INSERT INTO telemetry_latest AS l (device_id, metric, ts, value)
SELECT u.device_id, u.metric, hall_ts(u.ts_ms), u.value::jsonb
FROM unnest(%(device_ids)b::text[], %(metrics)b::text[], %(ts_ms)b::bigint[], %(values)b::text[])
     AS u(device_id, metric, ts_ms, value)
ON CONFLICT (device_id, metric) DO UPDATE
    SET ts = excluded.ts, value = excluded.value
    WHERE excluded.ts > l.ts

-- name: insert_events
-- Redelivered events conflict on their id and are skipped; RETURNING names only the new ones,
-- whose side effects the caller then runs exactly once.
INSERT INTO events (event_id, device_id, ts, type, data, received_at)
SELECT u.event_id, u.device_id, hall_ts(u.ts_ms), u.type, u.data::jsonb, hall_ts(u.received_ms)
FROM unnest(%(event_ids)b::uuid[], %(device_ids)b::text[], %(ts_ms)b::bigint[],
            %(types)b::text[], %(data)b::text[], %(received_ms)b::bigint[])
     AS u(event_id, device_id, ts_ms, type, data, received_ms)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id

-- name: insert_dead_letters
INSERT INTO dead_letters (received_at, topic, device_id, reason, payload, size)
SELECT hall_ts(u.received_ms), u.topic, u.device_id, u.reason, u.payload, u.size
FROM unnest(%(received_ms)b::bigint[], %(topics)b::text[], %(device_ids)b::text[],
            %(reasons)b::text[], %(payloads)b::bytea[], %(sizes)b::integer[])
     AS u(received_ms, topic, device_id, reason, payload, size)

-- name: upsert_devices
-- The registry owns the record: an upsert writes every column as given.
INSERT INTO devices AS d (device_id, kind, model, fw, site, online, session, first_seen,
                          last_seen, online_since, offline_reason)
SELECT u.device_id, u.kind, u.model, u.fw, u.site, u.online, u.session, hall_ts(u.first_seen_ms),
       hall_ts(u.last_seen_ms), hall_ts(u.online_since_ms), u.offline_reason
FROM unnest(%(device_ids)b::text[], %(kinds)b::text[], %(models)b::text[], %(fws)b::text[],
            %(sites)b::text[], %(onlines)b::boolean[], %(sessions)b::bigint[],
            %(first_seen_ms)b::bigint[], %(last_seen_ms)b::bigint[],
            %(online_since_ms)b::bigint[], %(offline_reasons)b::text[])
     AS u(device_id, kind, model, fw, site, online, session, first_seen_ms, last_seen_ms,
          online_since_ms, offline_reason)
ON CONFLICT (device_id) DO UPDATE SET
    kind = excluded.kind, model = excluded.model, fw = excluded.fw, site = excluded.site,
    online = excluded.online, session = excluded.session, first_seen = excluded.first_seen,
    last_seen = excluded.last_seen, online_since = excluded.online_since,
    offline_reason = excluded.offline_reason
