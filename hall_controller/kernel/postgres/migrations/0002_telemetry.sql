-- Raw telemetry: one row per metric value, written in batches by COPY.
--
-- One migration for both kinds of server:
--   * with the timescaledb extension: a hypertable (1-day chunks) with compression after
--     7 days, a retention policy, and a continuous aggregate of 1-minute buckets;
--   * without it: a table RANGE-partitioned by ts, one partition per UTC day, created ahead
--     and dropped behind by maintain_partitions(), plus a DEFAULT partition so a sample whose
--     timestamp has no partition (a device clock years off) is kept, never refused.
-- The logical schema (columns, the index queries use) is the same on both.
--
-- Both branches are tested: on plain PostgreSQL by make test, on TimescaleDB 2.22.1 (PostgreSQL
-- 15) by make test-timescale. Migration 0011 rebuilds the continuous aggregate made here.

-- Creates the partitions for today and the next p_days_ahead days (UTC), and for any earlier
-- day still within retention that has rows waiting in the default partition (moving them
-- in); drops partitions wholly older than the retention; deletes default-partition rows older
-- than the retention. On a hypertable it only keeps the retention policy in step with
-- p_retention_days (TimescaleDB's own jobs create and drop chunks).
-- Returns one row per thing it did. Safe to call from several controllers at once.
CREATE FUNCTION maintain_partitions(
    p_now timestamptz, p_retention_days integer, p_days_ahead integer DEFAULT 3)
RETURNS TABLE (action text, partition_name text, row_count bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_day_length constant interval := interval '24 hours';  -- not '1 day': DST-proof
    v_today   timestamptz := date_trunc('day', p_now, 'UTC');
    v_cutoff  timestamptz := p_now - p_retention_days * interval '24 hours';
    v_horizon timestamptz := date_trunc('day', p_now, 'UTC')
                             + (p_days_ahead + 1) * interval '24 hours';
    v_create  timestamptz[];
    v_drop    text[];
    v_day     timestamptz;
    v_name    text;
    v_rows    bigint;
    v_policy  interval;
BEGIN
    IF p_retention_days < 1 OR p_days_ahead < 0 THEN
        RAISE EXCEPTION 'maintain_partitions: retention_days must be >= 1 and days_ahead >= 0'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One maintainer at a time (several controllers may share the database); the lock ends
    -- with the transaction. Waiting long for table locks would stall ingest behind us.
    PERFORM pg_advisory_xact_lock(7305002);
    PERFORM set_config('lock_timeout', '2s', true);

    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = 'telemetry'::regclass) <> 'p' THEN
        -- A hypertable. (These statements are planned only when reached, so on a server
        -- without TimescaleDB their names need not exist.)
        SELECT (j.config ->> 'drop_after')::interval INTO v_policy
        FROM timescaledb_information.jobs j
        WHERE j.proc_name = 'policy_retention' AND j.hypertable_name = 'telemetry';
        IF v_policy IS DISTINCT FROM make_interval(days => p_retention_days) THEN
            PERFORM remove_retention_policy('telemetry', if_exists => true);
            PERFORM add_retention_policy('telemetry', make_interval(days => p_retention_days));
            RETURN QUERY SELECT 'retention_policy'::text, 'telemetry'::text,
                                p_retention_days::bigint;
        END IF;
        RETURN;
    END IF;

    -- Plan: catalog look-ups and a scan of the default partition (normally empty or tiny).
    v_create := ARRAY(
        SELECT d FROM (
            SELECT d FROM generate_series(v_today, v_horizon - v_day_length, v_day_length) AS d
            UNION
            SELECT date_trunc('day', t.ts, 'UTC') FROM telemetry_default t
            WHERE t.ts >= date_trunc('day', v_cutoff, 'UTC') AND t.ts < v_horizon
        ) AS days(d)
        WHERE to_regclass('telemetry_p' || to_char(d AT TIME ZONE 'UTC', 'YYYYMMDD')) IS NULL
        ORDER BY d);
    v_drop := ARRAY(
        SELECT c.relname::text
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'telemetry'::regclass AND c.relname ~ '^telemetry_p[0-9]{8}$'
          -- the partition's day ends at or before the cutoff: it holds nothing to keep
          AND (to_date(substr(c.relname, 12), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC')
              + v_day_length <= v_cutoff
        ORDER BY 1);
    IF cardinality(v_create) = 0 AND cardinality(v_drop) = 0
       AND NOT EXISTS (SELECT 1 FROM telemetry_default t WHERE t.ts < v_cutoff) THEN
        RETURN;
    END IF;

    -- Act, with writers held off for the milliseconds it takes: otherwise a sample of a day
    -- being created could land in the default partition between moving that day's rows out
    -- and attaching its partition, and the ATTACH would fail. Readers are not blocked. A
    -- COPY in flight finishes first; none can deadlock with us, as this is the first lock we
    -- take that conflicts with theirs.
    LOCK TABLE telemetry IN SHARE ROW EXCLUSIVE MODE;

    FOREACH v_day IN ARRAY v_create LOOP
        v_name := 'telemetry_p' || to_char(v_day AT TIME ZONE 'UTC', 'YYYYMMDD');
        -- Built outside the tree, filled with that day's rows from the default partition (the
        -- ATTACH refuses while the default still holds any), then attached.
        EXECUTE format('CREATE TABLE %I (LIKE telemetry INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       v_name);
        EXECUTE format('WITH moved AS (DELETE FROM telemetry_default WHERE ts >= $1 AND ts < $2'
                       ' RETURNING *) INSERT INTO %I SELECT * FROM moved', v_name)
            USING v_day, v_day + v_day_length;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        EXECUTE format('ALTER TABLE telemetry ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       v_name, v_day, v_day + v_day_length);
        RETURN QUERY SELECT 'created'::text, v_name, v_rows;
    END LOOP;

    FOREACH v_name IN ARRAY v_drop LOOP
        EXECUTE format('DROP TABLE %I', v_name);
        RETURN QUERY SELECT 'dropped'::text, v_name, NULL::bigint;
    END LOOP;

    DELETE FROM telemetry_default t WHERE t.ts < v_cutoff;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF v_rows > 0 THEN
        RETURN QUERY SELECT 'pruned'::text, 'telemetry_default'::text, v_rows;
    END IF;
END
$fn$;

-- Which storage: TimescaleDB when the extension is installed on the server, native
-- partitioning otherwise, or when the session that migrates sets hall.telemetry_storage to
-- 'partitioned'. The choice is final: nothing converts one into the other later.
--
-- Installed but not preloaded (the state right after `apt install`, before postgresql.conf is
-- edited) is refused here, before CREATE EXTENSION: that statement would end the session with
-- a FATAL error, which no EXCEPTION block can catch; and falling back to native partitioning
-- would settle for good, on a start that looked fine, the storage of a database whose owner
-- installed TimescaleDB to use it. The refusal names the setting and the commands.
-- "Preloaded" is judged by a setting the TimescaleDB loader defines when it is loaded
-- (pg_settings lists no placeholders), which every role may read: in PostgreSQL 15,
-- shared_preload_libraries itself is readable only by superusers and pg_read_all_settings.
DO $do$
DECLARE
    v_timescale boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb');
    v_available boolean := EXISTS (SELECT 1 FROM pg_available_extensions
                                   WHERE name = 'timescaledb');
    v_choice    text := coalesce(nullif(current_setting('hall.telemetry_storage', true), ''),
                                 'auto');
    v_preloads  text;
    v_command   text;
BEGIN
    IF v_choice NOT IN ('auto', 'partitioned') THEN
        RAISE EXCEPTION 'hall.telemetry_storage = ''%'': expected ''partitioned'' or unset',
            v_choice USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF v_choice = 'partitioned' THEN
        v_timescale := false;
    ELSIF (v_timescale OR v_available)
          AND NOT EXISTS (SELECT 1 FROM pg_settings
                          WHERE name = 'timescaledb.max_background_workers') THEN
        BEGIN
            v_preloads := current_setting('shared_preload_libraries');
        EXCEPTION WHEN insufficient_privilege THEN
            v_preloads := NULL;
        END;
        v_command := CASE
            WHEN v_preloads IS NULL THEN
                'ALTER SYSTEM SET shared_preload_libraries = ''<the current list>, timescaledb'''
            WHEN btrim(v_preloads) = '' THEN
                'ALTER SYSTEM SET shared_preload_libraries = ''timescaledb'''
            ELSE format('ALTER SYSTEM SET shared_preload_libraries = %L',
                        v_preloads || ', timescaledb')
        END;
        RAISE EXCEPTION 'TimescaleDB is installed on this PostgreSQL server but not preloaded '
                '(shared_preload_libraries = ''%'')',
                coalesce(v_preloads, '<not readable by this role>')
            USING DETAIL = 'Creating the extension now would end the session with a FATAL '
                           'error. Telemetry storage is chosen once, by this migration.',
                  HINT = 'To use TimescaleDB, as a superuser run  psql -c "' || v_command
                         || '"  then restart PostgreSQL (e.g. systemctl restart postgresql) '
                         'and run hall db migrate again. To partition telemetry natively '
                         'instead, for good:  PGOPTIONS=''-c hall.telemetry_storage='
                         'partitioned'' hall db migrate';
    ELSIF NOT v_timescale AND v_available THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
            v_timescale := true;
        EXCEPTION WHEN OTHERS THEN
            -- Preloaded but not creatable by this role (no privilege to): plain
            -- partitioning works everywhere.
            RAISE NOTICE 'timescaledb is available but not usable (%), partitioning natively',
                SQLERRM;
        END;
    END IF;

    IF v_timescale THEN
        CREATE TABLE telemetry (
            device_id  text NOT NULL,
            ts         timestamptz NOT NULL,
            metric     text NOT NULL,
            value_num  double precision,
            value_text text,
            value_bool boolean
        );
        PERFORM create_hypertable('telemetry', 'ts', chunk_time_interval => interval '1 day');
        CREATE INDEX telemetry_series ON telemetry (device_id, metric, ts DESC);
        ALTER TABLE telemetry SET (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'device_id, metric',
            timescaledb.compress_orderby = 'ts DESC'
        );
        PERFORM add_compression_policy('telemetry', interval '7 days');
        -- 90 days is the configured default; maintain_partitions() brings the policy in line
        -- with the configured retention on the controller's first maintenance run.
        PERFORM add_retention_policy('telemetry', interval '90 days');
        -- WITH NO DATA: creating a continuous aggregate WITH DATA cannot run inside a
        -- transaction or a function, and this migration runs in both. The policy fills it.
        EXECUTE $cagg$
            CREATE MATERIALIZED VIEW telemetry_1m WITH (timescaledb.continuous) AS
            SELECT device_id, metric, time_bucket(interval '1 minute', ts) AS bucket,
                   count(*) AS samples, count(value_num) AS numeric_samples,
                   sum(value_num) AS sum_num, min(value_num) AS min_num,
                   max(value_num) AS max_num, last(value_num, ts) AS last_num
            FROM telemetry
            GROUP BY device_id, metric, bucket
            WITH NO DATA
        $cagg$;
        PERFORM add_continuous_aggregate_policy('telemetry_1m',
            start_offset => interval '3 hours', end_offset => interval '1 minute',
            schedule_interval => interval '1 minute');
    ELSE
        CREATE TABLE telemetry (
            device_id  text NOT NULL,
            ts         timestamptz NOT NULL,
            metric     text NOT NULL,
            value_num  double precision,
            value_text text,
            value_bool boolean
        ) PARTITION BY RANGE (ts);
        CREATE TABLE telemetry_default PARTITION OF telemetry DEFAULT;
        CREATE INDEX telemetry_series ON telemetry (device_id, metric, ts DESC);
        PERFORM maintain_partitions(now(), 90, 3);
    END IF;
END
$do$;
