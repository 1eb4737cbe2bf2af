package postgres

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// notificationEventsAfter returns the notification.created events with id
// greater than after, in id order (eventsAfter leaves them out).
func notificationEventsAfter(t testing.TB, db *DB, after int64) []storedEvent {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(), `SELECT id, type, subject_type, subject_id::text, project_id::text,
		user_ids::text[], actor_id::text, data FROM events WHERE id > $1 AND type = 'notification.created' ORDER BY id`, after)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storedEvent, error) {
		var e storedEvent
		err := r.Scan(&e.ID, &e.Type, &e.SubjectType, &e.SubjectID, &e.ProjectID, &e.UserIDs, &e.ActorID, &e.Data)
		return e, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// notificationsOf reads every notification of userID, oldest first,
// bypassing the service.
func notificationsOf(t testing.TB, db *DB, userID string) []*switchyard.Notification {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(), `SELECT `+notificationColumns+` FROM notifications n WHERE n.user_id = $1 ORDER BY n.created_at, n.id`, userID)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*switchyard.Notification, error) { return scanNotification(r) })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkNotificationEvents fails t unless events are exactly one
// notification.created per notification in ns, each naming only its
// recipient and carrying the notification as camelCase JSON.
func checkNotificationEvents(t testing.TB, events []storedEvent, ns []*switchyard.Notification, actor string) {
	t.Helper()
	if len(events) != len(ns) {
		t.Fatalf("%d notification events for %d notifications", len(events), len(ns))
	}
	byID := map[string]*switchyard.Notification{}
	for _, n := range ns {
		byID[n.ID] = n
	}
	for _, e := range events {
		n := byID[e.SubjectID]
		if n == nil || e.Type != switchyard.EventNotificationCreated || e.SubjectType != "notification" ||
			!slices.Equal(e.UserIDs, []string{n.UserID}) || e.ProjectID != nil || e.ActorID == nil || *e.ActorID != actor {
			t.Fatalf("event %+v does not announce one of %+v", e, ns)
		}
		var raw map[string]any
		if err := json.Unmarshal(e.Data, &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"id", "userId", "kind", "title", "body", "subjectType", "subjectId", "readAt", "createdAt"} {
			if _, ok := raw[k]; !ok {
				t.Fatalf("event data %s lacks %q", e.Data, k)
			}
		}
		var d notificationEventData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		if d.ID != n.ID || d.UserID != n.UserID || d.Kind != n.Kind || d.Title != n.Title || d.Body != n.Body ||
			d.SubjectType != n.SubjectType || d.SubjectID != n.SubjectID || d.ReadAt != nil || !d.CreatedAt.Equal(n.CreatedAt) {
			t.Fatalf("event data %s, notification %+v", e.Data, n)
		}
	}
}

