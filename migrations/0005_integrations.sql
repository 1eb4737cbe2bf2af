-- Integrations: a project's connections to payment and shop systems, their
-- signing secrets, the partner API keys bound to them, and every webhook
-- delivery in or out.

CREATE TABLE integrations (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id    uuid NOT NULL REFERENCES projects (id),
    name          text NOT NULL,
    provider      text NOT NULL CHECK (provider IN ('STRIPE', 'SHOPIFY', 'PAYPAL', 'N8N', 'GENERIC')),
    direction     text NOT NULL CHECK (direction IN ('INBOUND', 'OUTBOUND', 'BIDIRECTIONAL')),
    status        text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'PAUSED', 'FAILING')),
    criticality   text NOT NULL DEFAULT 'MEDIUM' CHECK (criticality IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    -- The user who created it (the project's owner when a system principal
    -- did); told when it starts failing.
    owner_id      uuid NOT NULL REFERENCES users (id),
    -- The Switchyard event types sent to endpoint_url.
    event_types   text[] NOT NULL DEFAULT '{}',
    endpoint_url  text,
    -- The last 4 characters of the current signing secret, so people can tell
    -- which secret a system holds without the secret being readable.
    secret_hint   text NOT NULL,
    -- The outbound circuit breaker's state, kept by the delivery worker: the
    -- run of failed attempts since the last success.
    consecutive_failures  int NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- A project's integrations in keyset pages; and all of them, for admins.
CREATE INDEX integrations_project_created_idx ON integrations (project_id, created_at, id);
CREATE INDEX integrations_created_idx ON integrations (created_at, id);
CREATE INDEX integrations_owner_idx ON integrations (owner_id);

-- Signing secrets, encrypted with AES-256-GCM under a key derived from
-- SWITCHYARD_SECRET_KEY (postgres/secretbox.go). The additional data binds
-- each ciphertext to its row, so a ciphertext copied to another row does not
-- decrypt. valid_until is NULL for the current secret; a rotated one keeps
-- verifying until then.
CREATE TABLE integration_secrets (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    integration_id  uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    ciphertext      bytea NOT NULL,
    nonce           bytea NOT NULL,
    -- Names the key that sealed it, so a changed SWITCHYARD_SECRET_KEY is
    -- reported as such instead of as corrupt data.
    key_id          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    valid_until     timestamptz
);
CREATE UNIQUE INDEX integration_secrets_current_key ON integration_secrets (integration_id) WHERE valid_until IS NULL;
CREATE INDEX integration_secrets_integration_idx ON integration_secrets (integration_id, created_at);

-- Partner API keys. Only a SHA-256 of the key is kept: keys are 256-bit random
-- tokens, so a slow password hash would add cost to every request and no
-- protection, and a plain digest can be looked up through the unique index.
CREATE TABLE api_keys (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    integration_id  uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    key_hash        bytea NOT NULL UNIQUE,
    -- The key's first characters ("sy_live_AbCd"), to recognise it in a list.
    prefix          text NOT NULL,
    scopes          text[] NOT NULL,
    created_by      uuid REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX api_keys_integration_idx ON api_keys (integration_id, created_at);

-- Webhook deliveries, both directions. Every attempt is a row:
--   OUTBOUND: the worker claims PENDING rows whose next_attempt_at is due
--     (FOR UPDATE SKIP LOCKED), sends, and records the outcome on the row
--     (SUCCEEDED or FAILED, response_status, latency_ms, error); a retry is a
--     new PENDING row with attempt + 1, and the failed row's next_attempt_at
--     says when it runs. event_id is the events.id delivered (events are
--     pruned, so payload keeps the body); subject_key ("order:<id>") orders
--     delivery per subject. redeliverWebhook adds a PENDING row with
--     redelivery_of set.
--   INBOUND: one row per request received, with its verification result
--     (REJECTED: bad signature or body), or SUCCEEDED/IGNORED/FAILED once
--     verified. provider_event_id is unique per integration among verified
--     deliveries, so a provider's retry is recognised and changes nothing,
--     while a forged request cannot reserve an id.
CREATE TABLE webhook_deliveries (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    integration_id     uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    direction          text NOT NULL CHECK (direction IN ('INBOUND', 'OUTBOUND')),
    event_type         text NOT NULL,
    event_id           bigint,
    provider_event_id  text,
    subject_key        text,
    attempt            int NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    status             text NOT NULL DEFAULT 'PENDING'
                       CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED', 'REJECTED', 'IGNORED')),
    response_status    int,
    latency_ms         int,
    error              text,
    payload            jsonb,
    next_attempt_at    timestamptz,
    redelivery_of      uuid REFERENCES webhook_deliveries (id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz
);
-- An integration's deliveries, newest first in keyset pages, and the last
-- 24 hours for its health.
CREATE INDEX webhook_deliveries_integration_created_idx ON webhook_deliveries (integration_id, created_at, id);
-- The outbound worker's queue.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'PENDING' AND direction = 'OUTBOUND';
-- Ordering per subject: the worker asks whether an earlier delivery of the
-- same subject is still unfinished.
CREATE INDEX webhook_deliveries_subject_idx ON webhook_deliveries (integration_id, subject_key, event_id)
    WHERE direction = 'OUTBOUND' AND status IN ('PENDING', 'FAILED');
CREATE UNIQUE INDEX webhook_deliveries_inbound_event_key ON webhook_deliveries (integration_id, provider_event_id)
    WHERE direction = 'INBOUND' AND provider_event_id IS NOT NULL AND status <> 'REJECTED';
CREATE UNIQUE INDEX webhook_deliveries_outbound_attempt_key ON webhook_deliveries (integration_id, event_id, attempt)
    WHERE direction = 'OUTBOUND' AND event_id IS NOT NULL;
