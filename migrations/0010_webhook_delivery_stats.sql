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

CREATE TABLE webhook_delivery_daily_stats (
    integration_id  uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    day             date NOT NULL,
    succeeded       bigint NOT NULL,
    failed          bigint NOT NULL,
    pending         bigint NOT NULL,
    latency_00      bigint NOT NULL,
    latency_01      bigint NOT NULL,
    latency_02      bigint NOT NULL,
    latency_03      bigint NOT NULL,
    latency_04      bigint NOT NULL,
    latency_05      bigint NOT NULL,
    latency_06      bigint NOT NULL,
    latency_07      bigint NOT NULL,
    latency_08      bigint NOT NULL,
    latency_09      bigint NOT NULL,
    latency_10      bigint NOT NULL,
    latency_11      bigint NOT NULL,
    latency_12      bigint NOT NULL,
    latency_13      bigint NOT NULL,
    latency_14      bigint NOT NULL,
    latency_15      bigint NOT NULL,
    latency_16      bigint NOT NULL,
    latency_17      bigint NOT NULL,
    latency_18      bigint NOT NULL,
    latency_19      bigint NOT NULL,
    latency_20      bigint NOT NULL,
    latency_21      bigint NOT NULL,
    latency_22      bigint NOT NULL,
    latency_23      bigint NOT NULL,
    latency_24      bigint NOT NULL,
    latency_25      bigint NOT NULL,
    latency_26      bigint NOT NULL,
    latency_27      bigint NOT NULL,
    latency_28      bigint NOT NULL,
    latency_29      bigint NOT NULL,
    latency_30      bigint NOT NULL,
    latency_31      bigint NOT NULL,
    latency_32      bigint NOT NULL,
    latency_33      bigint NOT NULL,
    latency_34      bigint NOT NULL,
    latency_35      bigint NOT NULL,
    latency_36      bigint NOT NULL,
    latency_37      bigint NOT NULL,
    latency_38      bigint NOT NULL,
    latency_39      bigint NOT NULL,
    latency_40      bigint NOT NULL,
    latency_41      bigint NOT NULL,
    latency_42      bigint NOT NULL,
    latency_43      bigint NOT NULL,
    latency_44      bigint NOT NULL,
    latency_45      bigint NOT NULL,
    latency_46      bigint NOT NULL,
    latency_47      bigint NOT NULL,
    latency_48      bigint NOT NULL,
    latency_49      bigint NOT NULL,
    latency_50      bigint NOT NULL,
    PRIMARY KEY (integration_id, day)
);

CREATE TABLE webhook_delivery_hourly_stats (
    integration_id  uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    hour            timestamptz NOT NULL,
    succeeded       bigint NOT NULL,
    failed          bigint NOT NULL,
    pending         bigint NOT NULL,
    latency_00      bigint NOT NULL,
    latency_01      bigint NOT NULL,
    latency_02      bigint NOT NULL,
    latency_03      bigint NOT NULL,
    latency_04      bigint NOT NULL,
    latency_05      bigint NOT NULL,
    latency_06      bigint NOT NULL,
    latency_07      bigint NOT NULL,
    latency_08      bigint NOT NULL,
    latency_09      bigint NOT NULL,
    latency_10      bigint NOT NULL,
    latency_11      bigint NOT NULL,
    latency_12      bigint NOT NULL,
    latency_13      bigint NOT NULL,
    latency_14      bigint NOT NULL,
    latency_15      bigint NOT NULL,
    latency_16      bigint NOT NULL,
    latency_17      bigint NOT NULL,
    latency_18      bigint NOT NULL,
    latency_19      bigint NOT NULL,
    latency_20      bigint NOT NULL,
    latency_21      bigint NOT NULL,
    latency_22      bigint NOT NULL,
    latency_23      bigint NOT NULL,
    latency_24      bigint NOT NULL,
    latency_25      bigint NOT NULL,
    latency_26      bigint NOT NULL,
    latency_27      bigint NOT NULL,
    latency_28      bigint NOT NULL,
    latency_29      bigint NOT NULL,
    latency_30      bigint NOT NULL,
    latency_31      bigint NOT NULL,
    latency_32      bigint NOT NULL,
    latency_33      bigint NOT NULL,
    latency_34      bigint NOT NULL,
    latency_35      bigint NOT NULL,
    latency_36      bigint NOT NULL,
    latency_37      bigint NOT NULL,
    latency_38      bigint NOT NULL,
    latency_39      bigint NOT NULL,
    latency_40      bigint NOT NULL,
    latency_41      bigint NOT NULL,
    latency_42      bigint NOT NULL,
    latency_43      bigint NOT NULL,
    latency_44      bigint NOT NULL,
    latency_45      bigint NOT NULL,
    latency_46      bigint NOT NULL,
    latency_47      bigint NOT NULL,
    latency_48      bigint NOT NULL,
    latency_49      bigint NOT NULL,
    latency_50      bigint NOT NULL,
    PRIMARY KEY (integration_id, hour)
);