func TestNotifyOnOrderStatusChange(t *testing.T) {
	t.Parallel()
	f := newOrderFixture(t)
	ctx := context.Background()
	gone := mustCreateUser(t, f.Users, "Gone Customer", "")

	type step struct {
		name string
		// customer of the order: Loner unless the owner or a deleted user.
		customer *switchyard.User
		// prepare runs after the order is created, before the change.
		prepare func()
		run     func(o *switchyard.Order) (*switchyard.Order, error)
		actor   *switchyard.User
		// want are the recipients; nil when the change is refused.
		want  []*switchyard.User
		title string
		body  []string
	}
	note := "left the dock"
	tests := []step{
		{
			name: "paid: customer and owner", customer: f.Loner, actor: f.Member,
			run: func(o *switchyard.Order) (*switchyard.Order, error) {
				return f.Orders.UpdateOrderStatus(userCtx(ctx, f.Member), o.ID, switchyard.OrderPaid, &note)
			},
			want: []*switchyard.User{f.Loner, f.Owner}, title: "is now PAID", body: []string{"from PENDING to PAID", note},
		},
		{
			name: "owner is the customer: told once", customer: f.Owner, actor: f.Owner,
			run: func(o *switchyard.Order) (*switchyard.Order, error) {
				return f.Orders.UpdateOrderStatus(userCtx(ctx, f.Owner), o.ID, switchyard.OrderPaid, nil)
			},
			want: []*switchyard.User{f.Owner}, title: "is now PAID", body: []string{"from PENDING to PAID"},
		},
		{
			name: "cancelled by the customer", customer: f.Loner, actor: f.Loner,
			run: func(o *switchyard.Order) (*switchyard.Order, error) {
				return f.Orders.CancelOrder(userCtx(ctx, f.Loner), o.ID, ptr(" changed my mind "))
			},
			want: []*switchyard.User{f.Loner, f.Owner}, title: "is now CANCELLED", body: []string{"from PENDING to CANCELLED", "changed my mind"},
		},
		{
			name: "deleted customer: only the owner", customer: gone, actor: f.Owner,
			prepare: func() {
				if err := f.Users.DeleteUser(adminCtx(ctx), gone.ID); err != nil {
					t.Fatal(err)
				}
			},
			run: func(o *switchyard.Order) (*switchyard.Order, error) {
				return f.Orders.UpdateOrderStatus(userCtx(ctx, f.Owner), o.ID, switchyard.OrderPaid, nil)
			},
			want: []*switchyard.User{f.Owner}, title: "is now PAID",
		},
		{
			name: "refused step: nobody", customer: f.Loner,
			run: func(o *switchyard.Order) (*switchyard.Order, error) {
				return f.Orders.UpdateOrderStatus(userCtx(ctx, f.Owner), o.ID, switchyard.OrderDelivered, nil)
			},
		},
		{
			name: "refused caller: nobody", customer: f.Loner,
			run: func(o *switchyard.Order) (*switchyard.Order, error) {
				return f.Orders.UpdateOrderStatus(userCtx(ctx, f.Other), o.ID, switchyard.OrderPaid, nil)
			},
		},
	}
	// Subtests share the owner as a recipient, so they run one at a time.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := f.mustCreate(t, userCtx(ctx, f.Owner), switchyard.OrderCreate{
				ProjectID: f.Project.ID, CustomerID: &tt.customer.ID, Currency: "USD", Items: items("5.00"),
			})
			if tt.prepare != nil {
				tt.prepare()
			}
			before := lastEventID(t, f.DB)
			seen := map[string]int{}
			for _, u := range []*switchyard.User{f.Owner, f.Loner, f.Member, gone} {
				seen[u.ID] = len(notificationsOf(t, f.DB, u.ID))
			}
			changed, err := tt.run(o)
			var fresh []*switchyard.Notification
			for _, u := range []*switchyard.User{f.Owner, f.Loner, f.Member, gone} {
				fresh = append(fresh, notificationsOf(t, f.DB, u.ID)[seen[u.ID]:]...)
			}
			events := notificationEventsAfter(t, f.DB, before)
			if tt.want == nil {
				if err == nil {
					t.Fatal("the change was not refused")
				}
				if len(fresh) != 0 || len(events) != 0 {
					t.Fatalf("a refused change notified: %+v, %d events", fresh, len(events))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for _, n := range fresh {
				got = append(got, n.UserID)
				if n.Kind != switchyard.NotificationOrderStatusChanged || n.SubjectType != "order" || n.SubjectID != o.ID || n.ReadAt != nil ||
					n.Title != "Order "+o.Number+" "+tt.title {
					t.Errorf("notification %+v", n)
				}
				for _, b := range tt.body {
					if !strings.Contains(n.Body, b) {
						t.Errorf("body %q lacks %q", n.Body, b)
					}
				}
			}
			for _, u := range tt.want {
				want = append(want, u.ID)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("notified %v, want %v", got, want)
			}
			checkNotificationEvents(t, events, fresh, tt.actor.ID)
			// The change's own event comes first, so subscribers meet the
			// order's new state before the notification about it.
			all := append(eventsAfter(t, f.DB, before), events...)
			slices.SortFunc(all, func(a, b storedEvent) int { return int(a.ID - b.ID) })
			if all[0].Type != switchyard.EventOrderStatusChanged || all[0].SubjectID != changed.ID {
				t.Errorf("first event %s, want the status change", all[0].Type)
			}
		})
	}
}

