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

-- name: telemetry_series_1m
-- TimescaleDB, buckets of whole minutes: the same answer as telemetry_series, from the
-- continuous aggregate telemetry_1m (migration 0011) for the whole minutes of the range,
-- [inner_from_ms, inner_to_ms), and from raw telemetry for the part-minutes at its two ends.
-- The 1-minute rows are then rolled up into the buckets asked for: counts and sums add up,
-- the average is their quotient, and last is the newest minute's newest value.
WITH minutes AS (
    SELECT bucket, samples, numeric_samples, sum_num, min_num, max_num,
           last_num, last_text, last_bool
    FROM telemetry_1m
    WHERE device_id = %(device_id)s AND metric = %(metric)s
      AND bucket >= hall_ts(%(inner_from_ms)s) AND bucket < hall_ts(%(inner_to_ms)s)
    UNION ALL
    SELECT time_bucket(interval '1 minute', ts), count(*), count(value_num), sum(value_num),
           min(value_num), max(value_num),
           last(value_num, ts), last(value_text, ts), last(value_bool, ts)
    FROM telemetry
    WHERE device_id = %(device_id)s AND metric = %(metric)s
      AND ((ts >= hall_ts(%(from_ms)s) AND ts < hall_ts(%(inner_from_ms)s))
           OR (ts >= hall_ts(%(inner_to_ms)s) AND ts < hall_ts(%(to_ms)s)))
    GROUP BY 1
)
SELECT hall_ms(date_bin(make_interval(secs => %(bucket_s)s), bucket,
                        timestamptz '1970-01-01 00:00:00+00')) AS bucket_start_ms,
       sum(samples)::bigint AS samples,
       sum(sum_num) / nullif(sum(numeric_samples), 0) AS avg_num,
       min(min_num) AS min_num, max(max_num) AS max_num,
       (array_agg(last_num ORDER BY bucket DESC))[1] AS value_num,
       (array_agg(last_text ORDER BY bucket DESC))[1] AS value_text,
       (array_agg(last_bool ORDER BY bucket DESC))[1] AS value_bool
FROM minutes
GROUP BY 1
ORDER BY 1

-- name: refresh_telemetry_1m
-- Brings the aggregate up to date over [from_ms, to_ms) (whole minutes, at least one): only
-- the ranges invalidated since the last refresh there (late samples, dropped chunks) are
-- aggregated again, so this costs about a millisecond when there are none. Cannot run inside
-- a transaction.
CALL refresh_continuous_aggregate('telemetry_1m', hall_ts(%(from_ms)s), hall_ts(%(to_ms)s))

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
