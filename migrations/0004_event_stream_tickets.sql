-- Tickets for GET /events: EventSource cannot send an Authorization header, so
-- a client trades its token for a short-lived, single-use ticket it puts in the
-- stream's URL. They live here, not in one instance's memory, so a ticket
-- issued by one instance is redeemed by whichever instance the load balancer
-- picks, exactly once (redeeming is one UPDATE … WHERE used_at IS NULL).
-- Only a hash is stored: a database read never yields a usable ticket.
CREATE TABLE event_stream_tickets (
    ticket_hash         bytea PRIMARY KEY,
    user_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    topics              text[] NOT NULL,
    -- When the token that created the ticket expires; the stream ends there.
    session_expires_at  timestamptz,
    expires_at          timestamptz NOT NULL,
    used_at             timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);
-- Pruning old tickets.
CREATE INDEX event_stream_tickets_expires_idx ON event_stream_tickets (expires_at);
