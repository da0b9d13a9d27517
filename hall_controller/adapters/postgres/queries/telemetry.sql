-- name: telemetry_series
-- Buckets aligned on the epoch (as TimescaleDB's time_bucket aligns them), from_ms inclusive,
-- to_ms exclusive. count counts samples of any type; avg/min/max are over the numeric ones;
-- last is the value, of any type, of the bucket's newest sample.
WITH samples AS (
    SELECT date_bin(make_interval(secs => %(bucket_s)s), ts,
                    timestamptz '1970-01-01 00:00:00+00') AS bucket,
           ts, value_num, value_text, value_bool
    FROM telemetry
    WHERE device_id = %(device_id)s AND metric = %(metric)s
      AND ts >= hall_ts(%(from_ms)s) AND ts < hall_ts(%(to_ms)s)
), aggregates AS (
    SELECT bucket, count(*) AS samples, avg(value_num) AS avg_num, min(value_num) AS min_num,
           max(value_num) AS max_num
    FROM samples
    GROUP BY bucket
), last_values AS (
    SELECT DISTINCT ON (bucket) bucket, value_num, value_text, value_bool
    FROM samples
    ORDER BY bucket, ts DESC
)
SELECT hall_ms(a.bucket) AS bucket_start_ms, a.samples, a.avg_num, a.min_num, a.max_num,
       l.value_num, l.value_text, l.value_bool
FROM aggregates a JOIN last_values l USING (bucket)
ORDER BY a.bucket

-- name: list_events
-- {where} is built by the store from the optional filters.
SELECT event_id::text AS event_id, device_id, hall_ms(ts) AS ts_ms, type, data,
       hall_ms(received_at) AS received_ms
FROM events
{where}
ORDER BY ts DESC, event_id DESC
LIMIT %(limit)s

-- name: maintain_partitions
SELECT action, partition_name, row_count
FROM maintain_partitions(hall_ts(%(now_ms)s), %(retention_days)s, %(days_ahead)s)

-- name: prune_dead_letters
DELETE FROM dead_letters WHERE received_at < hall_ts(%(before_ms)s)

-- name: telemetry_storage
SELECT CASE c.relkind WHEN 'p' THEN 'partitioned' ELSE 'timescaledb' END AS storage
FROM pg_class c
WHERE c.oid = 'telemetry'::regclass
