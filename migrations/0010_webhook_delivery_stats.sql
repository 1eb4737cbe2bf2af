-- Webhook delivery rollups for Analytics.integrationHealth. An integration
-- that sends every order event makes about a million attempts a year; counting
-- and ranking a year of them row by row takes seconds, so a dashboard reads
-- them pre-aggregated, kept exact by triggers in the writing transaction like
-- the order rollups of 0006:
--
--   webhook_delivery_daily_stats   per integration and UTC day of created_at
--   webhook_delivery_hourly_stats  per integration and UTC hour of created_at
--
-- A range is its whole days from the first, its whole hours at either end
-- from the second, and the attempts of its partial hours read directly (see
-- postgres/analytics.go). Attempts count as IntegrationService.IntegrationHealth
-- counts them: SUCCEEDED and IGNORED succeeded, FAILED and REJECTED failed,
-- PENDING has not finished. latency_NN counts the finished attempts whose
-- latency_ms is at most bound NN of the histogram below and more than bound
-- NN-1 (NULL latencies count nowhere); a percentile is told as the bound of
-- its bucket. The bounds are every millisecond to 6, then 8, 10, 12, 15, 20,
-- 25, 30, 40, 50, 60, 80 and so on per decade to 120 s (a bound is at most a
-- quarter above the latencies it holds), then the largest int.
-- postgres/analytics.go holds the same list.

CREATE TYPE webhook_stats_delta AS (
    integration_id uuid, created_at timestamptz, status text, latency_ms int, n int
);

-- The two rollups differ only in their key, and each has 54 counters, so the
-- tables, the trigger's upserts and the backfill are generated here from one
-- list of counters and one of keys rather than spelled out twice.
DO $migration$
DECLARE
    -- Every counter column, in column order, and the attempts it counts.
    counter_names text[] := ARRAY['succeeded', 'failed', 'pending']
        || ARRAY(SELECT format('latency_%s', to_char(i, 'FM00')) FROM generate_series(0, 50) i ORDER BY i);
    counter_conds text[] := ARRAY[$c$x.status IN ('SUCCEEDED', 'IGNORED')$c$, $c$x.status IN ('FAILED', 'REJECTED')$c$, $c$x.status = 'PENDING'$c$]
        || ARRAY(SELECT format('x.bucket = %s', i) FROM generate_series(0, 50) i ORDER BY i);
    -- The histogram bucket of an attempt (see the bounds above).
    bucket CONSTANT text := $b$CASE WHEN d.status <> 'PENDING' THEN width_bucket(d.latency_ms - 1, '{0,1,2,3,4,5,6,8,10,12,15,20,25,30,40,50,60,80,100,120,150,200,250,300,400,500,600,800,1000,1200,1500,2000,2500,3000,4000,5000,6000,8000,10000,12000,15000,20000,25000,30000,40000,50000,60000,80000,100000,120000,2147483647}'::int[]) END$b$;
    column_defs text;
    column_list text;
    insert_list text;
    sums text;
    counts text;
    nonzero text;
    additions text;
    r record;
    upserts text := '';
    backfills text[] := '{}';
    stmt text;