func TestNotifyOnMemberAdded(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := userCtx(context.Background(), w.Owner)
	before := lastEventID(t, w.DB)
	if _, err := w.Projects.AddProjectMember(ctx, w.Project.ID, w.Loner.ID); err != nil {
		t.Fatal(err)
	}
	ns := notificationsOf(t, w.DB, w.Loner.ID)
	if len(ns) != 1 {
		t.Fatalf("%d notifications, want 1", len(ns))
	}
	n := ns[0]
	if n.Kind != switchyard.NotificationProjectMemberAdded || n.SubjectType != "project" || n.SubjectID != w.Project.ID ||
		!strings.Contains(n.Title, w.Project.Name) || n.Body == "" {
		t.Fatalf("notification %+v", n)
	}
	checkNotificationEvents(t, notificationEventsAfter(t, w.DB, before), ns, w.Owner.ID)
	if got := notificationsOf(t, w.DB, w.Owner.ID); len(got) != 0 {
		t.Errorf("the owner who added was notified: %+v", got)
	}

	// Adding again, adding the owner, or being refused tells nobody.
	before = lastEventID(t, w.DB)
	for _, call := range []func() error{
		func() error { _, err := w.Projects.AddProjectMember(ctx, w.Project.ID, w.Loner.ID); return err },
		func() error { _, err := w.Projects.AddProjectMember(ctx, w.Project.ID, w.Owner.ID); return err },
		func() error {
			_, err := w.Projects.AddProjectMember(userCtx(context.Background(), w.Member), w.Project.ID, w.Other.ID)
			return err
		},
	} {
		_ = call()
	}
	if n := len(notificationEventsAfter(t, w.DB, before)); n != 0 {
		t.Fatalf("%d notification events from no-op or refused adds", n)
	}
	for _, u := range []*switchyard.User{w.Loner, w.Owner, w.Other} {
		if got := len(notificationsOf(t, w.DB, u.ID)); got != map[string]int{w.Loner.ID: 1}[u.ID] {
			t.Errorf("%s has %d notifications", u.Name, got)
		}
	}
}

// seedNotifications writes n notifications for userID directly, with
// created_at two at a time equal so ties are broken by id, and returns the
// ids of all the user's notifications newest first (the list order).
func seedNotifications(t testing.TB, db *DB, userID string, n int) []string {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(), `INSERT INTO notifications (user_id, kind, title, body, subject_type, subject_id, created_at)
		SELECT $1, 'ORDER_STATUS_CHANGED', 'n' || g, 'b', 'order', gen_random_uuid(), timestamptz '2030-01-01' + (g / 2) * interval '1 second'
		FROM generate_series(1, $2) g RETURNING id::text`, userID, n)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	rows, err = db.Pool().Query(context.Background(), `SELECT id::text FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id DESC`, userID)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func notificationPage(c *switchyard.NotificationConnection, err error) (pageOf, error) {
	if err != nil {
		return pageOf{}, err
	}
	p := pageOf{Info: c.PageInfo}
	for _, e := range c.Edges {
		p.IDs = append(p.IDs, e.Node.ID)
	}
	return p, nil
}

