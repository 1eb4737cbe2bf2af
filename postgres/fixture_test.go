package postgres

// Shared test fixtures for the postgres package's tests. Their signatures are
// stable: tests of every service use them.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/postgres/postgrestest"
)

// systemAdminID is the user id of adminCtx's caller. No users row has it, so
// an admin caller never collides with the users a test creates.
const systemAdminID = "00000000-0000-4000-8000-00000000ad01"

// adminCtx returns ctx with an ADMIN caller that is not a row in users.
func adminCtx(ctx context.Context) context.Context {
	return switchyard.NewContextWithCaller(ctx, &switchyard.Caller{UserID: systemAdminID, Email: "root@example.com", Role: switchyard.RoleAdmin})
}

// memberCtx returns ctx with a MEMBER caller whose id is userID.
func memberCtx(ctx context.Context, userID string) context.Context {
	return switchyard.NewContextWithCaller(ctx, &switchyard.Caller{UserID: userID, Role: switchyard.RoleMember})
}

// userCtx returns ctx with u as the caller, with u's role.
func userCtx(ctx context.Context, u *switchyard.User) context.Context {
	return switchyard.NewContextWithCaller(ctx, &switchyard.Caller{UserID: u.ID, Email: u.Email, Role: u.Role})
}

// anonCtx returns ctx with no caller.
func anonCtx(ctx context.Context) context.Context {
	return switchyard.NewContextWithCaller(ctx, nil)
}

// newTestDB opens a DB on a fresh migrated database of its own, closed when t
// ends.
func newTestDB(t testing.TB, opts ...Option) *DB {
	t.Helper()
	db, err := Open(context.Background(), postgrestest.NewDatabaseURL(t), opts...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

var userSeq atomic.Int64

// mustCreateUser creates a user named name with role (MEMBER when empty) and
// a unique email derived from the name, as an admin.
func mustCreateUser(t testing.TB, users *UserService, name string, role switchyard.Role) *switchyard.User {
	t.Helper()
	slug := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r == ' ':
			return '.'
		}
		return -1
	}, strings.ToLower(strings.TrimSpace(name)))
	if slug == "" {
		slug = "user"
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	email := slug + "." + hex.EncodeToString(b) + "." + strconv.FormatInt(userSeq.Add(1), 10) + "@example.com"
	u, err := users.CreateUser(adminCtx(context.Background()), switchyard.UserCreate{Email: email, Name: name, Role: role})
	if err != nil {
		t.Fatalf("create user %q: %v", name, err)
	}
	return u
}

// mustCreateProject creates an ACTIVE project owned by owner, as an admin, and
// adds members to it.
func mustCreateProject(t testing.TB, projects *ProjectService, name string, owner *switchyard.User, members ...*switchyard.User) *switchyard.Project {
	t.Helper()
	ctx := adminCtx(context.Background())
	p, err := projects.CreateProject(ctx, switchyard.ProjectCreate{Name: name, OwnerID: &owner.ID})
	if err != nil {
		t.Fatalf("create project %q: %v", name, err)
	}
	for _, m := range members {
		if p, err = projects.AddProjectMember(ctx, p.ID, m.ID); err != nil {
			t.Fatalf("add %s to project %q: %v", m.Name, name, err)
		}
	}
	return p
}

// world is a small tenant layout for authorization tests:
//
//	Admin     an ADMIN user
//	Owner     owns Project
//	Member    belongs to Project
//	Other     owns OtherProject (another tenant)
//	OtherMate belongs to OtherProject
//	Loner     a MEMBER in no project
type world struct {
	DB       *DB
	Users    *UserService
	Projects *ProjectService

	Admin, Owner, Member, Other, OtherMate, Loner *switchyard.User
	Project, OtherProject                         *switchyard.Project
}

// newWorld builds a world on a fresh database.
func newWorld(t testing.TB) *world {
	t.Helper()
	db := newTestDB(t)
	w := &world{DB: db, Users: NewUserService(db), Projects: NewProjectService(db)}
	w.Admin = mustCreateUser(t, w.Users, "Ada Admin", switchyard.RoleAdmin)
	w.Owner = mustCreateUser(t, w.Users, "Olive Owner", switchyard.RoleMember)
	w.Member = mustCreateUser(t, w.Users, "Max Member", switchyard.RoleMember)
	w.Other = mustCreateUser(t, w.Users, "Otto Other", switchyard.RoleMember)
	w.OtherMate = mustCreateUser(t, w.Users, "Mia Mate", switchyard.RoleMember)
	w.Loner = mustCreateUser(t, w.Users, "Lou Loner", switchyard.RoleMember)
	w.Project = mustCreateProject(t, w.Projects, "Apollo", w.Owner, w.Member)
	w.OtherProject = mustCreateProject(t, w.Projects, "Borealis", w.Other, w.OtherMate)
	return w
}

// storedEvent is a row of the event log as tests inspect it.
type storedEvent struct {
	ID          int64
	Type        string
	SubjectType string
	SubjectID   string
	ProjectID   *string
	UserIDs     []string
	ActorID     *string
	Data        []byte
}

