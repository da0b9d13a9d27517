-- Queries of commit_batch: everything one ingest transaction writes.
-- Batches arrive as parallel arrays (one per column) expanded by unnest(): one statement and
-- one round trip per table, whatever the batch size. The arrays are sent in binary (%(name)b),
-- which spares the server parsing thousands of array elements from text: about a third
-- faster for a batch of 1000 messages.

-- name: copy_telemetry
-- Raw telemetry goes in by binary COPY, the fastest way into PostgreSQL (and into a
-- hypertable). The store sets the column types before writing rows.
COPY telemetry (device_id, ts, metric, value_num, value_text, value_bool) FROM STDIN (FORMAT BINARY)

-- name: upsert_latest
-- The batch holds at most one row per (device, metric), the newest; an older sample arriving
-- late (an outbox flush) must not overwrite a newer value, hence the WHERE.
INSERT INTO telemetry_latest AS l (device_id, metric, ts, value)
SELECT u.device_id, u.metric, hall_ts(u.ts_ms), u.value::jsonb
FROM unnest(%(device_ids)b::text[], %(metrics)b::text[], %(ts_ms)b::bigint[], %(values)b::text[])
     AS u(device_id, metric, ts_ms, value)
ON CONFLICT (device_id, metric) DO UPDATE
    SET ts = excluded.ts, value = excluded.value
    WHERE excluded.ts >= l.ts

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
