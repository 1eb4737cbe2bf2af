package switchyard

import (
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
)

// Live updates follow the event log: the relay gives each committed event its
// place in one publication sequence (Event.Seq) and publishes it through a
// Broker; every instance's hub routes it to the subscribers whose Viewer may
// see it at that moment; a subscriber that resumes after a cursor is replayed
// the events it missed from the EventLog before it gets live ones.

// EventCursor is the opaque cursor clients hold for an event: OrderEvent.cursor,
// the SSE id: field, the `after` argument and Last-Event-ID.
func EventCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("ev:" + strconv.FormatInt(seq, 10)))
}

// ParseEventCursor returns the sequence an EventCursor encodes.
// Returns EINVALID naming field when the cursor is malformed.
func ParseEventCursor(field, cursor string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err == nil {
		if n, ok := strings.CutPrefix(string(raw), "ev:"); ok {
			if seq, err := strconv.ParseInt(n, 10, 64); err == nil && seq >= 0 {
				return seq, nil
			}
		}
	}
	return 0, InvalidField(field, "malformed event cursor")
}

// EventLog reads committed events in publication order.
type EventLog interface {
	// ReadEvents returns up to limit published events with Seq > after, in
	// Seq order.
	// Returns EINVALID (field "after") when after is older than the log keeps:
	// the events right after it were pruned, and a silent gap is never served.
	ReadEvents(ctx context.Context, after int64, limit int) ([]*Event, error)

	// LatestSeq returns the highest published Seq, 0 when none.
	LatestSeq(ctx context.Context) (int64, error)
}

// Broker carries published events from the relay to every instance.
// Implementations: Redis pub/sub across instances, in-process for one.
type Broker interface {
	// Publish sends e, which has its Seq, to every current subscriber.
	Publish(ctx context.Context, e *Event) error

	// Subscribe delivers the events published after it returns, in publish
	// order, until ctx ends; then the channel closes. A nil on the channel
	// means events may have been lost (the broker reconnected): the reader
	// catches up from the EventLog.
	Subscribe(ctx context.Context) (<-chan *Event, error)

	// Ping checks the broker is reachable, for readiness.
	Ping(ctx context.Context) error
}

// Viewer is what a subscriber may see at this moment: routing asks it for
// every event, so it must answer from memory.
type Viewer struct {
	UserID string
	Admin  bool
	// ProjectIDs are the projects the user may read now: owned or belonging
	// to, not DELETED.
	ProjectIDs map[string]bool
}

// CanSee reports whether the viewer may see e, by the same rule the services
// apply to reads: notifications reach only their recipient; user events the
// user and admins; project and order events admins, the project's members and
// the users the event names (an order's customer, an added member).
func (v *Viewer) CanSee(e *Event) bool {
	if v == nil {
		return false
	}
	named := slices.Contains(e.UserIDs, v.UserID)
	switch e.SubjectType {
	case "notification":
		return named
	case "user":
		return v.Admin || e.SubjectID == v.UserID
	}
	if v.Admin || named {
		return true
	}
	return e.ProjectID != nil && v.ProjectIDs[*e.ProjectID]
}

// ViewerLoader reads a user's current rights for event routing.
type ViewerLoader interface {
	// LoadViewer returns what userID may see now.
	// Returns EUNAUTHENTICATED if the user does not exist or was deleted.
	LoadViewer(ctx context.Context, userID string) (*Viewer, error)
}

// EventFilter selects the events of one subscription.
type EventFilter struct {
	// Types keeps events of these types; empty keeps all.
	Types []string
	// SubjectType and SubjectID keep one kind of subject, or one subject.
	SubjectType string
	SubjectID   string
	// ProjectID keeps one project's events.
	ProjectID string
	// After resumes after this Seq: the missed events are replayed from the
	// log first. 0 starts with the next live event.
	After int64
}

// Matches reports whether e passes the filter (access is checked apart).
func (f EventFilter) Matches(e *Event) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.Type) {
		return false
	}
	if f.SubjectType != "" && e.SubjectType != f.SubjectType {
		return false
	}
	if f.SubjectID != "" && e.SubjectID != f.SubjectID {
		return false
	}
	return f.ProjectID == "" || (e.ProjectID != nil && *e.ProjectID == f.ProjectID)
}

// Subscription is one live stream of events, in Seq order, with no gap and
// no duplicate. It is read one of two ways, not both: from the channel
// Events, or with TryNext when Notify says there is something to take, which
// needs no goroutine while the stream is idle.
type Subscription interface {
	// Events delivers the stream on a channel that is closed when the
	// stream ends. A reader that stops reading ends the stream's context.
	Events() <-chan *Event
	// TryNext takes the next event without waiting: (e, true) an event,
	// (nil, true) none queued now, (nil, false) the stream has ended and
	// everything queued before its end was taken.
	TryNext() (e *Event, more bool)
	// Notify has the stream call f whenever it queues an event or ends, and
	// once at once for what happened before. f runs on the goroutine that
	// delivers and must return at once; call Notify at most once.
	Notify(f func())
	// Err tells why the stream ended once it has: nil when the context
	// ended, or an error such as a slow consumer's, whose message names the
	// last cursor delivered so the client can resume.
	Err() error
}

// EventStream opens live event streams for callers.
type EventStream interface {
	// Subscribe streams the events matching f that the caller in ctx may see
	// at delivery time, until ctx ends.
	// Returns EUNAUTHENTICATED for an anonymous caller and EINVALID (field
	// "after") for a cursor older than the log keeps or ahead of it.
	Subscribe(ctx context.Context, f EventFilter) (Subscription, error)
}