// eventsAfter returns the events with id greater than after, in id order,
// leaving out notification.created: the notifications a change writes are
// checked by notification_test.go, and each service's tests by the change's
// own event.
func eventsAfter(t testing.TB, db *DB, after int64) []storedEvent {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(), `SELECT id, type, subject_type, subject_id::text, project_id::text,
		user_ids::text[], actor_id::text, data FROM events WHERE id > $1 AND type <> 'notification.created' ORDER BY id`, after)
	if err != nil {
		t.Fatalf("read events: %v", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storedEvent, error) {
		var e storedEvent
		err := r.Scan(&e.ID, &e.Type, &e.SubjectType, &e.SubjectID, &e.ProjectID, &e.UserIDs, &e.ActorID, &e.Data)
		return e, err
	})
	if err != nil {
		t.Fatalf("read events: %v", err)
	}
	return out
}

// lastEventID returns the id of the newest event, 0 when there is none; pass
// it to eventsAfter to see what a step wrote.
func lastEventID(t testing.TB, db *DB) int64 {
	t.Helper()
	var id int64
	if err := db.Pool().QueryRow(context.Background(), `SELECT coalesce(max(id), 0) FROM events`).Scan(&id); err != nil {
		t.Fatalf("read events: %v", err)
	}
	return id
}

// wantCode fails t unless err carries code (an empty code wants no error).
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := switchyard.ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// statementCounter is a pgx.QueryTracer counting statements; pass it with
// WithQueryTracer to prove a batch load is one round trip.
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// Count returns the statements run so far.
func (c *statementCounter) Count() int64 { return c.n.Load() }

// pageOf is what the page walkers need of one page of any connection.
type pageOf struct {
	IDs  []string
	Info switchyard.PageInfo
}

// maxWalk bounds the page walkers, so a paging bug fails instead of looping.
const maxWalk = 1000

// walkForward reads a whole list with first=size, following endCursor until
// hasNextPage is false, checks hasPreviousPage on the way, and returns the ids
// in list order. between, when not nil, runs after every page.
func walkForward(t testing.TB, size int, fetch func(switchyard.PageArgs) (pageOf, error), between func()) []string {
	t.Helper()
	var ids []string
	var after *string
	for i := 0; ; i++ {
		if i == maxWalk {
			t.Fatalf("walkForward: more than %d pages", maxWalk)
		}
		p, err := fetch(switchyard.PageArgs{First: &size, After: after})
		if err != nil {
			t.Fatalf("walkForward page %d: %v", i, err)
		}
		if p.Info.HasPreviousPage != (i > 0) {
			t.Fatalf("walkForward page %d: hasPreviousPage = %v", i, p.Info.HasPreviousPage)
		}
		if len(p.IDs) > size || (p.Info.HasNextPage && len(p.IDs) != size) {
			t.Fatalf("walkForward page %d: %d rows for first=%d, hasNextPage=%v", i, len(p.IDs), size, p.Info.HasNextPage)
		}
		ids = append(ids, p.IDs...)
		if between != nil {
			between()
		}
		if !p.Info.HasNextPage {
			return ids
		}
		after = p.Info.EndCursor
	}
}

// walkBackward reads a whole list from its end with last=size, following
// startCursor until hasPreviousPage is false, checks hasNextPage on the way,
// and returns the ids in list order.
func walkBackward(t testing.TB, size int, fetch func(switchyard.PageArgs) (pageOf, error), between func()) []string {
	t.Helper()
	var pages [][]string
	var before *string
	for i := 0; ; i++ {
		if i == maxWalk {
			t.Fatalf("walkBackward: more than %d pages", maxWalk)
		}
		p, err := fetch(switchyard.PageArgs{Last: &size, Before: before})
		if err != nil {
			t.Fatalf("walkBackward page %d: %v", i, err)
		}
		if p.Info.HasNextPage != (i > 0) {
			t.Fatalf("walkBackward page %d: hasNextPage = %v", i, p.Info.HasNextPage)
		}
		if len(p.IDs) > size || (p.Info.HasPreviousPage && len(p.IDs) != size) {
			t.Fatalf("walkBackward page %d: %d rows for last=%d, hasPreviousPage=%v", i, len(p.IDs), size, p.Info.HasPreviousPage)
		}
		pages = append(pages, p.IDs)
		if between != nil {
			between()
		}
		if !p.Info.HasPreviousPage {
			break
		}
		before = p.Info.StartCursor
	}
	var ids []string
	for i := len(pages) - 1; i >= 0; i-- {
		ids = append(ids, pages[i]...)
	}
	return ids
}

// keysetBefore reports whether a row may precede the next in a keyset list,
// given c, the comparison of their sort values: ties break on id, and a
// descending list reverses both, as sortKey does.
func keysetBefore(c int, idA, idB string, desc bool) bool {
	if c == 0 {
		c = strings.Compare(idA, idB)
	}
	if desc {
		return c > 0
	}
	return c < 0
}

// userPage and projectPage adapt connections to the page walkers.
func userPage(c *switchyard.UserConnection, err error) (pageOf, error) {
	if err != nil {
		return pageOf{}, err
	}
	p := pageOf{Info: c.PageInfo}
	for _, e := range c.Edges {
		p.IDs = append(p.IDs, e.Node.ID)
	}
	return p, nil
}

func projectPage(c *switchyard.ProjectConnection, err error) (pageOf, error) {
	if err != nil {
		return pageOf{}, err
	}
	p := pageOf{Info: c.PageInfo}
	for _, e := range c.Edges {
		p.IDs = append(p.IDs, e.Node.ID)
	}
	return p, nil
}
