-- Analytics in time zones away from UTC. order_daily_stats (0006) holds whole
-- UTC days, so a bucket in another zone needed the orders between each bucket
-- edge and the nearest UTC midnight read one by one: seven or eight hours a
-- day in Los Angeles, a third of all orders for a daily series. These columns
-- split each day's row by the hour: orders_hNN and revenue_hNN are the orders,
-- and the revenue of those that count as revenue, created in the first NN
-- hours of the UTC day ([day 00:00, day NN:00)). A bucket edge on a whole UTC
-- hour is then one column of one row per project and currency, whatever the
-- number of orders; an edge between hours (India's :30, Nepal's :45) reads
-- only the orders of its last half hour at most. The sums are cumulative so
-- that an edge reads one column, not an hour's columns added up. Statuses are
-- not split by the hour: the orders at an edge inside the range move between
-- two adjacent buckets, and the range's totals per status do not change; the
-- range's own ends still read their orders, with statuses (see
-- postgres/analytics.go).
ALTER TYPE order_stats_delta ADD ATTRIBUTE hour int;

ALTER TABLE order_daily_stats
    ADD COLUMN orders_h01 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h02 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h03 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h04 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h05 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h06 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h07 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h08 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h09 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h10 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h11 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h12 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h13 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h14 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h15 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h16 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h17 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h18 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h19 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h20 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h21 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h22 bigint NOT NULL DEFAULT 0,
    ADD COLUMN orders_h23 bigint NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h01 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h02 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h03 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h04 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h05 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h06 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h07 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h08 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h09 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h10 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h11 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h12 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h13 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h14 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h15 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h16 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h17 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h18 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h19 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h20 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h21 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h22 numeric NOT NULL DEFAULT 0,
    ADD COLUMN revenue_h23 numeric NOT NULL DEFAULT 0;