func TestFindNotifications(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := NewNotificationService(w.DB)
	ctx := context.Background()
	mine := seedNotifications(t, w.DB, w.Member.ID, 11)
	seedNotifications(t, w.DB, w.Owner.ID, 4)
	me := userCtx(ctx, w.Member)

	// Every third is read.
	var unread []string
	for i, id := range mine {
		if i%3 == 0 {
			if _, err := svc.MarkNotificationRead(me, id); err != nil {
				t.Fatal(err)
			}
			continue
		}
		unread = append(unread, id)
	}

	for _, tt := range []struct {
		name       string
		unreadOnly bool
		want       []string
	}{
		{"all", false, mine},
		{"unread only", true, unread},
	} {
		for _, size := range []int{1, 4, 20} {
			fetch := func(p switchyard.PageArgs) (pageOf, error) {
				c, err := svc.FindNotifications(me, tt.unreadOnly, p)
				if err == nil && c.UnreadOnly != tt.unreadOnly {
					t.Fatalf("connection says unreadOnly %v", c.UnreadOnly)
				}
				return notificationPage(c, err)
			}
			if got := walkForward(t, size, fetch, nil); !slices.Equal(got, tt.want) {
				t.Fatalf("%s forward by %d: %v, want %v", tt.name, size, got, tt.want)
			}
			if got := walkBackward(t, size, fetch, nil); !slices.Equal(got, tt.want) {
				t.Fatalf("%s backward by %d: %v, want %v", tt.name, size, got, tt.want)
			}
		}
	}
	for _, tt := range []struct {
		unreadOnly bool
		want       int
	}{{false, len(mine)}, {true, len(unread)}} {
		if n, err := svc.CountNotifications(me, tt.unreadOnly); err != nil || n != tt.want {
			t.Errorf("count(unreadOnly=%v) = %d, %v; want %d", tt.unreadOnly, n, err, tt.want)
		}
	}

	// Nobody else's list shows them, admins' included; a caller with no
	// users row has none.
	for _, c := range []context.Context{userCtx(ctx, w.Admin), adminCtx(ctx), userCtx(ctx, w.Loner)} {
		conn, err := svc.FindNotifications(c, false, switchyard.PageArgs{})
		if err != nil || len(conn.Edges) != 0 {
			t.Errorf("another caller lists %v, %v", conn, err)
		}
		if n, err := svc.CountNotifications(c, false); err != nil || n != 0 {
			t.Errorf("another caller counts %d, %v", n, err)
		}
	}

	bad := []struct {
		name  string
		page  switchyard.PageArgs
		field string
	}{
		{"negative first", switchyard.PageArgs{First: ptr(-1)}, "first"},
		{"first too large", switchyard.PageArgs{First: ptr(switchyard.MaxPageSize + 1)}, "first"},
		{"first and last", switchyard.PageArgs{First: ptr(1), Last: ptr(1)}, "last"},
		{"malformed cursor", switchyard.PageArgs{After: ptr("nope")}, "after"},
		{"cursor of another list", switchyard.PageArgs{After: ptr(encodeCursor("users.created_at", "2030-01-01", mine[0]))}, "after"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.FindNotifications(me, false, tt.page)
			wantError(t, err, switchyard.EINVALID, tt.field)
		})
	}
}

