-- Outbound webhook delivery state that the worker (integrations/) keeps in
-- PostgreSQL, so deliveries, retries and the circuit breaker survive a
-- restart or a fail-over to another instance.

-- When the circuit breaker of a FAILING integration lets its next probe
-- through; NULL while the breaker is closed.
ALTER TABLE integrations ADD COLUMN breaker_probe_at timestamptz;

-- When the first attempt of a delivery's chain was queued: the original
-- delivery, or a redeliverWebhook. Retries copy it, and stop once the retry
-- limit has passed since. NULL means the row's own created_at (a chain's
-- first row).
ALTER TABLE webhook_deliveries ADD COLUMN first_attempt_at timestamptz;

-- The outbound worker follows the event log from here; a new deployment
-- starts with the events committed after it was migrated.
INSERT INTO consumer_cursors (name, seq)
SELECT 'webhooks:outbound', last_seq FROM relay_state
ON CONFLICT (name) DO NOTHING;

-- An INTEGRATION_FAILING notification is about an integration.
ALTER TABLE notifications DROP CONSTRAINT notifications_subject_type_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_subject_type_check
    CHECK (subject_type IN ('order', 'project', 'integration'));
