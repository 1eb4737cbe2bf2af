-- webhook_deliveries.redelivery_of references another delivery ON DELETE SET
-- NULL, so deleting deliveries (an integration's, by cascade) looks up every
-- row that references each one. Without an index that is a scan of the table
-- per deleted delivery: deleting an integration with 75,000 deliveries ran
-- for more than 13 minutes. Few deliveries are redeliveries, hence partial.
CREATE INDEX webhook_deliveries_redelivery_of ON webhook_deliveries (redelivery_of)
    WHERE redelivery_of IS NOT NULL;
