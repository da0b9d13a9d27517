-- TimescaleDB only (nothing to do with native partitioning): the continuous aggregate of
-- 1-minute buckets, telemetry_1m, rebuilt so that bucketed telemetry queries can be served
-- from it with the same answers as from raw telemetry.
--
-- What 0002 made could not do that:
--   * it kept the newest value of a bucket for numbers only (last_num); a text or boolean
--     metric's newest value was lost. Now last_text and last_bool too: last(x, ts) takes the
--     value of the bucket's newest row, so the three agree (one of them is set, or none);
--   * it was materialized only (TimescaleDB 2.13+ makes a new continuous aggregate so): samples
--     newer than the last refresh were missing. Now real-time: the minutes after the
--     watermark are aggregated from raw rows at query time;
--   * its refresh policy looked back 3 hours only: a sample older than that arriving late (an
--     edge agent's outbox after an outage) would never reach the aggregate, and neither would
--     the chunks the retention policy drops (dropping invalidates their range). Now the policy
--     has no start offset: each run refreshes every invalidated range, and only those (in the
--     steady state, the last minute or two), so the aggregate follows late samples within a
--     minute and retention with the next run, and grows no older than the raw data.
-- The store also refreshes the range it reads before reading (PostgresStore.telemetry_series),
-- so a late sample is in the answer at once, not only after the policy's next run.
--
-- WITH NO DATA, as in 0002 (this runs in a transaction); until the policy's first run the
-- real-time part serves every bucket from raw rows.

DO $do$
BEGIN
    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = 'telemetry'::regclass) = 'p' THEN
        RETURN;  -- natively partitioned: no aggregate; queries read raw telemetry
    END IF;
    -- (Planned only when reached: on a server without TimescaleDB these names need not
    -- exist.)
    DROP MATERIALIZED VIEW IF EXISTS telemetry_1m;  -- its refresh policy goes with it
    EXECUTE $cagg$
        CREATE MATERIALIZED VIEW telemetry_1m
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT device_id, metric, time_bucket(interval '1 minute', ts) AS bucket,
               count(*) AS samples, count(value_num) AS numeric_samples,
               sum(value_num) AS sum_num, min(value_num) AS min_num, max(value_num) AS max_num,
               last(value_num, ts) AS last_num, last(value_text, ts) AS last_text,
               last(value_bool, ts) AS last_bool
        FROM telemetry
        GROUP BY device_id, metric, bucket
        WITH NO DATA
    $cagg$;
    -- One series' minutes, in order: what telemetry_series_1m reads.
    CREATE INDEX telemetry_1m_series ON telemetry_1m (device_id, metric, bucket);
    PERFORM add_continuous_aggregate_policy('telemetry_1m',
        start_offset => NULL, end_offset => interval '1 minute',
        schedule_interval => interval '1 minute');
END
$do$;
