-- Realtime: the relay's position in the event log, the wake-up signal for the
-- relay, and notifications.

-- One row: where the publication sequence stands. The relay assigns
-- events.seq = last_seq + 1, + 2, … to committed events in the order it first
-- sees them (commit order) and moves last_seq in the same transaction, so the
-- sequenced events are always exactly 1..last_seq, gap-free. A sequence object
-- would leave gaps on rollback, and a gap looks like a lost event.
--   published_seq: every event up to it has been handed to the broker; a new
--     leader re-publishes (published_seq, last_seq].
--   pruned_through: every event up to it has been deleted; a subscriber
--     resuming from an older cursor gets an error, never a silent gap.
CREATE TABLE relay_state (
    id              int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    last_seq        bigint NOT NULL DEFAULT 0,
    published_seq   bigint NOT NULL DEFAULT 0,
    pruned_through  bigint NOT NULL DEFAULT 0,
    CHECK (0 <= pruned_through AND pruned_through <= published_seq AND published_seq <= last_seq)
);
INSERT INTO relay_state (id, last_seq, published_seq)
SELECT 1, coalesce(max(seq), 0), coalesce(max(seq), 0) FROM events;

-- Replay reads events by seq; the UNIQUE constraint on events.seq
-- (events_seq_key) is already the btree index it needs.

-- Wakes the relay when events commit. Notifications are delivered at commit
-- (never for a rolled-back transaction) and one per statement, deduplicated
-- within a transaction, is all the relay needs: it reads whatever is there.
-- It also polls, so a lost notification only delays.
CREATE FUNCTION events_notify_relay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('switchyard_events', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER events_notify_relay AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify_relay();

-- Notifications tell one user about a change that concerns them; each is
-- written in the transaction of that change, with its notification.created
-- event. subject_id is not a foreign key: it names an order or a project.
CREATE TABLE notifications (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          text NOT NULL,
    title         text NOT NULL,
    body          text NOT NULL,
    subject_type  text NOT NULL CHECK (subject_type IN ('order', 'project')),
    subject_id    uuid NOT NULL,
    read_at       timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- A user's notifications, newest first, in keyset pages; and the unread ones,
-- which are what the badge counts and most lists ask for.
CREATE INDEX notifications_user_created_idx ON notifications (user_id, created_at, id);
CREATE INDEX notifications_user_unread_idx ON notifications (user_id, created_at, id) WHERE read_at IS NULL;