-- The same statement-level function as 0006, with each delta's UTC hour and
-- the hour columns. A change that keeps an order's day but moves its hour (an
-- edited created_at) changes only hour columns, so those count as a change
-- too.
CREATE OR REPLACE FUNCTION order_stats_apply() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    delta order_stats_delta[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(ROW(project_id, customer_id, (created_at AT TIME ZONE 'UTC')::date, currency, status, total, 1,
                             extract(hour FROM created_at AT TIME ZONE 'UTC')::int)::order_stats_delta)
        INTO delta FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(ROW(project_id, customer_id, (created_at AT TIME ZONE 'UTC')::date, currency, status, total, -1,
                             extract(hour FROM created_at AT TIME ZONE 'UTC')::int)::order_stats_delta)
        INTO delta FROM old_rows;
    ELSE
        SELECT array_agg(d) INTO delta FROM (
            SELECT ROW(project_id, customer_id, (created_at AT TIME ZONE 'UTC')::date, currency, status, total, 1,
                       extract(hour FROM created_at AT TIME ZONE 'UTC')::int)::order_stats_delta AS d FROM new_rows
            UNION ALL
            SELECT ROW(project_id, customer_id, (created_at AT TIME ZONE 'UTC')::date, currency, status, total, -1,
                       extract(hour FROM created_at AT TIME ZONE 'UTC')::int)::order_stats_delta FROM old_rows
        ) x;
    END IF;
    IF delta IS NULL THEN
        RETURN NULL;
    END IF;

    INSERT INTO order_daily_stats AS s (project_id, day, currency, orders, pending, paid, fulfilled, shipped, delivered, cancelled, refunded, revenue,
        orders_h01, orders_h02, orders_h03, orders_h04, orders_h05,
        orders_h06, orders_h07, orders_h08, orders_h09, orders_h10,
        orders_h11, orders_h12, orders_h13, orders_h14, orders_h15,
        orders_h16, orders_h17, orders_h18, orders_h19, orders_h20,
        orders_h21, orders_h22, orders_h23,
        revenue_h01, revenue_h02, revenue_h03, revenue_h04, revenue_h05,
        revenue_h06, revenue_h07, revenue_h08, revenue_h09, revenue_h10,
        revenue_h11, revenue_h12, revenue_h13, revenue_h14, revenue_h15,
        revenue_h16, revenue_h17, revenue_h18, revenue_h19, revenue_h20,
        revenue_h21, revenue_h22, revenue_h23)
    SELECT * FROM (
        SELECT project_id, day, currency, sum(n) AS orders,
            coalesce(sum(n) FILTER (WHERE status = 'PENDING'), 0) AS pending,
            coalesce(sum(n) FILTER (WHERE status = 'PAID'), 0) AS paid,
            coalesce(sum(n) FILTER (WHERE status = 'FULFILLED'), 0) AS fulfilled,
            coalesce(sum(n) FILTER (WHERE status = 'SHIPPED'), 0) AS shipped,
            coalesce(sum(n) FILTER (WHERE status = 'DELIVERED'), 0) AS delivered,
            coalesce(sum(n) FILTER (WHERE status = 'CANCELLED'), 0) AS cancelled,
            coalesce(sum(n) FILTER (WHERE status = 'REFUNDED'), 0) AS refunded,
            coalesce(sum(n * total) FILTER (WHERE status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue,
            coalesce(sum(n) FILTER (WHERE hour < 1), 0) AS orders_h01,
            coalesce(sum(n) FILTER (WHERE hour < 2), 0) AS orders_h02,
            coalesce(sum(n) FILTER (WHERE hour < 3), 0) AS orders_h03,
            coalesce(sum(n) FILTER (WHERE hour < 4), 0) AS orders_h04,
            coalesce(sum(n) FILTER (WHERE hour < 5), 0) AS orders_h05,
            coalesce(sum(n) FILTER (WHERE hour < 6), 0) AS orders_h06,
            coalesce(sum(n) FILTER (WHERE hour < 7), 0) AS orders_h07,
            coalesce(sum(n) FILTER (WHERE hour < 8), 0) AS orders_h08,
            coalesce(sum(n) FILTER (WHERE hour < 9), 0) AS orders_h09,
            coalesce(sum(n) FILTER (WHERE hour < 10), 0) AS orders_h10,
            coalesce(sum(n) FILTER (WHERE hour < 11), 0) AS orders_h11,
            coalesce(sum(n) FILTER (WHERE hour < 12), 0) AS orders_h12,
            coalesce(sum(n) FILTER (WHERE hour < 13), 0) AS orders_h13,
            coalesce(sum(n) FILTER (WHERE hour < 14), 0) AS orders_h14,
            coalesce(sum(n) FILTER (WHERE hour < 15), 0) AS orders_h15,
            coalesce(sum(n) FILTER (WHERE hour < 16), 0) AS orders_h16,
            coalesce(sum(n) FILTER (WHERE hour < 17), 0) AS orders_h17,
            coalesce(sum(n) FILTER (WHERE hour < 18), 0) AS orders_h18,
            coalesce(sum(n) FILTER (WHERE hour < 19), 0) AS orders_h19,
            coalesce(sum(n) FILTER (WHERE hour < 20), 0) AS orders_h20,
            coalesce(sum(n) FILTER (WHERE hour < 21), 0) AS orders_h21,
            coalesce(sum(n) FILTER (WHERE hour < 22), 0) AS orders_h22,
            coalesce(sum(n) FILTER (WHERE hour < 23), 0) AS orders_h23,
            coalesce(sum(n * total) FILTER (WHERE hour < 1 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h01,
            coalesce(sum(n * total) FILTER (WHERE hour < 2 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h02,
            coalesce(sum(n * total) FILTER (WHERE hour < 3 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h03,
            coalesce(sum(n * total) FILTER (WHERE hour < 4 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h04,
            coalesce(sum(n * total) FILTER (WHERE hour < 5 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h05,
            coalesce(sum(n * total) FILTER (WHERE hour < 6 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h06,
            coalesce(sum(n * total) FILTER (WHERE hour < 7 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h07,
            coalesce(sum(n * total) FILTER (WHERE hour < 8 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h08,
            coalesce(sum(n * total) FILTER (WHERE hour < 9 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h09,
            coalesce(sum(n * total) FILTER (WHERE hour < 10 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h10,
            coalesce(sum(n * total) FILTER (WHERE hour < 11 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h11,
            coalesce(sum(n * total) FILTER (WHERE hour < 12 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h12,
            coalesce(sum(n * total) FILTER (WHERE hour < 13 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h13,
            coalesce(sum(n * total) FILTER (WHERE hour < 14 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h14,
            coalesce(sum(n * total) FILTER (WHERE hour < 15 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h15,
            coalesce(sum(n * total) FILTER (WHERE hour < 16 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h16,
            coalesce(sum(n * total) FILTER (WHERE hour < 17 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h17,
            coalesce(sum(n * total) FILTER (WHERE hour < 18 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h18,
            coalesce(sum(n * total) FILTER (WHERE hour < 19 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h19,
            coalesce(sum(n * total) FILTER (WHERE hour < 20 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h20,
            coalesce(sum(n * total) FILTER (WHERE hour < 21 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h21,
            coalesce(sum(n * total) FILTER (WHERE hour < 22 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h22,
            coalesce(sum(n * total) FILTER (WHERE hour < 23 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h23
        FROM unnest(delta) GROUP BY 1, 2, 3
    ) d
    WHERE (orders, pending, paid, fulfilled, shipped, delivered, cancelled, refunded, revenue) <> (0, 0, 0, 0, 0, 0, 0, 0, 0)
       OR (orders_h01, orders_h02, orders_h03, orders_h04, orders_h05, orders_h06, orders_h07, orders_h08, orders_h09, orders_h10, orders_h11, orders_h12, orders_h13, orders_h14, orders_h15, orders_h16, orders_h17, orders_h18, orders_h19, orders_h20, orders_h21, orders_h22, orders_h23) <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
       OR (revenue_h01, revenue_h02, revenue_h03, revenue_h04, revenue_h05, revenue_h06, revenue_h07, revenue_h08, revenue_h09, revenue_h10, revenue_h11, revenue_h12, revenue_h13, revenue_h14, revenue_h15, revenue_h16, revenue_h17, revenue_h18, revenue_h19, revenue_h20, revenue_h21, revenue_h22, revenue_h23) <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
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
        revenue = s.revenue + excluded.revenue,
        orders_h01 = s.orders_h01 + excluded.orders_h01,
        orders_h02 = s.orders_h02 + excluded.orders_h02,
        orders_h03 = s.orders_h03 + excluded.orders_h03,
        orders_h04 = s.orders_h04 + excluded.orders_h04,
        orders_h05 = s.orders_h05 + excluded.orders_h05,
        orders_h06 = s.orders_h06 + excluded.orders_h06,
        orders_h07 = s.orders_h07 + excluded.orders_h07,
        orders_h08 = s.orders_h08 + excluded.orders_h08,
        orders_h09 = s.orders_h09 + excluded.orders_h09,
        orders_h10 = s.orders_h10 + excluded.orders_h10,
        orders_h11 = s.orders_h11 + excluded.orders_h11,
        orders_h12 = s.orders_h12 + excluded.orders_h12,
        orders_h13 = s.orders_h13 + excluded.orders_h13,
        orders_h14 = s.orders_h14 + excluded.orders_h14,
        orders_h15 = s.orders_h15 + excluded.orders_h15,
        orders_h16 = s.orders_h16 + excluded.orders_h16,
        orders_h17 = s.orders_h17 + excluded.orders_h17,
        orders_h18 = s.orders_h18 + excluded.orders_h18,
        orders_h19 = s.orders_h19 + excluded.orders_h19,
        orders_h20 = s.orders_h20 + excluded.orders_h20,
        orders_h21 = s.orders_h21 + excluded.orders_h21,
        orders_h22 = s.orders_h22 + excluded.orders_h22,
        orders_h23 = s.orders_h23 + excluded.orders_h23,
        revenue_h01 = s.revenue_h01 + excluded.revenue_h01,
        revenue_h02 = s.revenue_h02 + excluded.revenue_h02,
        revenue_h03 = s.revenue_h03 + excluded.revenue_h03,
        revenue_h04 = s.revenue_h04 + excluded.revenue_h04,
        revenue_h05 = s.revenue_h05 + excluded.revenue_h05,
        revenue_h06 = s.revenue_h06 + excluded.revenue_h06,
        revenue_h07 = s.revenue_h07 + excluded.revenue_h07,
        revenue_h08 = s.revenue_h08 + excluded.revenue_h08,
        revenue_h09 = s.revenue_h09 + excluded.revenue_h09,
        revenue_h10 = s.revenue_h10 + excluded.revenue_h10,
        revenue_h11 = s.revenue_h11 + excluded.revenue_h11,
        revenue_h12 = s.revenue_h12 + excluded.revenue_h12,
        revenue_h13 = s.revenue_h13 + excluded.revenue_h13,
        revenue_h14 = s.revenue_h14 + excluded.revenue_h14,
        revenue_h15 = s.revenue_h15 + excluded.revenue_h15,
        revenue_h16 = s.revenue_h16 + excluded.revenue_h16,
        revenue_h17 = s.revenue_h17 + excluded.revenue_h17,
        revenue_h18 = s.revenue_h18 + excluded.revenue_h18,
        revenue_h19 = s.revenue_h19 + excluded.revenue_h19,
        revenue_h20 = s.revenue_h20 + excluded.revenue_h20,
        revenue_h21 = s.revenue_h21 + excluded.revenue_h21,
        revenue_h22 = s.revenue_h22 + excluded.revenue_h22,
        revenue_h23 = s.revenue_h23 + excluded.revenue_h23;

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

-- The orders that exist already.
UPDATE order_daily_stats s SET
    orders_h01 = x.orders_h01,
    orders_h02 = x.orders_h02,
    orders_h03 = x.orders_h03,
    orders_h04 = x.orders_h04,
    orders_h05 = x.orders_h05,
    orders_h06 = x.orders_h06,
    orders_h07 = x.orders_h07,
    orders_h08 = x.orders_h08,
    orders_h09 = x.orders_h09,
    orders_h10 = x.orders_h10,
    orders_h11 = x.orders_h11,
    orders_h12 = x.orders_h12,
    orders_h13 = x.orders_h13,
    orders_h14 = x.orders_h14,
    orders_h15 = x.orders_h15,
    orders_h16 = x.orders_h16,
    orders_h17 = x.orders_h17,
    orders_h18 = x.orders_h18,
    orders_h19 = x.orders_h19,
    orders_h20 = x.orders_h20,
    orders_h21 = x.orders_h21,
    orders_h22 = x.orders_h22,
    orders_h23 = x.orders_h23,
    revenue_h01 = x.revenue_h01,
    revenue_h02 = x.revenue_h02,
    revenue_h03 = x.revenue_h03,
    revenue_h04 = x.revenue_h04,
    revenue_h05 = x.revenue_h05,
    revenue_h06 = x.revenue_h06,
    revenue_h07 = x.revenue_h07,
    revenue_h08 = x.revenue_h08,
    revenue_h09 = x.revenue_h09,
    revenue_h10 = x.revenue_h10,
    revenue_h11 = x.revenue_h11,
    revenue_h12 = x.revenue_h12,
    revenue_h13 = x.revenue_h13,
    revenue_h14 = x.revenue_h14,
    revenue_h15 = x.revenue_h15,
    revenue_h16 = x.revenue_h16,
    revenue_h17 = x.revenue_h17,
    revenue_h18 = x.revenue_h18,
    revenue_h19 = x.revenue_h19,
    revenue_h20 = x.revenue_h20,
    revenue_h21 = x.revenue_h21,
    revenue_h22 = x.revenue_h22,
    revenue_h23 = x.revenue_h23
FROM (
    SELECT project_id, (created_at AT TIME ZONE 'UTC')::date AS day, currency,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 1) AS orders_h01,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 2) AS orders_h02,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 3) AS orders_h03,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 4) AS orders_h04,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 5) AS orders_h05,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 6) AS orders_h06,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 7) AS orders_h07,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 8) AS orders_h08,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 9) AS orders_h09,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 10) AS orders_h10,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 11) AS orders_h11,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 12) AS orders_h12,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 13) AS orders_h13,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 14) AS orders_h14,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 15) AS orders_h15,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 16) AS orders_h16,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 17) AS orders_h17,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 18) AS orders_h18,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 19) AS orders_h19,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 20) AS orders_h20,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 21) AS orders_h21,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 22) AS orders_h22,
        count(*) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 23) AS orders_h23,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 1 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h01,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 2 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h02,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 3 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h03,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 4 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h04,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 5 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h05,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 6 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h06,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 7 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h07,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 8 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h08,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 9 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h09,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 10 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h10,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 11 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h11,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 12 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h12,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 13 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h13,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 14 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h14,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 15 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h15,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 16 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h16,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 17 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h17,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 18 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h18,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 19 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h19,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 20 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h20,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 21 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h21,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 22 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h22,
        coalesce(sum(total) FILTER (WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') < 23 AND status IN ('PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED')), 0) AS revenue_h23
    FROM orders GROUP BY 1, 2, 3
) x
WHERE s.project_id = x.project_id AND s.day = x.day AND s.currency = x.currency;
