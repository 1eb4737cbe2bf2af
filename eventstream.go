package switchyard

import (
	"context"
	"time"
)

// Topics of the plain event stream (GET /events): each names the event
// types it carries. The stream is one subscription over all of them, so its
// events keep one order and one cursor.
const (
	TopicOrders        = "orders"
	TopicNotifications = "notifications"
	TopicProjects      = "projects"
)

// EventTopics are every topic, in the order they are documented.
var EventTopics = []string{TopicOrders, TopicNotifications, TopicProjects}

// TopicEventTypes returns the event types topic carries, nil for an unknown
// topic.
func TopicEventTypes(topic string) []string {
	switch topic {
	case TopicOrders:
		return []string{EventOrderCreated, EventOrderStatusChanged, EventOrderShipmentSet}
	case TopicNotifications:
		return []string{EventNotificationCreated}
	case TopicProjects:
		return []string{EventProjectCreated, EventProjectUpdated, EventProjectMemberAdded, EventProjectMemberRemoved}
	}
	return nil
}

// EventStreamTicketTTL is how long a ticket may wait to be redeemed.
const EventStreamTicketTTL = 60 * time.Second

// EventStreamTicket is a single-use credential for GET /events, for clients
// (the browser's EventSource) that cannot send an Authorization header.
type EventStreamTicket struct {
	// Ticket is the secret the client presents; only its hash is stored.
	Ticket    string
	Topics    []string
	ExpiresAt time.Time
}

// TicketGrant is what a redeemed ticket authenticates.
type TicketGrant struct {
	UserID string
	Topics []string
	// SessionExpiresAt is when the credential that created the ticket
	// expires; the stream ends there, so a ticket never extends a session.
	// Zero means it does not expire.
	SessionExpiresAt time.Time
}

// TicketService issues and redeems event stream tickets. Tickets live in
// shared storage, so one issued by any instance is redeemed by any other,
// exactly once.
type TicketService interface {
	// CreateEventStreamTicket issues a ticket for the caller, valid for
	// EventStreamTicketTTL, limited to topics (all when empty).
	// Returns EUNAUTHENTICATED for an anonymous caller, EINVALID for an
	// unknown topic.
	CreateEventStreamTicket(ctx context.Context, topics []string) (*EventStreamTicket, error)

	// RedeemEventStreamTicket consumes ticket and returns what it grants.
	// Returns EUNAUTHENTICATED when the ticket is unknown, expired or used.
	RedeemEventStreamTicket(ctx context.Context, ticket string) (*TicketGrant, error)
}

// IsNotificationSubject marks the types a notification's subject may be (the
// NotificationSubject union in the schema); the generated code requires it.
func (Order) IsNotificationSubject()   {}
func (Project) IsNotificationSubject() {}