CREATE TYPE webhook_stats_delta AS (
    integration_id uuid, created_at timestamptz, status text, latency_ms int, n int
);

-- One statement-level trigger per operation over transition tables, as for
-- orders: a delta is +1 per new row version and -1 per old one, so an update
-- that changes nothing counted (an error text, a payload) writes nothing.
-- Rows are upserted in key order, so two transactions never take the same
-- rollup rows' locks in opposite orders.
CREATE FUNCTION webhook_stats_apply() RETURNS trigger
    LANGUAGE plpgsql AS $$
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

    INSERT INTO webhook_delivery_daily_stats AS s (integration_id, day, succeeded, failed, pending,
        latency_00, latency_01, latency_02, latency_03, latency_04,
        latency_05, latency_06, latency_07, latency_08, latency_09,
        latency_10, latency_11, latency_12, latency_13, latency_14,
        latency_15, latency_16, latency_17, latency_18, latency_19,
        latency_20, latency_21, latency_22, latency_23, latency_24,
        latency_25, latency_26, latency_27, latency_28, latency_29,
        latency_30, latency_31, latency_32, latency_33, latency_34,
        latency_35, latency_36, latency_37, latency_38, latency_39,
        latency_40, latency_41, latency_42, latency_43, latency_44,
        latency_45, latency_46, latency_47, latency_48, latency_49,
        latency_50)
    SELECT * FROM (
        SELECT x.integration_id, (x.created_at AT TIME ZONE 'UTC')::date AS k,
            coalesce(sum(x.n) FILTER (WHERE x.status IN ('SUCCEEDED', 'IGNORED')), 0) AS succeeded,
            coalesce(sum(x.n) FILTER (WHERE x.status IN ('FAILED', 'REJECTED')), 0) AS failed,
            coalesce(sum(x.n) FILTER (WHERE x.status = 'PENDING'), 0) AS pending,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 0), 0) AS latency_00,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 1), 0) AS latency_01,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 2), 0) AS latency_02,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 3), 0) AS latency_03,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 4), 0) AS latency_04,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 5), 0) AS latency_05,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 6), 0) AS latency_06,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 7), 0) AS latency_07,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 8), 0) AS latency_08,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 9), 0) AS latency_09,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 10), 0) AS latency_10,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 11), 0) AS latency_11,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 12), 0) AS latency_12,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 13), 0) AS latency_13,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 14), 0) AS latency_14,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 15), 0) AS latency_15,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 16), 0) AS latency_16,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 17), 0) AS latency_17,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 18), 0) AS latency_18,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 19), 0) AS latency_19,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 20), 0) AS latency_20,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 21), 0) AS latency_21,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 22), 0) AS latency_22,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 23), 0) AS latency_23,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 24), 0) AS latency_24,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 25), 0) AS latency_25,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 26), 0) AS latency_26,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 27), 0) AS latency_27,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 28), 0) AS latency_28,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 29), 0) AS latency_29,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 30), 0) AS latency_30,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 31), 0) AS latency_31,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 32), 0) AS latency_32,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 33), 0) AS latency_33,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 34), 0) AS latency_34,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 35), 0) AS latency_35,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 36), 0) AS latency_36,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 37), 0) AS latency_37,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 38), 0) AS latency_38,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 39), 0) AS latency_39,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 40), 0) AS latency_40,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 41), 0) AS latency_41,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 42), 0) AS latency_42,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 43), 0) AS latency_43,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 44), 0) AS latency_44,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 45), 0) AS latency_45,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 46), 0) AS latency_46,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 47), 0) AS latency_47,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 48), 0) AS latency_48,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 49), 0) AS latency_49,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 50), 0) AS latency_50
        FROM (
            SELECT d.*, CASE WHEN d.status <> 'PENDING' THEN width_bucket(d.latency_ms - 1, '{0,1,2,3,4,5,6,8,10,12,15,20,25,30,40,50,60,80,100,120,150,200,250,300,400,500,600,800,1000,1200,1500,2000,2500,3000,4000,5000,6000,8000,10000,12000,15000,20000,25000,30000,40000,50000,60000,80000,100000,120000,2147483647}'::int[]) END AS bucket
            FROM unnest(delta) d
            -- Deliveries deleted with their integration leave no rows
            -- behind: the integration's rollup rows went with it.
            WHERE EXISTS (SELECT 1 FROM integrations i WHERE i.id = d.integration_id)
        ) x
        GROUP BY 1, 2
    ) d
    WHERE (succeeded, failed, pending, latency_00, latency_01, latency_02, latency_03, latency_04, latency_05, latency_06, latency_07, latency_08, latency_09, latency_10, latency_11, latency_12, latency_13, latency_14, latency_15, latency_16, latency_17, latency_18, latency_19, latency_20, latency_21, latency_22, latency_23, latency_24, latency_25, latency_26, latency_27, latency_28, latency_29, latency_30, latency_31, latency_32, latency_33, latency_34, latency_35, latency_36, latency_37, latency_38, latency_39, latency_40, latency_41, latency_42, latency_43, latency_44, latency_45, latency_46, latency_47, latency_48, latency_49, latency_50) <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    ORDER BY 1, 2
    ON CONFLICT (integration_id, day) DO UPDATE SET
        succeeded = s.succeeded + excluded.succeeded,
        failed = s.failed + excluded.failed,
        pending = s.pending + excluded.pending,
        latency_00 = s.latency_00 + excluded.latency_00,
        latency_01 = s.latency_01 + excluded.latency_01,
        latency_02 = s.latency_02 + excluded.latency_02,
        latency_03 = s.latency_03 + excluded.latency_03,
        latency_04 = s.latency_04 + excluded.latency_04,
        latency_05 = s.latency_05 + excluded.latency_05,
        latency_06 = s.latency_06 + excluded.latency_06,
        latency_07 = s.latency_07 + excluded.latency_07,
        latency_08 = s.latency_08 + excluded.latency_08,
        latency_09 = s.latency_09 + excluded.latency_09,
        latency_10 = s.latency_10 + excluded.latency_10,
        latency_11 = s.latency_11 + excluded.latency_11,
        latency_12 = s.latency_12 + excluded.latency_12,
        latency_13 = s.latency_13 + excluded.latency_13,
        latency_14 = s.latency_14 + excluded.latency_14,
        latency_15 = s.latency_15 + excluded.latency_15,
        latency_16 = s.latency_16 + excluded.latency_16,
        latency_17 = s.latency_17 + excluded.latency_17,
        latency_18 = s.latency_18 + excluded.latency_18,
        latency_19 = s.latency_19 + excluded.latency_19,
        latency_20 = s.latency_20 + excluded.latency_20,
        latency_21 = s.latency_21 + excluded.latency_21,
        latency_22 = s.latency_22 + excluded.latency_22,
        latency_23 = s.latency_23 + excluded.latency_23,
        latency_24 = s.latency_24 + excluded.latency_24,
        latency_25 = s.latency_25 + excluded.latency_25,
        latency_26 = s.latency_26 + excluded.latency_26,
        latency_27 = s.latency_27 + excluded.latency_27,
        latency_28 = s.latency_28 + excluded.latency_28,
        latency_29 = s.latency_29 + excluded.latency_29,
        latency_30 = s.latency_30 + excluded.latency_30,
        latency_31 = s.latency_31 + excluded.latency_31,
        latency_32 = s.latency_32 + excluded.latency_32,
        latency_33 = s.latency_33 + excluded.latency_33,
        latency_34 = s.latency_34 + excluded.latency_34,
        latency_35 = s.latency_35 + excluded.latency_35,
        latency_36 = s.latency_36 + excluded.latency_36,
        latency_37 = s.latency_37 + excluded.latency_37,
        latency_38 = s.latency_38 + excluded.latency_38,
        latency_39 = s.latency_39 + excluded.latency_39,
        latency_40 = s.latency_40 + excluded.latency_40,
        latency_41 = s.latency_41 + excluded.latency_41,
        latency_42 = s.latency_42 + excluded.latency_42,
        latency_43 = s.latency_43 + excluded.latency_43,
        latency_44 = s.latency_44 + excluded.latency_44,
        latency_45 = s.latency_45 + excluded.latency_45,
        latency_46 = s.latency_46 + excluded.latency_46,
        latency_47 = s.latency_47 + excluded.latency_47,
        latency_48 = s.latency_48 + excluded.latency_48,
        latency_49 = s.latency_49 + excluded.latency_49,
        latency_50 = s.latency_50 + excluded.latency_50;

    INSERT INTO webhook_delivery_hourly_stats AS s (integration_id, hour, succeeded, failed, pending,
        latency_00, latency_01, latency_02, latency_03, latency_04,
        latency_05, latency_06, latency_07, latency_08, latency_09,
        latency_10, latency_11, latency_12, latency_13, latency_14,
        latency_15, latency_16, latency_17, latency_18, latency_19,
        latency_20, latency_21, latency_22, latency_23, latency_24,
        latency_25, latency_26, latency_27, latency_28, latency_29,
        latency_30, latency_31, latency_32, latency_33, latency_34,
        latency_35, latency_36, latency_37, latency_38, latency_39,
        latency_40, latency_41, latency_42, latency_43, latency_44,
        latency_45, latency_46, latency_47, latency_48, latency_49,
        latency_50)
    SELECT * FROM (
        SELECT x.integration_id, date_trunc('hour', x.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS k,
            coalesce(sum(x.n) FILTER (WHERE x.status IN ('SUCCEEDED', 'IGNORED')), 0) AS succeeded,
            coalesce(sum(x.n) FILTER (WHERE x.status IN ('FAILED', 'REJECTED')), 0) AS failed,
            coalesce(sum(x.n) FILTER (WHERE x.status = 'PENDING'), 0) AS pending,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 0), 0) AS latency_00,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 1), 0) AS latency_01,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 2), 0) AS latency_02,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 3), 0) AS latency_03,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 4), 0) AS latency_04,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 5), 0) AS latency_05,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 6), 0) AS latency_06,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 7), 0) AS latency_07,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 8), 0) AS latency_08,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 9), 0) AS latency_09,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 10), 0) AS latency_10,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 11), 0) AS latency_11,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 12), 0) AS latency_12,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 13), 0) AS latency_13,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 14), 0) AS latency_14,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 15), 0) AS latency_15,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 16), 0) AS latency_16,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 17), 0) AS latency_17,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 18), 0) AS latency_18,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 19), 0) AS latency_19,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 20), 0) AS latency_20,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 21), 0) AS latency_21,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 22), 0) AS latency_22,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 23), 0) AS latency_23,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 24), 0) AS latency_24,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 25), 0) AS latency_25,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 26), 0) AS latency_26,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 27), 0) AS latency_27,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 28), 0) AS latency_28,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 29), 0) AS latency_29,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 30), 0) AS latency_30,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 31), 0) AS latency_31,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 32), 0) AS latency_32,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 33), 0) AS latency_33,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 34), 0) AS latency_34,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 35), 0) AS latency_35,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 36), 0) AS latency_36,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 37), 0) AS latency_37,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 38), 0) AS latency_38,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 39), 0) AS latency_39,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 40), 0) AS latency_40,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 41), 0) AS latency_41,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 42), 0) AS latency_42,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 43), 0) AS latency_43,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 44), 0) AS latency_44,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 45), 0) AS latency_45,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 46), 0) AS latency_46,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 47), 0) AS latency_47,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 48), 0) AS latency_48,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 49), 0) AS latency_49,
            coalesce(sum(x.n) FILTER (WHERE x.bucket = 50), 0) AS latency_50
        FROM (
            SELECT d.*, CASE WHEN d.status <> 'PENDING' THEN width_bucket(d.latency_ms - 1, '{0,1,2,3,4,5,6,8,10,12,15,20,25,30,40,50,60,80,100,120,150,200,250,300,400,500,600,800,1000,1200,1500,2000,2500,3000,4000,5000,6000,8000,10000,12000,15000,20000,25000,30000,40000,50000,60000,80000,100000,120000,2147483647}'::int[]) END AS bucket
            FROM unnest(delta) d
            -- Deliveries deleted with their integration leave no rows
            -- behind: the integration's rollup rows went with it.
            WHERE EXISTS (SELECT 1 FROM integrations i WHERE i.id = d.integration_id)
        ) x
        GROUP BY 1, 2
    ) d
    WHERE (succeeded, failed, pending, latency_00, latency_01, latency_02, latency_03, latency_04, latency_05, latency_06, latency_07, latency_08, latency_09, latency_10, latency_11, latency_12, latency_13, latency_14, latency_15, latency_16, latency_17, latency_18, latency_19, latency_20, latency_21, latency_22, latency_23, latency_24, latency_25, latency_26, latency_27, latency_28, latency_29, latency_30, latency_31, latency_32, latency_33, latency_34, latency_35, latency_36, latency_37, latency_38, latency_39, latency_40, latency_41, latency_42, latency_43, latency_44, latency_45, latency_46, latency_47, latency_48, latency_49, latency_50) <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    ORDER BY 1, 2
    ON CONFLICT (integration_id, hour) DO UPDATE SET
        succeeded = s.succeeded + excluded.succeeded,
        failed = s.failed + excluded.failed,
        pending = s.pending + excluded.pending,
        latency_00 = s.latency_00 + excluded.latency_00,
        latency_01 = s.latency_01 + excluded.latency_01,
        latency_02 = s.latency_02 + excluded.latency_02,
        latency_03 = s.latency_03 + excluded.latency_03,
        latency_04 = s.latency_04 + excluded.latency_04,
        latency_05 = s.latency_05 + excluded.latency_05,
        latency_06 = s.latency_06 + excluded.latency_06,
        latency_07 = s.latency_07 + excluded.latency_07,
        latency_08 = s.latency_08 + excluded.latency_08,
        latency_09 = s.latency_09 + excluded.latency_09,
        latency_10 = s.latency_10 + excluded.latency_10,
        latency_11 = s.latency_11 + excluded.latency_11,
        latency_12 = s.latency_12 + excluded.latency_12,
        latency_13 = s.latency_13 + excluded.latency_13,
        latency_14 = s.latency_14 + excluded.latency_14,
        latency_15 = s.latency_15 + excluded.latency_15,
        latency_16 = s.latency_16 + excluded.latency_16,
        latency_17 = s.latency_17 + excluded.latency_17,
        latency_18 = s.latency_18 + excluded.latency_18,
        latency_19 = s.latency_19 + excluded.latency_19,
        latency_20 = s.latency_20 + excluded.latency_20,
        latency_21 = s.latency_21 + excluded.latency_21,
        latency_22 = s.latency_22 + excluded.latency_22,
        latency_23 = s.latency_23 + excluded.latency_23,
        latency_24 = s.latency_24 + excluded.latency_24,
        latency_25 = s.latency_25 + excluded.latency_25,
        latency_26 = s.latency_26 + excluded.latency_26,
        latency_27 = s.latency_27 + excluded.latency_27,
        latency_28 = s.latency_28 + excluded.latency_28,
        latency_29 = s.latency_29 + excluded.latency_29,
        latency_30 = s.latency_30 + excluded.latency_30,
        latency_31 = s.latency_31 + excluded.latency_31,
        latency_32 = s.latency_32 + excluded.latency_32,
        latency_33 = s.latency_33 + excluded.latency_33,
        latency_34 = s.latency_34 + excluded.latency_34,
        latency_35 = s.latency_35 + excluded.latency_35,
        latency_36 = s.latency_36 + excluded.latency_36,
        latency_37 = s.latency_37 + excluded.latency_37,
        latency_38 = s.latency_38 + excluded.latency_38,
        latency_39 = s.latency_39 + excluded.latency_39,
        latency_40 = s.latency_40 + excluded.latency_40,
        latency_41 = s.latency_41 + excluded.latency_41,
        latency_42 = s.latency_42 + excluded.latency_42,
        latency_43 = s.latency_43 + excluded.latency_43,
        latency_44 = s.latency_44 + excluded.latency_44,
        latency_45 = s.latency_45 + excluded.latency_45,
        latency_46 = s.latency_46 + excluded.latency_46,
        latency_47 = s.latency_47 + excluded.latency_47,
        latency_48 = s.latency_48 + excluded.latency_48,
        latency_49 = s.latency_49 + excluded.latency_49,
        latency_50 = s.latency_50 + excluded.latency_50;
    RETURN NULL;
