package switchyard

import (
	"encoding/json"
	"time"
)

// Event types written to the event log in the same transaction as the change
// they describe.
const (
	EventUserCreated          = "user.created"
	EventUserUpdated          = "user.updated"
	EventUserDeleted          = "user.deleted"
	EventProjectCreated       = "project.created"
	EventProjectUpdated       = "project.updated"
	EventProjectMemberAdded   = "project.member_added"
	EventProjectMemberRemoved = "project.member_removed"
	EventOrderCreated         = "order.created"
	EventOrderStatusChanged   = "order.status_changed"
	EventOrderShipmentSet     = "order.shipment_set"
	EventNotificationCreated  = "notification.created"
)

// Event is one committed change in the event log (the outbox). Realtime
// delivery, search indexing, outbound webhooks and notifications all follow it.
type Event struct {
	ID int64
	// Seq is the event's place in the publication sequence, assigned by the
	// relay in commit order; 0 until then. Cursors clients see encode Seq.
	Seq         int64
	Type        string
	SubjectType string // "order", "project", "user"
	SubjectID   string
	// ProjectID is the project the subject belongs to, when it has one.
	ProjectID *string
	// UserIDs are the users the event concerns beyond the project's members
	// (an order's customer, an added member).
	UserIDs    []string
	ActorID    *string
	Data       json.RawMessage
	OccurredAt time.Time
}
