package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// NotificationService implements switchyard.NotificationService: every
// method reads or changes the caller's own notifications only, admins
// included, and another user's answers exactly as one that does not exist.
type NotificationService struct {
	db *DB
}

var _ switchyard.NotificationService = (*NotificationService)(nil)

// NewNotificationService returns the notification service over db.
func NewNotificationService(db *DB) *NotificationService { return &NotificationService{db: db} }

// notificationColumns are the columns scanNotification reads, over the alias n.
const notificationColumns = "n.id, n.user_id, n.kind, n.title, n.body, n.subject_type, n.subject_id, n.read_at, n.created_at"

func scanNotification(row pgx.Row, extra ...any) (*switchyard.Notification, error) {
	var n switchyard.Notification
	dest := append([]any{&n.ID, &n.UserID, &n.Kind, &n.Title, &n.Body, &n.SubjectType, &n.SubjectID, &n.ReadAt, &n.CreatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	return &n, nil
}

func notificationNotFound() error {
	return switchyard.Errorf(switchyard.ENOTFOUND, "notification not found")
}

// notificationSortKey is newest first; ties break on id.
var notificationSortKey = sortKey{name: "notifications.created_at", column: "n.created_at", cast: "timestamptz", idColumn: "n.id", desc: true}

// FindNotifications returns one keyset page of the caller's notifications,
// newest first.
func (s *NotificationService) FindNotifications(ctx context.Context, unreadOnly bool, page switchyard.PageArgs) (*switchyard.NotificationConnection, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	ks := keyset{key: notificationSortKey, args: page}
	var ps params
	cond, orderBy, limit, err := ks.clause(&ps)
	if err != nil {
		return nil, err
	}
	var list []sortedRow[*switchyard.Notification]
	// A caller id that cannot name a row (a system principal) owns nothing.
	if validID(c.UserID) {
		where := "n.user_id = " + ps.add(c.UserID)
		if unreadOnly {
			where += " AND n.read_at IS NULL"
		}
		q := fmt.Sprintf(`SELECT %s, %s FROM notifications n WHERE %s AND %s ORDER BY %s LIMIT %d`,
			notificationColumns, ks.sortValueSQL(), where, cond, orderBy, limit)
		if list, err = queryAll(ctx, s.db.pool, q, ps, withSortValue(scanNotification)); err != nil {
			return nil, translate(err)
		}
	}
	edges, info := pageEdges(ks, list, func(n *switchyard.Notification) string { return n.ID }, func(cursor string, n *switchyard.Notification) switchyard.NotificationEdge {
		return switchyard.NotificationEdge{Cursor: cursor, Node: n}
	})
	return &switchyard.NotificationConnection{Edges: edges, PageInfo: info, UnreadOnly: unreadOnly}, nil
}

// FindNotificationByID returns one of the caller's notifications.
func (s *NotificationService) FindNotificationByID(ctx context.Context, id string) (*switchyard.Notification, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if !validID(id) || !validID(c.UserID) {
		return nil, notificationNotFound()
	}
	n, err := scanNotification(s.db.pool.QueryRow(ctx,
		`SELECT `+notificationColumns+` FROM notifications n WHERE n.id = $1 AND n.user_id = $2`, id, c.UserID))
	if isNoRows(err) {
		return nil, notificationNotFound()
	}
	return n, translate(err)
}

// CountNotifications counts the caller's notifications, or the unread ones.
func (s *NotificationService) CountNotifications(ctx context.Context, unreadOnly bool) (int, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return 0, err
	}
	if !validID(c.UserID) {
		return 0, nil
	}
	var n int
	err = s.db.pool.QueryRow(ctx, `SELECT count(*) FROM notifications n WHERE n.user_id = $1 AND (NOT $2 OR n.read_at IS NULL)`,
		c.UserID, unreadOnly).Scan(&n)
	return n, translate(err)
}

// MarkNotificationRead marks one of the caller's notifications read; one
// already read keeps the time it was first read.
func (s *NotificationService) MarkNotificationRead(ctx context.Context, id string) (*switchyard.Notification, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return nil, err
	}
	if !validID(id) || !validID(c.UserID) {
		return nil, notificationNotFound()
	}
	n, err := scanNotification(s.db.pool.QueryRow(ctx, `UPDATE notifications AS n SET read_at = coalesce(n.read_at, now())
		WHERE n.id = $1 AND n.user_id = $2 RETURNING `+notificationColumns, id, c.UserID))
	if isNoRows(err) {
		return nil, notificationNotFound()
	}
	return n, translate(err)
}

