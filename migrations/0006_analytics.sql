-- Analytics rollups. A year of a busy tenant is hundreds of thousands of
-- orders, and aggregating them row by row for every dashboard load takes far
-- longer than the 50 ms an analytics query may take. These tables hold the same
-- numbers pre-aggregated, kept exact by triggers in the transaction that
-- changes the order, so a reader sees them move together with the orders.
--
-- order_daily_stats: orders per project, UTC calendar day of created_at,
-- currency and current status, with the sum of their totals. A status change
-- moves an order from one row to another. Buckets in other time zones are
-- assembled from whole UTC days plus the orders between each bucket edge and
-- the nearest UTC midnight (see postgres/analytics.go).
CREATE TABLE order_daily_stats (
    project_id  uuid NOT NULL,
    day         date NOT NULL,
    currency    text NOT NULL,
    status      text NOT NULL,
    orders      bigint NOT NULL,
    total       numeric NOT NULL,
    PRIMARY KEY (project_id, day, currency, status) INCLUDE (orders, total)
);
-- Every project at once (an admin's dashboard).
CREATE INDEX order_daily_stats_day_idx ON order_daily_stats (day) INCLUDE (project_id, currency, status, orders, total);

-- order_customer_stats: orders per project and customer, whatever their date
-- and status. It is the upper bound that lets the top customers of a long range
-- be found by looking at a few customers' orders instead of all of them.
CREATE TABLE order_customer_stats (
    project_id   uuid NOT NULL,
    customer_id  uuid NOT NULL,
    orders       bigint NOT NULL,
    PRIMARY KEY (project_id, customer_id)
);
CREATE INDEX order_customer_stats_rank_idx ON order_customer_stats (project_id, orders DESC, customer_id);

-- Bucket edges and short ranges read orders directly, per project or for all
-- projects; these indexes answer those reads without visiting the table.
CREATE INDEX orders_project_created_at_cover_idx ON orders (project_id, created_at) INCLUDE (currency, status, total, customer_id);
CREATE INDEX orders_created_at_cover_idx ON orders (created_at) INCLUDE (project_id, currency, status, total, customer_id);

-- One statement-level trigger per operation, over transition tables: a bulk
-- load (the seeder's COPY of thousands of orders) costs one aggregated upsert,
-- not one per row. Rows are upserted in key order so that two transactions
-- never take the same rollup rows' locks in opposite orders.
CREATE FUNCTION order_stats_apply() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    -- The delta of this statement: +1 for every new row version, -1 for every
    -- old one. An update that changes none of the keyed columns nets out.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO order_daily_stats AS s (project_id, day, currency, status, orders, total)
        SELECT project_id, (created_at AT TIME ZONE 'UTC')::date, currency, status, count(*), sum(total)
        FROM new_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (project_id, day, currency, status)
        DO UPDATE SET orders = s.orders + excluded.orders, total = s.total + excluded.total;
        INSERT INTO order_customer_stats AS s (project_id, customer_id, orders)
        SELECT project_id, customer_id, count(*) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (project_id, customer_id) DO UPDATE SET orders = s.orders + excluded.orders;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO order_daily_stats AS s (project_id, day, currency, status, orders, total)
        SELECT project_id, (created_at AT TIME ZONE 'UTC')::date, currency, status, -count(*), -sum(total)
        FROM old_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (project_id, day, currency, status)
        DO UPDATE SET orders = s.orders + excluded.orders, total = s.total + excluded.total;
        INSERT INTO order_customer_stats AS s (project_id, customer_id, orders)
        SELECT project_id, customer_id, -count(*) FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (project_id, customer_id) DO UPDATE SET orders = s.orders + excluded.orders;
    ELSE
        INSERT INTO order_daily_stats AS s (project_id, day, currency, status, orders, total)
        SELECT project_id, day, currency, status, sum(n), sum(t)
        FROM (
            SELECT project_id, (created_at AT TIME ZONE 'UTC')::date AS day, currency, status, 1 AS n, total AS t FROM new_rows
            UNION ALL
            SELECT project_id, (created_at AT TIME ZONE 'UTC')::date, currency, status, -1, -total FROM old_rows
        ) d
        GROUP BY 1, 2, 3, 4
        HAVING sum(n) <> 0 OR sum(t) <> 0
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (project_id, day, currency, status)
        DO UPDATE SET orders = s.orders + excluded.orders, total = s.total + excluded.total;
        INSERT INTO order_customer_stats AS s (project_id, customer_id, orders)
        SELECT project_id, customer_id, sum(n)
        FROM (
            SELECT project_id, customer_id, 1 AS n FROM new_rows
            UNION ALL
            SELECT project_id, customer_id, -1 FROM old_rows
        ) d
        GROUP BY 1, 2
        HAVING sum(n) <> 0
        ORDER BY 1, 2
        ON CONFLICT (project_id, customer_id) DO UPDATE SET orders = s.orders + excluded.orders;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER orders_stats_insert AFTER INSERT ON orders
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION order_stats_apply();
CREATE TRIGGER orders_stats_update AFTER UPDATE ON orders
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION order_stats_apply();
CREATE TRIGGER orders_stats_delete AFTER DELETE ON orders
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION order_stats_apply();

-- TRUNCATE fires no row triggers; the rollups empty with the table.
CREATE FUNCTION order_stats_truncate() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE order_daily_stats, order_customer_stats;
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_stats_truncate AFTER TRUNCATE ON orders
    FOR EACH STATEMENT EXECUTE FUNCTION order_stats_truncate();

-- The orders that exist already.
INSERT INTO order_daily_stats (project_id, day, currency, status, orders, total)
SELECT project_id, (created_at AT TIME ZONE 'UTC')::date, currency, status, count(*), sum(total)
FROM orders GROUP BY 1, 2, 3, 4;
INSERT INTO order_customer_stats (project_id, customer_id, orders)
SELECT project_id, customer_id, count(*) FROM orders GROUP BY 1, 2;
