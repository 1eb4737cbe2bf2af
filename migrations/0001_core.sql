-- Users, projects, orders and the event log.
--
-- Ids are UUIDs so they can be handed out before insert and never reveal volume.
-- Money is numeric with no fixed scale: a value keeps the scale of its currency
-- ("12.50" stays "12.50", "1000" JPY stays "1000").

CREATE TABLE users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email       text NOT NULL,
    name        text NOT NULL,
    avatar_url  text,
    role        text NOT NULL DEFAULT 'MEMBER' CHECK (role IN ('ADMIN', 'MEMBER')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Soft delete: orders keep naming their customer after the user is gone.
    deleted_at  timestamptz
);
-- An email may be reused once its previous owner is deleted.
CREATE UNIQUE INDEX users_email_key ON users (email) WHERE deleted_at IS NULL;
CREATE INDEX users_created_at_idx ON users (created_at, id);
CREATE INDEX users_name_idx ON users (name, id);

CREATE TABLE projects (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL,
    description  text,
    status       text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'ARCHIVED', 'DELETED')),
    owner_id     uuid NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_owner_idx ON projects (owner_id);
CREATE INDEX projects_created_at_idx ON projects (created_at, id);

CREATE TABLE project_members (
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);
-- "Which projects can this user see" is the hottest authorization question.
CREATE INDEX project_members_user_idx ON project_members (user_id, project_id);

-- Order numbers are human-readable and never reused; a sequence, not max()+1,
-- so concurrent inserts never collide.
CREATE SEQUENCE order_number_seq;

CREATE TABLE orders (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    number       text NOT NULL UNIQUE DEFAULT 'SO-' || lpad(nextval('order_number_seq')::text, 6, '0'),
    project_id   uuid NOT NULL REFERENCES projects (id),
    customer_id  uuid NOT NULL REFERENCES users (id),
    status       text NOT NULL DEFAULT 'PENDING'
                 CHECK (status IN ('PENDING', 'PAID', 'FULFILLED', 'SHIPPED', 'DELIVERED', 'CANCELLED', 'REFUNDED')),
    currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total        numeric NOT NULL CHECK (total >= 0),
    shipment_carrier             text,
    shipment_tracking_number     text,
    shipment_estimated_delivery  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
-- Keyset pagination reads (created_at, id) forward and backward, globally, per
-- project and per customer.
CREATE INDEX orders_created_at_idx ON orders (created_at, id);
CREATE INDEX orders_project_created_at_idx ON orders (project_id, created_at, id);
CREATE INDEX orders_customer_created_at_idx ON orders (customer_id, created_at, id);
CREATE INDEX orders_total_idx ON orders (total, id);
CREATE INDEX orders_project_status_idx ON orders (project_id, status);

CREATE TABLE order_items (
    order_id    uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position    int NOT NULL,
    sku         text NOT NULL,
    name        text NOT NULL,
    quantity    int NOT NULL CHECK (quantity > 0),
    unit_price  numeric NOT NULL CHECK (unit_price >= 0),
    line_total  numeric NOT NULL CHECK (line_total >= 0),
    PRIMARY KEY (order_id, position)
);

CREATE TABLE order_status_changes (
    id           bigserial PRIMARY KEY,
    order_id     uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status  text,
    to_status    text NOT NULL,
    note         text,
    actor_id     uuid REFERENCES users (id),
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_status_changes_order_idx ON order_status_changes (order_id, id);

-- The event log (outbox). Every change writes its event in the same transaction.
-- id orders inserts, not commits: the relay gives each committed event its place
-- in the publication sequence (seq), in commit order.
CREATE TABLE events (
    id            bigserial PRIMARY KEY,
    type          text NOT NULL,
    subject_type  text NOT NULL,
    subject_id    uuid NOT NULL,
    project_id    uuid,
    user_ids      uuid[] NOT NULL DEFAULT '{}',
    actor_id      uuid,
    data          jsonb NOT NULL DEFAULT '{}',
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    seq           bigint UNIQUE
);
CREATE INDEX events_unsequenced_idx ON events (id) WHERE seq IS NULL;