BEGIN
    SELECT string_agg(format('%I bigint NOT NULL', n), E',\n    ' ORDER BY o),
           string_agg(format('%I', n), ', ' ORDER BY o),
           -- string_agg puts a row's delimiter before it: five buckets a line.
           string_agg(format('%I', n), CASE WHEN o > 3 AND (o - 4) % 5 = 0 THEN E',\n        ' ELSE ', ' END ORDER BY o),
           string_agg(format('coalesce(sum(x.n) FILTER (WHERE %s), 0) AS %I', c, n), E',\n            ' ORDER BY o),
           string_agg(format('count(*) FILTER (WHERE %s)', c), E',\n    ' ORDER BY o),
           string_agg('0', ', ' ORDER BY o),
           string_agg(format('%1$I = s.%1$I + excluded.%1$I', n), E',\n        ' ORDER BY o)
    INTO column_defs, column_list, insert_list, sums, counts, nonzero, additions
    FROM unnest(counter_names, counter_conds) WITH ORDINALITY AS c(n, c, o);
    nonzero := format('(%s) <> (%s)', column_list, nonzero);

    FOR r IN SELECT * FROM (VALUES
        ('webhook_delivery_daily_stats', 'day', 'date', $k$(x.created_at AT TIME ZONE 'UTC')::date$k$),
        ('webhook_delivery_hourly_stats', 'hour', 'timestamptz', $k$date_trunc('hour', x.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'$k$)
    ) AS t (tbl, key, key_type, key_expr)
    LOOP
        EXECUTE format($t$CREATE TABLE %1$I (
    integration_id  uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    %2$I %3$s NOT NULL,
    %4$s,
    PRIMARY KEY (integration_id, %2$I)
)$t$, r.tbl, r.key, r.key_type, column_defs);

        -- Rows are upserted in key order, so two transactions never take the
        -- same rollup rows' locks in opposite orders.
        upserts := upserts || format($u$
    INSERT INTO %1$I AS s (integration_id, %2$I, %3$s)
    SELECT * FROM (
        SELECT x.integration_id, %4$s AS k,
            %5$s
        FROM (
            SELECT d.*, %6$s AS bucket
            FROM unnest(delta) d
            -- Deliveries deleted with their integration leave no rows
            -- behind: the integration's rollup rows went with it.
            WHERE EXISTS (SELECT 1 FROM integrations i WHERE i.id = d.integration_id)
        ) x
        GROUP BY 1, 2
    ) d
    WHERE %7$s
    ORDER BY 1, 2
    ON CONFLICT (integration_id, %2$I) DO UPDATE SET
        %8$s;
$u$, r.tbl, r.key, insert_list, r.key_expr, sums, bucket, nonzero, additions);

        backfills := backfills || format($f$INSERT INTO %1$I
SELECT x.integration_id, %2$s,
    %3$s
FROM (
    SELECT d.integration_id, d.created_at, d.status,
        %4$s AS bucket
    FROM webhook_deliveries d
) x
GROUP BY 1, 2$f$, r.tbl, r.key_expr, counts, bucket);
    END LOOP;

    -- One statement-level trigger per operation over transition tables, as for
    -- orders: a delta is +1 per new row version and -1 per old one, so an update
    -- that changes nothing counted (an error text, a payload) writes nothing.
    EXECUTE format($f$CREATE FUNCTION webhook_stats_apply() RETURNS trigger
    LANGUAGE plpgsql AS $body$
DECLARE
    delta webhook_stats_delta[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(ROW(integration_id, created_at, status, latency_ms, 1)::webhook_stats_delta) INTO delta FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(ROW(integration_id, created_at, status, latency_ms, -1)::webhook_stats_delta) INTO delta FROM old_rows;
    ELSE
        SELECT array_agg(d) INTO delta FROM (
            SELECT ROW(integration_id, created_at, status, latency_ms, 1)::webhook_stats_delta AS d FROM new_rows
            UNION ALL
            SELECT ROW(integration_id, created_at, status, latency_ms, -1)::webhook_stats_delta FROM old_rows
        ) x;
    END IF;
    IF delta IS NULL THEN
        RETURN NULL;
    END IF;
%s    RETURN NULL;
END
$body$
$f$, upserts);

    CREATE TRIGGER webhook_deliveries_stats_insert AFTER INSERT ON webhook_deliveries
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_stats_apply();
    CREATE TRIGGER webhook_deliveries_stats_update AFTER UPDATE ON webhook_deliveries
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_stats_apply();
    CREATE TRIGGER webhook_deliveries_stats_delete AFTER DELETE ON webhook_deliveries
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_stats_apply();

    -- TRUNCATE fires no row triggers; the rollups empty with the table.
    CREATE FUNCTION webhook_stats_truncate() RETURNS trigger
        LANGUAGE plpgsql AS $body$
BEGIN
    TRUNCATE webhook_delivery_daily_stats, webhook_delivery_hourly_stats;
    RETURN NULL;
END
$body$;
    CREATE TRIGGER webhook_deliveries_stats_truncate AFTER TRUNCATE ON webhook_deliveries
        FOR EACH STATEMENT EXECUTE FUNCTION webhook_stats_truncate();

    -- The deliveries that exist already, counted after the triggers exist:
    -- creating them locked out writers that the backfill could have missed.
    FOREACH stmt IN ARRAY backfills LOOP
        EXECUTE stmt;
    END LOOP;
END
$migration$;