END
$$;

CREATE TRIGGER webhook_deliveries_stats_insert AFTER INSERT ON webhook_deliveries
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_stats_apply();
CREATE TRIGGER webhook_deliveries_stats_update AFTER UPDATE ON webhook_deliveries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_stats_apply();
CREATE TRIGGER webhook_deliveries_stats_delete AFTER DELETE ON webhook_deliveries
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_stats_apply();

-- TRUNCATE fires no row triggers; the rollups empty with the table.
CREATE FUNCTION webhook_stats_truncate() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE webhook_delivery_daily_stats, webhook_delivery_hourly_stats;
    RETURN NULL;
END
$$;
CREATE TRIGGER webhook_deliveries_stats_truncate AFTER TRUNCATE ON webhook_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_stats_truncate();

-- The deliveries that exist already.
INSERT INTO webhook_delivery_daily_stats
SELECT x.integration_id, (x.created_at AT TIME ZONE 'UTC')::date,
    count(*) FILTER (WHERE x.status IN ('SUCCEEDED', 'IGNORED')),
    count(*) FILTER (WHERE x.status IN ('FAILED', 'REJECTED')),
    count(*) FILTER (WHERE x.status = 'PENDING'),
    count(*) FILTER (WHERE x.bucket = 0),
    count(*) FILTER (WHERE x.bucket = 1),
    count(*) FILTER (WHERE x.bucket = 2),
    count(*) FILTER (WHERE x.bucket = 3),
    count(*) FILTER (WHERE x.bucket = 4),
    count(*) FILTER (WHERE x.bucket = 5),
    count(*) FILTER (WHERE x.bucket = 6),
    count(*) FILTER (WHERE x.bucket = 7),
    count(*) FILTER (WHERE x.bucket = 8),
    count(*) FILTER (WHERE x.bucket = 9),
    count(*) FILTER (WHERE x.bucket = 10),
    count(*) FILTER (WHERE x.bucket = 11),
    count(*) FILTER (WHERE x.bucket = 12),
    count(*) FILTER (WHERE x.bucket = 13),
    count(*) FILTER (WHERE x.bucket = 14),
    count(*) FILTER (WHERE x.bucket = 15),
    count(*) FILTER (WHERE x.bucket = 16),
    count(*) FILTER (WHERE x.bucket = 17),
    count(*) FILTER (WHERE x.bucket = 18),
    count(*) FILTER (WHERE x.bucket = 19),
    count(*) FILTER (WHERE x.bucket = 20),
    count(*) FILTER (WHERE x.bucket = 21),
    count(*) FILTER (WHERE x.bucket = 22),
    count(*) FILTER (WHERE x.bucket = 23),
    count(*) FILTER (WHERE x.bucket = 24),
    count(*) FILTER (WHERE x.bucket = 25),
    count(*) FILTER (WHERE x.bucket = 26),
    count(*) FILTER (WHERE x.bucket = 27),
    count(*) FILTER (WHERE x.bucket = 28),
    count(*) FILTER (WHERE x.bucket = 29),
    count(*) FILTER (WHERE x.bucket = 30),
    count(*) FILTER (WHERE x.bucket = 31),
    count(*) FILTER (WHERE x.bucket = 32),
    count(*) FILTER (WHERE x.bucket = 33),
    count(*) FILTER (WHERE x.bucket = 34),
    count(*) FILTER (WHERE x.bucket = 35),
    count(*) FILTER (WHERE x.bucket = 36),
    count(*) FILTER (WHERE x.bucket = 37),
    count(*) FILTER (WHERE x.bucket = 38),
    count(*) FILTER (WHERE x.bucket = 39),
    count(*) FILTER (WHERE x.bucket = 40),
    count(*) FILTER (WHERE x.bucket = 41),
    count(*) FILTER (WHERE x.bucket = 42),
    count(*) FILTER (WHERE x.bucket = 43),
    count(*) FILTER (WHERE x.bucket = 44),
    count(*) FILTER (WHERE x.bucket = 45),
    count(*) FILTER (WHERE x.bucket = 46),
    count(*) FILTER (WHERE x.bucket = 47),
    count(*) FILTER (WHERE x.bucket = 48),
    count(*) FILTER (WHERE x.bucket = 49),
    count(*) FILTER (WHERE x.bucket = 50)