// MarkAllNotificationsRead marks the caller's unread notifications read and
// returns how many there were.
func (s *NotificationService) MarkAllNotificationsRead(ctx context.Context) (int, error) {
	c, err := switchyard.RequireCaller(ctx)
	if err != nil {
		return 0, err
	}
	if !validID(c.UserID) {
		return 0, nil
	}
	tag, err := s.db.pool.Exec(ctx, `UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL`, c.UserID)
	if err != nil {
		return 0, translate(err)
	}
	return int(tag.RowsAffected()), nil
}

// notificationEventData is a notification as the event log carries it, with
// the field names of the GraphQL schema.
type notificationEventData struct {
	ID          string     `json:"id"`
	UserID      string     `json:"userId"`
	Kind        string     `json:"kind"`
	Title       string     `json:"title"`
	Body        string     `json:"body"`
	SubjectType string     `json:"subjectType"`
	SubjectID   string     `json:"subjectId"`
	ReadAt      *time.Time `json:"readAt"`
	CreatedAt   time.Time  `json:"createdAt"`
}

// notificationDraft is what a change tells its recipients.
type notificationDraft struct {
	Kind, Title, Body      string
	SubjectType, SubjectID string
}

// notify writes the draft for each recipient inside tx, the transaction of
// the change, with one notification.created event per notification, so a
// notification exists, and is delivered, exactly when its change commits.
// Recipients are userIDs plus, when ownerOfProject is set, that project's
// owner; each is told once, and deleted users are not told.
func notify(ctx context.Context, tx pgx.Tx, c *switchyard.Caller, d notificationDraft, userIDs []string, ownerOfProject string) error {
	created, err := queryAll(ctx, tx, `INSERT INTO notifications AS n (user_id, kind, title, body, subject_type, subject_id)
		SELECT u.id, $3, $4, $5, $6, $7 FROM users u
		WHERE u.deleted_at IS NULL AND (u.id = ANY($1::uuid[]) OR u.id IN (SELECT p.owner_id FROM projects p WHERE p.id = $2::uuid))
		ORDER BY u.id
		RETURNING `+notificationColumns,
		[]any{validIDs(userIDs), emptyToNil(&ownerOfProject), d.Kind, d.Title, d.Body, d.SubjectType, d.SubjectID}, rowOf(scanNotification))
	if err != nil {
		return err
	}
	for _, n := range created {
		err := insertEvent(ctx, tx, switchyard.Event{
			Type:        switchyard.EventNotificationCreated,
			SubjectType: "notification",
			SubjectID:   n.ID,
			UserIDs:     []string{n.UserID},
			ActorID:     actorID(c),
		}, notificationEventData{
			ID: n.ID, UserID: n.UserID, Kind: n.Kind, Title: n.Title, Body: n.Body,
			SubjectType: n.SubjectType, SubjectID: n.SubjectID, ReadAt: n.ReadAt, CreatedAt: n.CreatedAt,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// notifyOrderStatus tells an order's customer and its project's owner that
// its status changed.
func notifyOrderStatus(ctx context.Context, tx pgx.Tx, c *switchyard.Caller, o *switchyard.Order, from switchyard.OrderStatus, note *string) error {
	body := fmt.Sprintf("Order %s changed from %s to %s.", o.Number, from, o.Status)
	if note != nil {
		body += " Note: " + *note
	}
	return notify(ctx, tx, c, notificationDraft{
		Kind:        switchyard.NotificationOrderStatusChanged,
		Title:       fmt.Sprintf("Order %s is now %s", o.Number, o.Status),
		Body:        body,
		SubjectType: "order",
		SubjectID:   o.ID,
	}, []string{o.CustomerID}, o.ProjectID)
}

// notifyMemberAdded tells a user they were added to a project.
func notifyMemberAdded(ctx context.Context, tx pgx.Tx, c *switchyard.Caller, p *switchyard.Project, userID string) error {
	return notify(ctx, tx, c, notificationDraft{
		Kind:        switchyard.NotificationProjectMemberAdded,
		Title:       fmt.Sprintf("You were added to %s", p.Name),
		Body:        fmt.Sprintf("You are now a member of the project %s and can see its orders.", p.Name),
		SubjectType: "project",
		SubjectID:   p.ID,
	}, []string{userID}, "")
}
