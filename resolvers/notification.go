package resolvers

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/graph"
)

// The notification service answers only for the caller's own notifications,
// so none of these needs a check of its own.

func (r *queryResolver) Notifications(ctx context.Context, unreadOnly *bool, first *int, after *string) (*switchyard.NotificationConnection, error) {
	return r.Resolver.Notifications.FindNotifications(ctx, deref(unreadOnly), page(first, after, nil, nil))
}

func (r *queryResolver) UnreadNotificationCount(ctx context.Context) (int, error) {
	return r.Resolver.Notifications.CountNotifications(ctx, true)
}

func (r *mutationResolver) MarkNotificationRead(ctx context.Context, id string) (*switchyard.Notification, error) {
	defer forget(ctx)
	return r.Resolver.Notifications.MarkNotificationRead(ctx, id)
}

func (r *mutationResolver) MarkAllNotificationsRead(ctx context.Context) (int, error) {
	defer forget(ctx)
	return r.Resolver.Notifications.MarkAllNotificationsRead(ctx)
}

func (r *notificationConnectionResolver) TotalCount(ctx context.Context, obj *switchyard.NotificationConnection) (int, error) {
	return r.Resolver.Notifications.CountNotifications(ctx, obj.UnreadOnly)
}

// Subject is read with the caller's rights as they are now: a notification
// outlives the caller's access to what it is about, and then answers null.
func (r *notificationResolver) Subject(ctx context.Context, obj *switchyard.Notification) (graph.NotificationSubject, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	switch obj.SubjectType {
	case "order":
		o, err := loadByID(ctx, l.order, obj.SubjectID)
		if o == nil || err != nil {
			return nil, err
		}
		return o, nil
	case "project":
		p, err := loadByID(ctx, l.project, obj.SubjectID)
		if p == nil || err != nil {
			return nil, err
		}
		return p, nil
	case "integration":
		if r.Resolver.Integrations == nil {
			return nil, nil
		}
		i, err := loadByID(ctx, l.integrations.integration, obj.SubjectID)
		if i == nil || err != nil {
			return nil, err
		}
		return i, nil
	}
	return nil, nil
}

// DefaultEventsPath is where the server serves the plain event stream.
const DefaultEventsPath = "/events"

var errNoTickets = errors.New("resolvers: Resolver.Tickets is not set")

func (r *mutationResolver) CreateEventStreamTicket(ctx context.Context, topics []graph.EventTopic) (*graph.EventStreamTicket, error) {
	if r.Resolver.Tickets == nil {
		return nil, errNoTickets
	}
	names := make([]string, 0, len(topics))
	for _, t := range topics {
		names = append(names, strings.ToLower(string(t)))
	}
	t, err := r.Resolver.Tickets.CreateEventStreamTicket(ctx, names)
	if err != nil {
		return nil, err
	}
	path := r.Resolver.EventsPath
	if path == "" {
		path = DefaultEventsPath
	}
	// Topic names need no escaping; the comma stays readable.
	u := path + "?topics=" + strings.Join(t.Topics, ",") + "&ticket=" + url.QueryEscape(t.Ticket)
	return &graph.EventStreamTicket{Ticket: t.Ticket, ExpiresAt: t.ExpiresAt, URL: u}, nil
}
