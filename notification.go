package switchyard

import (
	"context"
	"time"
)

// Notification kinds.
const (
	NotificationOrderStatusChanged = "ORDER_STATUS_CHANGED"
	NotificationProjectMemberAdded = "PROJECT_MEMBER_ADDED"
)

// Notification tells one user about a change that concerns them. It is written
// in the same transaction as the change, with its own notification.created
// event, so it is delivered live exactly when the change commits.
type Notification struct {
	ID     string `json:"id"`
	UserID string `json:"userId"`
	Kind   string `json:"kind"`
	Title  string `json:"title"`
	Body   string `json:"body"`
	// SubjectType is "order" or "project"; SubjectID names it.
	SubjectType string     `json:"subjectType"`
	SubjectID   string     `json:"subjectId"`
	ReadAt      *time.Time `json:"readAt"`
	CreatedAt   time.Time  `json:"createdAt"`
}

// NotificationConnection is one page of notifications.
type NotificationConnection struct {
	Edges      []NotificationEdge
	PageInfo   PageInfo
	UnreadOnly bool
}

// NotificationEdge is a notification and its cursor.
type NotificationEdge struct {
	Cursor string
	Node   *Notification
}

// NotificationService reads and marks the caller's own notifications; nobody,
// admins included, reads another user's.
type NotificationService interface {
	// FindNotifications returns one page of the caller's notifications,
	// newest first.
	// Returns EUNAUTHENTICATED, EINVALID for bad page arguments.
	FindNotifications(ctx context.Context, unreadOnly bool, page PageArgs) (*NotificationConnection, error)

	// FindNotificationByID returns one of the caller's notifications.
	// Returns ENOTFOUND if it does not exist or is someone else's.
	FindNotificationByID(ctx context.Context, id string) (*Notification, error)

	// CountNotifications counts the caller's notifications, or only the
	// unread ones.
	CountNotifications(ctx context.Context, unreadOnly bool) (int, error)

	// MarkNotificationRead marks one of the caller's notifications read;
	// marking it again keeps the first time.
	// Returns ENOTFOUND as FindNotificationByID.
	MarkNotificationRead(ctx context.Context, id string) (*Notification, error)

	// MarkAllNotificationsRead marks all the caller's notifications read and
	// returns how many were unread.
	MarkAllNotificationsRead(ctx context.Context) (int, error)
}
