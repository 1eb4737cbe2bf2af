-- Analytics rollups. A year of a busy tenant is hundreds of thousands of
-- orders, and aggregating them row by row for every dashboard load takes far
-- longer than the 50 ms an analytics query may take. These tables hold the same
-- numbers pre-aggregated, kept exact by triggers in the transaction that
-- changes the order, so a reader sees them move together with the orders.
--
-- order_daily_stats: per project, UTC calendar day of created_at and
-- currency, the orders in each current status and the sum of the totals of
-- those that count as revenue (PAID, FULFILLED, SHIPPED, DELIVERED: the
-- statuses OrderStatus.CountsAsRevenue lists; changing that list needs a
-- migration that recomputes revenue). One row per currency and day rather than
-- per status keeps a year of a project at about 1,500 rows. A status change
-- moves the order between the counts of one row. Buckets in other time zones
-- are assembled from whole UTC days plus the orders between each bucket edge
-- and the nearest UTC midnight (see postgres/analytics.go).
CREATE TABLE order_daily_stats (
    project_id  uuid NOT NULL,
    day         date NOT NULL,
    currency    text NOT NULL,
    orders      bigint NOT NULL,
    pending     bigint NOT NULL,
    paid        bigint NOT NULL,
    fulfilled   bigint NOT NULL,
    shipped     bigint NOT NULL,
    delivered   bigint NOT NULL,
    cancelled   bigint NOT NULL,
    refunded    bigint NOT NULL,
    revenue     numeric NOT NULL,
    PRIMARY KEY (project_id, day, currency)
);
-- Every project at once (an admin's dashboard).
CREATE INDEX order_daily_stats_day_idx ON order_daily_stats (day);

-- order_customer_stats: orders per project and customer, whatever their date
-- and status; customer_order_totals: the same over every project. They are
-- the upper bounds that let the top customers of a long range be found by
-- counting a few customers' orders instead of all of them.
CREATE TABLE order_customer_stats (
    project_id   uuid NOT NULL,
    customer_id  uuid NOT NULL,
    orders       bigint NOT NULL,
    PRIMARY KEY (project_id, customer_id)
);
CREATE INDEX order_customer_stats_rank_idx ON order_customer_stats (project_id, orders DESC, customer_id);
CREATE TABLE customer_order_totals (
    customer_id  uuid PRIMARY KEY,
    orders       bigint NOT NULL
);
CREATE INDEX customer_order_totals_rank_idx ON customer_order_totals (orders DESC, customer_id);

-- Bucket edges, hourly series and short ranges read orders directly, per
-- project or across all of them; the top customers read a few customers'
-- orders. The keyset indexes of 0001 already lead with those columns; carrying
-- the columns analytics reads lets those reads skip the table. Same keys, so
-- every list that used them still does.
DROP INDEX orders_created_at_idx;
CREATE INDEX orders_created_at_idx ON orders (created_at, id) INCLUDE (project_id, currency, status, total, customer_id);
DROP INDEX orders_project_created_at_idx;
CREATE INDEX orders_project_created_at_idx ON orders (project_id, created_at, id) INCLUDE (currency, status, total, customer_id);
DROP INDEX orders_customer_created_at_idx;
CREATE INDEX orders_customer_created_at_idx ON orders (customer_id, created_at, id) INCLUDE (project_id, currency, status, total);

-- One statement-level trigger per operation, over transition tables: a bulk
-- load (the seeder's COPY of thousands of orders) costs one aggregated upsert,
-- not one per row. The delta of a statement is +1 for every new row version
-- and -1 for every old one, so an update that changes nothing the rollups
-- count nets out and writes nothing. Rows are upserted in key order so that
-- two transactions never take the same rollup rows' locks in opposite orders.
CREATE TYPE order_stats_delta AS (
    project_id uuid, customer_id uuid, day date, currency text, status text, total numeric, n int
);

CREATE FUNCTION order_stats_apply() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    delta order_stats_delta[];
BEGIN
    -- A transition table exists only for the operations that have it, so
    -- each reads its own into the same shape.
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(ROW(project_id, customer_id, (created_at AT TIME ZONE 'UTC')::date, currency, status, total, 1)::order_stats_delta)
        INTO delta FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(ROW(project_id, customer_id, (created_at AT TIME ZONE 'UTC')::date, currency, status, total, -1)::order_stats_delta)
        INTO delta FROM old_rows;
    ELSE
        SELECT array_agg(d) INTO delta FROM (
            SELECT ROW(project_id, customer_id, (created_at AT TIME ZONE 'UTC')::date, currency, status, total, 1)::order_stats_delta AS d FROM new_rows
            UNION ALL
            SELECT ROW(project_id, customer_id, (created_at AT TIME ZONE 'UTC')::date, currency, status, total, -1)::order_stats_delta FROM old_rows
        ) x;
    END IF;
    IF delta IS NULL THEN
        RETURN NULL;
    END IF;

    INSERT INTO order_daily_stats AS s (project_id, day, currency, orders, pending, paid, fulfilled, shipped, delivered, cancelled, refunded, revenue)
    SELECT * FROM (
        SELECT project_id, day, currency, sum(n) AS orders,
            coalesce(sum(n) FILTER (WHERE status = 'PENDING'), 0) AS pending,
            coalesce(sum(n) FILTER (WHERE status = 'PAID'), 0) AS paid,
            coalesce(sum(n) FILTER (WHERE status = 'FULFILLED'), 0) AS fulfilled,
            coalesce(sum(n) FILTER (WHERE status = 'SHIPPED'), 0) AS shipped,
            coalesce(sum(n) FILTER (WHERE status = 'DELIVERED'), 0) AS delivered,
            coalesce(sum(n) FILTER (WHERE status = 'CANCELLED'), 0) AS cancelled,
            coalesce(sum(n) FILTER (WHERE status = 'REFUNDED'), 0) AS refunded,
            coalesce(sum(n * total) FILTER (WHERE status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue
        FROM unnest(delta) GROUP BY 1, 2, 3
    ) d
    WHERE (orders, pending, paid, fulfilled, shipped, delivered, cancelled, refunded, revenue) <> (0, 0, 0, 0, 0, 0, 0, 0, 0)
    ORDER BY 1, 2, 3
    ON CONFLICT (project_id, day, currency) DO UPDATE SET
        orders = s.orders + excluded.orders,
        pending = s.pending + excluded.pending,
        paid = s.paid + excluded.paid,
        fulfilled = s.fulfilled + excluded.fulfilled,
        shipped = s.shipped + excluded.shipped,
        delivered = s.delivered + excluded.delivered,
        cancelled = s.cancelled + excluded.cancelled,
        refunded = s.refunded + excluded.refunded,
        revenue = s.revenue + excluded.revenue;

    INSERT INTO order_customer_stats AS s (project_id, customer_id, orders)
    SELECT project_id, customer_id, sum(n) FROM unnest(delta)
    GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2
    ON CONFLICT (project_id, customer_id) DO UPDATE SET orders = s.orders + excluded.orders;

    INSERT INTO customer_order_totals AS s (customer_id, orders)
    SELECT customer_id, sum(n) FROM unnest(delta)
    GROUP BY 1 HAVING sum(n) <> 0 ORDER BY 1
    ON CONFLICT (customer_id) DO UPDATE SET orders = s.orders + excluded.orders;
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
    TRUNCATE order_daily_stats, order_customer_stats, customer_order_totals;
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_stats_truncate AFTER TRUNCATE ON orders
    FOR EACH STATEMENT EXECUTE FUNCTION order_stats_truncate();

-- The orders that exist already.
INSERT INTO order_daily_stats (project_id, day, currency, orders, pending, paid, fulfilled, shipped, delivered, cancelled, refunded, revenue)
SELECT project_id, (created_at AT TIME ZONE 'UTC')::date, currency, count(*),
    count(*) FILTER (WHERE status = 'PENDING'),
    count(*) FILTER (WHERE status = 'PAID'),
    count(*) FILTER (WHERE status = 'FULFILLED'),
    count(*) FILTER (WHERE status = 'SHIPPED'),
    count(*) FILTER (WHERE status = 'DELIVERED'),
    count(*) FILTER (WHERE status = 'CANCELLED'),
    count(*) FILTER (WHERE status = 'REFUNDED'),
    coalesce(sum(total) FILTER (WHERE status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0)
FROM orders GROUP BY 1, 2, 3;
INSERT INTO order_customer_stats (project_id, customer_id, orders)
SELECT project_id, customer_id, count(*) FROM orders GROUP BY 1, 2;
INSERT INTO customer_order_totals (customer_id, orders)
SELECT customer_id, count(*) FROM orders GROUP BY 1;
