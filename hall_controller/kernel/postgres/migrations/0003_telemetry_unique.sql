-- Raw telemetry holds at most one sample per (device_id, metric, ts): redelivered telemetry
-- (the controller acks only after commit, so after a crash or a lost PUBACK the broker sends
-- it again) is skipped by the store's INSERT ... ON CONFLICT DO NOTHING instead of being
-- counted twice.
--
-- The unique index replaces the index 0002 created for series queries (telemetry_series, on
-- the same columns in the same order): one index to maintain per row instead of two.
-- It includes the partition key (ts), as PostgreSQL and TimescaleDB both require of a unique
-- index on a partitioned table / hypertable. Created on the parent, it applies to every
-- partition, the default one included; partitions that maintain_partitions() creates later get
-- it too, since ATTACH PARTITION builds the parent's indexes on the table it attaches.
--
-- Rows stored twice before this migration are deleted first, keeping one of each (the one
-- stored first, as far as the physical order tells), so the index can be built. Writers are
-- held off from the start, so none can add a duplicate between the clean-up and the index.
-- This scans and sorts the whole telemetry table once, with writers blocked meanwhile:
-- on a large database, run it (start the new controller) in a quiet hour.
--
-- On TimescaleDB (tested with 2.22.1 by make test-timescale, compressed chunks included):
-- TimescaleDB refuses to create a unique index on a hypertable that has compression enabled
-- ("operation not supported on hypertables that have compression enabled"), so this
-- migration decompresses every chunk, turns compression off, builds the index, and turns
-- compression and its policy back on (the policy recompresses the chunks over its next runs).
-- Decompressing needs the disk space of the uncompressed data and takes time in proportion
-- to it.

DO $do$
DECLARE
    v_hypertable       boolean := (SELECT c.relkind FROM pg_class c
                                   WHERE c.oid = 'telemetry'::regclass) <> 'p';
    v_compression      boolean := false;
    v_compress_after   interval;
BEGIN
    LOCK TABLE telemetry IN SHARE ROW EXCLUSIVE MODE;  -- readers go on, writers wait

    IF v_hypertable THEN
        -- (Planned only when reached: on a server without TimescaleDB these names need not
        -- exist.)
        SELECT h.compression_enabled INTO v_compression
        FROM timescaledb_information.hypertables h
        WHERE h.hypertable_name = 'telemetry' AND h.hypertable_schema = current_schema();
        v_compression := coalesce(v_compression, false);
        IF v_compression THEN
            SELECT (j.config ->> 'compress_after')::interval INTO v_compress_after
            FROM timescaledb_information.jobs j
            WHERE j.proc_name = 'policy_compression' AND j.hypertable_name = 'telemetry';
            PERFORM remove_compression_policy('telemetry', if_exists => true);
            PERFORM decompress_chunk(c, if_compressed => true) FROM show_chunks('telemetry') c;
            ALTER TABLE telemetry SET (timescaledb.compress = false);
        END IF;
    END IF;

    -- Of each group of duplicates keep the row with the lowest (tableoid, ctid): duplicates
    -- share ts, hence their partition (or chunk), and in an insert-only table the lowest ctid
    -- is normally the row stored first. (Grouping first, then looking up only the duplicated
    -- keys, took half the time of numbering every row with a window function: 6 s against
    -- 12 s for 3 million rows here.)
    DELETE FROM telemetry t
    USING (
        SELECT device_id, metric, ts
        FROM telemetry
        GROUP BY device_id, metric, ts
        HAVING count(*) > 1
    ) AS dup
    WHERE t.device_id = dup.device_id AND t.metric = dup.metric AND t.ts = dup.ts
      AND (t.tableoid, t.ctid) <> (
          SELECT k.tableoid, k.ctid
          FROM telemetry k
          WHERE k.device_id = dup.device_id AND k.metric = dup.metric AND k.ts = dup.ts
          ORDER BY k.tableoid, k.ctid
          LIMIT 1);

    CREATE UNIQUE INDEX telemetry_sample ON telemetry (device_id, metric, ts DESC);
    DROP INDEX telemetry_series;

    IF v_compression THEN
        -- The settings 0002 set.
        ALTER TABLE telemetry SET (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'device_id, metric',
            timescaledb.compress_orderby = 'ts DESC'
        );
        PERFORM add_compression_policy('telemetry', coalesce(v_compress_after, interval '7 days'));
    END IF;
END
$do$;
