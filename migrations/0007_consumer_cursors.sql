-- Durable positions of the event log's consumers (the search indexer; later
-- outbound webhooks and notifications), so a restart resumes where it stopped.
--
-- One row per consumer, named by the consumer ("search:embedded:…",
-- "search:elastic:…"). Consumers are at least once: they act on the events
-- after seq, then move seq forward, and act idempotently, so a crash between
-- the two only repeats work.
--   seq:    every event up to it has been handled.
--   epoch:  bumped by a reset (a rebuild rewinds seq to where it began), so a
--           consumer that read the row before the reset fails its next
--           compare-and-set, re-reads the row and replays from there.
--   leased_by, lease_until: where several instances could act for the same
--           consumer (one shared Elasticsearch index), the one holding an
--           unexpired lease acts and the others only read seq.
--   state:  opaque progress of resumable work that is not a log position
--           (an in-place partial reindex's last id per type).
CREATE TABLE consumer_cursors (
    name         text PRIMARY KEY,
    seq          bigint NOT NULL DEFAULT 0 CHECK (seq >= 0),
    epoch        bigint NOT NULL DEFAULT 0,
    leased_by    text,
    lease_until  timestamptz,
    state        text NOT NULL DEFAULT '',
    updated_at   timestamptz NOT NULL DEFAULT now()
);