func TestMarkNotificationsRead(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := NewNotificationService(w.DB)
	ctx := context.Background()
	mine := seedNotifications(t, w.DB, w.Loner.ID, 3)
	theirs := seedNotifications(t, w.DB, w.Owner.ID, 2)
	me := userCtx(ctx, w.Loner)

	n, err := svc.MarkNotificationRead(me, strings.ToUpper(mine[0]))
	if err != nil || n.ID != mine[0] || n.ReadAt == nil {
		t.Fatalf("mark read: %+v, %v", n, err)
	}
	first := *n.ReadAt
	again, err := svc.MarkNotificationRead(me, mine[0])
	if err != nil || again.ReadAt == nil || !again.ReadAt.Equal(first) {
		t.Fatalf("marking again changed the time: %+v, %v", again, err)
	}
	if got, err := svc.FindNotificationByID(me, mine[0]); err != nil || got.ReadAt == nil || !got.ReadAt.Equal(first) {
		t.Fatalf("find after mark: %+v, %v", got, err)
	}

	// Someone else's notification is not found, whoever asks, and is left
	// unread.
	for _, c := range []context.Context{me, userCtx(ctx, w.Admin), adminCtx(ctx)} {
		_, err := svc.MarkNotificationRead(c, theirs[0])
		wantCode(t, err, switchyard.ENOTFOUND)
		_, err = svc.FindNotificationByID(c, theirs[0])
		wantCode(t, err, switchyard.ENOTFOUND)
	}
	for _, id := range []string{"nope", "", "5f0c3e0a-8d52-4c1b-9b1e-2f0d9a7c0e11"} {
		_, err := svc.MarkNotificationRead(me, id)
		wantCode(t, err, switchyard.ENOTFOUND)
		_, err = svc.FindNotificationByID(me, id)
		wantCode(t, err, switchyard.ENOTFOUND)
	}

	if n, err := svc.MarkAllNotificationsRead(me); err != nil || n != 2 {
		t.Fatalf("mark all = %d, %v; want the 2 still unread", n, err)
	}
	if n, err := svc.MarkAllNotificationsRead(me); err != nil || n != 0 {
		t.Fatalf("mark all again = %d, %v; want 0", n, err)
	}
	if n, err := svc.CountNotifications(me, true); err != nil || n != 0 {
		t.Fatalf("unread after mark all = %d, %v", n, err)
	}
	if got, _ := svc.FindNotificationByID(me, mine[0]); got == nil || !got.ReadAt.Equal(first) {
		t.Errorf("mark all moved the first read time: %+v", got)
	}
	owner := userCtx(ctx, w.Owner)
	if n, err := svc.CountNotifications(owner, true); err != nil || n != len(theirs) {
		t.Fatalf("another user's unread = %d, %v; want %d untouched", n, err, len(theirs))
	}
}

func TestNotificationsAnonymous(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := NewNotificationService(w.DB)
	id := seedNotifications(t, w.DB, w.Member.ID, 1)[0]
	anon := anonCtx(context.Background())
	calls := map[string]func() error{
		"find":     func() error { _, err := svc.FindNotifications(anon, false, switchyard.PageArgs{}); return err },
		"by id":    func() error { _, err := svc.FindNotificationByID(anon, id); return err },
		"count":    func() error { _, err := svc.CountNotifications(anon, true); return err },
		"mark":     func() error { _, err := svc.MarkNotificationRead(anon, id); return err },
		"mark all": func() error { _, err := svc.MarkAllNotificationsRead(anon); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			wantCode(t, call(), switchyard.EUNAUTHENTICATED)
		})
	}
	if ns := notificationsOf(t, w.DB, w.Member.ID); ns[0].ReadAt != nil {
		t.Fatal("an anonymous call marked a notification read")
	}
}

// TestNotificationDeliveredThroughRelay: a notification's event goes out
// through the relay like any other, once its change commits.
func TestNotificationDeliveredThroughRelay(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	log := newPublishLog()
	startRelay(t, w.DB, newRecBroker("a", log))
	if _, err := w.Projects.AddProjectMember(userCtx(context.Background(), w.Owner), w.Project.ID, w.Loner.ID); err != nil {
		t.Fatal(err)
	}
	var total int64
	if err := w.DB.Pool().QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	entries := log.waitSeq(t, 10*time.Second, total)
	checkSequence(t, w.DB, entries, total)
	events, err := NewEventLog(w.DB).ReadEvents(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// newWorld's members were notified too; this is the Loner's.
	i := slices.IndexFunc(events, func(e *switchyard.Event) bool {
		return e.Type == switchyard.EventNotificationCreated && slices.Equal(e.UserIDs, []string{w.Loner.ID})
	})
	if i < 0 {
		t.Fatalf("no notification event for the added user in %d events", len(events))
	}
	e := events[i]
	v, err := w.Users.LoadViewer(context.Background(), w.Loner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !v.CanSee(e) {
		t.Errorf("the recipient cannot see their notification event %+v", e)
	}
	for _, u := range []*switchyard.User{w.Owner, w.Admin, w.Member} {
		v, err := w.Users.LoadViewer(context.Background(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v.CanSee(e) {
			t.Errorf("%s can see another user's notification event", u.Name)
		}
	}
}