FROM (
    SELECT d.integration_id, d.created_at, d.status,
        CASE WHEN d.status <> 'PENDING' THEN width_bucket(d.latency_ms - 1, '{0,1,2,3,4,5,6,8,10,12,15,20,25,30,40,50,60,80,100,120,150,200,250,300,400,500,600,800,1000,1200,1500,2000,2500,3000,4000,5000,6000,8000,10000,12000,15000,20000,25000,30000,40000,50000,60000,80000,100000,120000,2147483647}'::int[]) END AS bucket
    FROM webhook_deliveries d
) x
GROUP BY 1, 2;

INSERT INTO webhook_delivery_hourly_stats
SELECT x.integration_id, date_trunc('hour', x.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
    count(*) FILTER (WHERE x.status IN ('SUCCEEDED', 'IGNORED')),
    count(*) FILTER (WHERE x.status IN ('FAILED', 'REJECTED')),
    count(*) FILTER (WHERE x.status = 'PENDING'),
    count(*) FILTER (WHERE x.bucket = 0),
    count(*) FILTER (WHERE x.bucket = 1),
    count(*) FILTER (WHERE x.bucket = 2),
    count(*) FILTER (WHERE x.bucket = 3),
    count(*) FILTER (WHERE x.bucket = 4),
    count(*) FILTER (WHERE x.bucket = 5),
    count(*) FILTER (WHERE x.bucket = 6),
    count(*) FILTER (WHERE x.bucket = 7),
    count(*) FILTER (WHERE x.bucket = 8),
    count(*) FILTER (WHERE x.bucket = 9),
    count(*) FILTER (WHERE x.bucket = 10),
    count(*) FILTER (WHERE x.bucket = 11),
    count(*) FILTER (WHERE x.bucket = 12),
    count(*) FILTER (WHERE x.bucket = 13),
    count(*) FILTER (WHERE x.bucket = 14),
    count(*) FILTER (WHERE x.bucket = 15),
    count(*) FILTER (WHERE x.bucket = 16),
    count(*) FILTER (WHERE x.bucket = 17),
    count(*) FILTER (WHERE x.bucket = 18),
    count(*) FILTER (WHERE x.bucket = 19),
    count(*) FILTER (WHERE x.bucket = 20),
    count(*) FILTER (WHERE x.bucket = 21),
    count(*) FILTER (WHERE x.bucket = 22),
    count(*) FILTER (WHERE x.bucket = 23),
    count(*) FILTER (WHERE x.bucket = 24),
    count(*) FILTER (WHERE x.bucket = 25),
    count(*) FILTER (WHERE x.bucket = 26),
    count(*) FILTER (WHERE x.bucket = 27),
    count(*) FILTER (WHERE x.bucket = 28),
    count(*) FILTER (WHERE x.bucket = 29),
    count(*) FILTER (WHERE x.bucket = 30),
    count(*) FILTER (WHERE x.bucket = 31),
    count(*) FILTER (WHERE x.bucket = 32),
    count(*) FILTER (WHERE x.bucket = 33),
    count(*) FILTER (WHERE x.bucket = 34),
    count(*) FILTER (WHERE x.bucket = 35),
    count(*) FILTER (WHERE x.bucket = 36),
    count(*) FILTER (WHERE x.bucket = 37),
    count(*) FILTER (WHERE x.bucket = 38),
    count(*) FILTER (WHERE x.bucket = 39),
    count(*) FILTER (WHERE x.bucket = 40),
    count(*) FILTER (WHERE x.bucket = 41),
    count(*) FILTER (WHERE x.bucket = 42),
    count(*) FILTER (WHERE x.bucket = 43),
    count(*) FILTER (WHERE x.bucket = 44),
    count(*) FILTER (WHERE x.bucket = 45),
    count(*) FILTER (WHERE x.bucket = 46),
    count(*) FILTER (WHERE x.bucket = 47),
    count(*) FILTER (WHERE x.bucket = 48),
    count(*) FILTER (WHERE x.bucket = 49),
    count(*) FILTER (WHERE x.bucket = 50)
FROM (
    SELECT d.integration_id, d.created_at, d.status,
        CASE WHEN d.status <> 'PENDING' THEN width_bucket(d.latency_ms - 1, '{0,1,2,3,4,5,6,8,10,12,15,20,25,30,40,50,60,80,100,120,150,200,250,300,400,500,600,800,1000,1200,1500,2000,2500,3000,4000,5000,6000,8000,10000,12000,15000,20000,25000,30000,40000,50000,60000,80000,100000,120000,2147483647}'::int[]) END AS bucket
    FROM webhook_deliveries d
) x
GROUP BY 1, 2;
