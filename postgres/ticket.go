package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"github.com/switchyard/switchyard"
)

// TicketService implements switchyard.TicketService over the
// event_stream_tickets table (0004_event_stream_tickets.sql).
type TicketService struct {
	db  *DB
	ttl time.Duration
}

var _ switchyard.TicketService = (*TicketService)(nil)

// NewTicketService returns the ticket service over db; tickets live for
// switchyard.EventStreamTicketTTL.
func NewTicketService(db *DB) *TicketService {
	return &TicketService{db: db, ttl: switchyard.EventStreamTicketTTL}
}

// WithTicketTTL returns a copy of s whose tickets live for ttl, for tests of
// expiry that should not wait a minute.
func (s *TicketService) WithTicketTTL(ttl time.Duration) *TicketService {
	c := *s
	c.ttl = ttl
	return &c
}

// ticketPruneAge is how long used and expired tickets are kept, for a look at
// recent use; they grant nothing.
const ticketPruneAge = "1 day"

// CreateEventStreamTicket issues a ticket for the caller.
func (s *TicketService) CreateEventStreamTicket(ctx context.Context, topics []string) (*switchyard.EventStreamTicket, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if !validID(c.UserID) {
		// A system principal is no user a ticket could name.
		return nil, switchyard.Errorf(switchyard.EFORBIDDEN, "only users can open event streams")
	}
	if len(topics) == 0 {
		topics = switchyard.EventTopics
	}
	var clean []string
	for i, t := range topics {
		if switchyard.TopicEventTypes(t) == nil {
			return nil, switchyard.InvalidField(fmt.Sprintf("topics[%d]", i), "unknown topic %q", t)
		}
		if !slices.Contains(clean, t) {
			clean = append(clean, t)
		}
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("ticket: %w", err)
	}
	ticket := base64.RawURLEncoding.EncodeToString(raw)
	var session *time.Time
	if !c.ExpiresAt.IsZero() {
		session = &c.ExpiresAt
	}
	// Housekeeping rides along in the same round trip: the index makes it
	// cheap, and no job has to exist for it. Expiry is the database's clock,
	// the one redeeming compares with, whatever instance issued the ticket.
	var expires time.Time
	err = s.db.pool.QueryRow(ctx, `WITH pruned AS (
			DELETE FROM event_stream_tickets WHERE expires_at < now() - $6::interval
		)
		INSERT INTO event_stream_tickets (ticket_hash, user_id, topics, session_expires_at, expires_at)
		VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) RETURNING expires_at`,
		ticketHash(ticket), c.UserID, clean, session, s.ttl.Seconds(), ticketPruneAge).Scan(&expires)
	if err != nil {
		return nil, translate(err)
	}
	return &switchyard.EventStreamTicket{Ticket: ticket, Topics: clean, ExpiresAt: expires}, nil
}

// RedeemEventStreamTicket consumes a ticket: one UPDATE that only an unused,
// unexpired ticket matches, so of two instances redeeming it at once exactly
// one wins, and the other sees it used.
func (s *TicketService) RedeemEventStreamTicket(ctx context.Context, ticket string) (*switchyard.TicketGrant, error) {
	if ticket == "" || len(ticket) > 100 {
		return nil, errBadTicket()
	}
	var g switchyard.TicketGrant
	var session *time.Time
	err := s.db.pool.QueryRow(ctx, `UPDATE event_stream_tickets SET used_at = now()
		WHERE ticket_hash = $1 AND used_at IS NULL AND expires_at > now()
		RETURNING user_id, topics, session_expires_at`, ticketHash(ticket)).Scan(&g.UserID, &g.Topics, &session)
	if isNoRows(err) {
		return nil, errBadTicket()
	}
	if err != nil {
		return nil, translate(err)
	}
	if session != nil {
		g.SessionExpiresAt = *session
	}
	return &g, nil
}

func errBadTicket() error {
	return switchyard.Errorf(switchyard.EUNAUTHENTICATED, "the event stream ticket is unknown, expired or already used; create a new one with createEventStreamTicket")
}

func ticketHash(ticket string) []byte {
	h := sha256.Sum256([]byte(ticket))
	return h[:]
}
