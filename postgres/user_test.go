package postgres

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

// addOrder inserts an order row directly, so user visibility through orders is
// tested without the order service.
func addOrder(t testing.TB, db *DB, projectID, customerID string) {
	t.Helper()
	if _, err := db.Pool().Exec(context.Background(),
		`INSERT INTO orders (project_id, customer_id, currency, total) VALUES ($1, $2, 'EUR', 10)`, projectID, customerID); err != nil {
		t.Fatalf("insert order: %v", err)
	}
}

func userIDs(list []*switchyard.User) []string {
	ids := make([]string, len(list))
	for i, u := range list {
		ids[i] = u.ID
	}
	sort.Strings(ids)
	return ids
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	sort.Strings(out)
	return out
}

// allUsers reads every user the caller in ctx may list, in one page.
func allUsers(t testing.TB, users *UserService, ctx context.Context, f switchyard.UserFilter) []string {
	t.Helper()
	conn, err := users.FindUsers(ctx, f, switchyard.PageArgs{First: ptr(100)}, switchyard.UserOrder{})
	if err != nil {
		t.Fatalf("FindUsers: %v", err)
	}
	ids := make([]string, len(conn.Edges))
	for i, e := range conn.Edges {
		ids[i] = e.Node.ID
	}
	sort.Strings(ids)
	return ids
}

// TestUserReadAccess checks every read method against the same rule for each
// kind of caller: the users FindUserByID finds are exactly those
// FindUsersByIDs returns, FindUsers lists and CountUsers counts.
func TestUserReadAccess(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	// Loner ordered in Project, so Project's people may read Loner; Loner
	// still reads nobody but themselves.
	addOrder(t, w.DB, w.Project.ID, w.Loner.ID)
	everyone := []*switchyard.User{w.Admin, w.Owner, w.Member, w.Other, w.OtherMate, w.Loner}

	tests := []struct {
		name    string
		ctx     context.Context
		visible []*switchyard.User
	}{
		{"admin", userCtx(ctx, w.Admin), everyone},
		{"owner", userCtx(ctx, w.Owner), []*switchyard.User{w.Owner, w.Member, w.Loner}},
		{"member", userCtx(ctx, w.Member), []*switchyard.User{w.Owner, w.Member, w.Loner}},
		{"other tenant", userCtx(ctx, w.Other), []*switchyard.User{w.Other, w.OtherMate}},
		{"other member", userCtx(ctx, w.OtherMate), []*switchyard.User{w.Other, w.OtherMate}},
		{"customer only", userCtx(ctx, w.Loner), []*switchyard.User{w.Loner}},
		{"anonymous", anonCtx(ctx), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := userIDs(tt.visible)
			var found []string
			for _, u := range everyone {
				got, err := w.Users.FindUserByID(tt.ctx, u.ID)
				switch {
				case err == nil:
					if got.ID != u.ID || got.Email != u.Email {
						t.Fatalf("FindUserByID(%s) = %+v", u.Name, got)
					}
					found = append(found, got.ID)
				case switchyard.ErrorCode(err) != switchyard.ENOTFOUND:
					t.Fatalf("FindUserByID(%s): %v", u.Name, err)
				}
			}
			sort.Strings(found)
			if !slices.Equal(found, want) {
				t.Errorf("FindUserByID finds %d users, want %d", len(found), len(want))
			}
			batch, err := w.Users.FindUsersByIDs(tt.ctx, userIDs(everyone))
			if err != nil {
				t.Fatal(err)
			}
			if got := userIDs(batch); !slices.Equal(got, want) {
				t.Errorf("FindUsersByIDs returns %d users, want %d", len(got), len(want))
			}
			if tt.ctx == nil || switchyard.CallerFromContext(tt.ctx) == nil {
				_, err := w.Users.FindUsers(tt.ctx, switchyard.UserFilter{}, switchyard.PageArgs{}, switchyard.UserOrder{})
				wantCode(t, err, switchyard.EUNAUTHENTICATED)
				_, err = w.Users.CountUsers(tt.ctx, switchyard.UserFilter{})
				wantCode(t, err, switchyard.EUNAUTHENTICATED)
				return
			}
			if got := allUsers(t, w.Users, tt.ctx, switchyard.UserFilter{}); !slices.Equal(got, want) {
				t.Errorf("FindUsers lists %d users, want %d", len(got), len(want))
			}
			n, err := w.Users.CountUsers(tt.ctx, switchyard.UserFilter{})
			if err != nil || n != len(want) {
				t.Errorf("CountUsers = %d, %v; want %d", n, err, len(want))
			}
		})
	}
}

// TestUserWriteAccess is the authorization matrix of the user mutations.
func TestUserWriteAccess(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	type op func(ctx context.Context, target *switchyard.User) error
	create := func(ctx context.Context, _ *switchyard.User) error {
		_, err := w.Users.CreateUser(ctx, switchyard.UserCreate{Email: "new." + randomTag() + "@example.com", Name: "New"})
		return err
	}
	rename := func(ctx context.Context, u *switchyard.User) error {
		_, err := w.Users.UpdateUser(ctx, u.ID, switchyard.UserUpdate{Name: ptr("Renamed " + randomTag())})
		return err
	}
	promote := func(ctx context.Context, u *switchyard.User) error {
		_, err := w.Users.UpdateUser(ctx, u.ID, switchyard.UserUpdate{Role: ptr(switchyard.RoleAdmin)})
		return err
	}
	del := func(ctx context.Context, u *switchyard.User) error { return w.Users.DeleteUser(ctx, u.ID) }
	// victim makes a fresh member of Project for each destructive case.
	victim := func() *switchyard.User {
		u := mustCreateUser(t, w.Users, "Victim", "")
		if _, err := w.Projects.AddProjectMember(adminCtx(ctx), w.Project.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		return u
	}

	tests := []struct {
		name   string
		caller context.Context
		op     op
		target func() *switchyard.User
		want   string
	}{
		{"anonymous creates", anonCtx(ctx), create, nil, switchyard.EUNAUTHENTICATED},
		{"member creates", userCtx(ctx, w.Member), create, nil, switchyard.EFORBIDDEN},
		{"owner creates", userCtx(ctx, w.Owner), create, nil, switchyard.EFORBIDDEN},
		{"admin creates", userCtx(ctx, w.Admin), create, nil, ""},

		{"anonymous renames", anonCtx(ctx), rename, func() *switchyard.User { return w.Member }, switchyard.EUNAUTHENTICATED},
		{"member renames self", userCtx(ctx, w.Member), rename, func() *switchyard.User { return w.Member }, ""},
		{"member renames readable user", userCtx(ctx, w.Member), rename, func() *switchyard.User { return w.Owner }, switchyard.EFORBIDDEN},
		{"member renames other tenant", userCtx(ctx, w.Member), rename, func() *switchyard.User { return w.Other }, switchyard.ENOTFOUND},
		{"other member renames member", userCtx(ctx, w.OtherMate), rename, func() *switchyard.User { return w.Member }, switchyard.ENOTFOUND},
		{"admin renames anyone", userCtx(ctx, w.Admin), rename, func() *switchyard.User { return w.Other }, ""},
		{"member promotes self", userCtx(ctx, w.Member), promote, func() *switchyard.User { return w.Member }, switchyard.EFORBIDDEN},
		{"admin promotes", userCtx(ctx, w.Admin), promote, func() *switchyard.User { return w.Loner }, ""},

		{"anonymous deletes", anonCtx(ctx), del, victim, switchyard.EUNAUTHENTICATED},
		{"owner deletes their member", userCtx(ctx, w.Owner), del, victim, switchyard.EFORBIDDEN},
		{"member deletes self", userCtx(ctx, w.Member), del, func() *switchyard.User { return w.Member }, switchyard.EFORBIDDEN},
		{"other member deletes", userCtx(ctx, w.OtherMate), del, victim, switchyard.EFORBIDDEN},
		{"admin deletes self", userCtx(ctx, w.Admin), del, func() *switchyard.User { return w.Admin }, switchyard.EFORBIDDEN},
		{"admin deletes", userCtx(ctx, w.Admin), del, victim, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var target *switchyard.User
			if tt.target != nil {
				target = tt.target()
			}
			before := lastEventID(t, w.DB)
			err := tt.op(tt.caller, target)
			wantCode(t, err, tt.want)
			events := eventsAfter(t, w.DB, before)
			if tt.want != "" && len(events) != 0 {
				t.Errorf("a refused mutation wrote %d events", len(events))
			}
			if tt.want == "" && len(events) == 0 {
				t.Errorf("a mutation wrote no event")
			}
		})
	}
}

// randomTag makes emails unique across tests and runs.
func randomTag() string {
	return strconv.FormatInt(time.Now().UnixNano(), 36) + "." + strconv.FormatInt(userSeq.Add(1), 10)
}

func TestFindUserByIDEdgeCases(t *testing.T) {
	t.Parallel()
	counter := &statementCounter{}
	db := newTestDB(t, WithQueryTracer(counter))
	users := NewUserService(db)
	ctx := adminCtx(context.Background())
	u := mustCreateUser(t, users, "Edge", "")
	gone := mustCreateUser(t, users, "Gone", "")
	if err := users.DeleteUser(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		id         string
		want       string
		statements int64
	}{
		{"found", u.ID, "", 1},
		{"upper-case id", strings.ToUpper(u.ID), "", 1},
		{"unknown", "5f0c3e0a-8d52-4c1b-9b1e-2f0d9a7c0e11", switchyard.ENOTFOUND, 1},
		{"deleted", gone.ID, switchyard.ENOTFOUND, 1},
		{"not a uuid", "42", switchyard.ENOTFOUND, 0},
		{"injection", "' OR TRUE --", switchyard.ENOTFOUND, 0},
		{"empty", "", switchyard.ENOTFOUND, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := counter.Count()
			got, err := users.FindUserByID(ctx, tt.id)
			wantCode(t, err, tt.want)
			if err == nil && got.ID != u.ID {
				t.Errorf("got %s", got.ID)
			}
			if d := counter.Count() - n; d != tt.statements {
				t.Errorf("ran %d statements, want %d", d, tt.statements)
			}
		})
	}
}

// TestDeletedUsersStillResolveByIDs: an order's customer stays resolvable
// after the customer is deleted, for those who may read the order.
func TestDeletedUsersStillResolveByIDs(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	addOrder(t, w.DB, w.Project.ID, w.Loner.ID)
	if err := w.Users.DeleteUser(adminCtx(ctx), w.Loner.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []context.Context{adminCtx(ctx), userCtx(ctx, w.Owner)} {
		got, err := w.Users.FindUsersByIDs(c, []string{w.Loner.ID, "nonsense"})
		if err != nil || len(got) != 1 || got[0].ID != w.Loner.ID {
			t.Fatalf("FindUsersByIDs = %v, %v; want the deleted customer", got, err)
		}
		_, err = w.Users.FindUserByID(c, w.Loner.ID)
		wantCode(t, err, switchyard.ENOTFOUND)
		if slices.Contains(allUsers(t, w.Users, c, switchyard.UserFilter{}), w.Loner.ID) {
			t.Error("FindUsers lists a deleted user")
		}
	}
	got, err := w.Users.FindUsersByIDs(userCtx(ctx, w.Other), []string{w.Loner.ID})
	if err != nil || len(got) != 0 {
		t.Fatalf("another tenant resolves the deleted customer: %v, %v", got, err)
	}
	got, err = w.Users.FindUsersByIDs(anonCtx(ctx), []string{w.Owner.ID})
	if err != nil || len(got) != 0 {
		t.Fatalf("anonymous resolves users: %v, %v", got, err)
	}
}

func TestResolveCaller(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	gone := mustCreateUser(t, w.Users, "Gone", "")
	if err := w.Users.DeleteUser(adminCtx(ctx), gone.ID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		id       string
		wantRole switchyard.Role
		want     string
	}{
		{"admin", w.Admin.ID, switchyard.RoleAdmin, ""},
		{"member", w.Member.ID, switchyard.RoleMember, ""},
		{"deleted", gone.ID, "", switchyard.EUNAUTHENTICATED},
		{"unknown", "5f0c3e0a-8d52-4c1b-9b1e-2f0d9a7c0e11", "", switchyard.EUNAUTHENTICATED},
		{"not a uuid", "alice", "", switchyard.EUNAUTHENTICATED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No caller in the context: resolving runs before there is one.
			c, err := w.Users.ResolveCaller(ctx, tt.id)
			wantCode(t, err, tt.want)
			if err == nil && (c.UserID != tt.id || c.Role != tt.wantRole || c.Email == "") {
				t.Errorf("ResolveCaller = %+v", c)
			}
		})
	}
	// A role change takes effect on the next resolution.
	if _, err := w.Users.UpdateUser(adminCtx(ctx), w.Member.ID, switchyard.UserUpdate{Role: ptr(switchyard.RoleAdmin)}); err != nil {
		t.Fatal(err)
	}
	c, err := w.Users.ResolveCaller(ctx, w.Member.ID)
	if err != nil || !c.IsAdmin() {
		t.Fatalf("after promotion ResolveCaller = %+v, %v", c, err)
	}
}

func TestFindUserByEmail(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	users := NewUserService(db)
	ctx := context.Background()
	u, err := users.CreateUser(adminCtx(ctx), switchyard.UserCreate{Email: "alice@example.com", Name: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"alice@example.com", "  Alice@Example.COM "} {
		got, err := users.FindUserByEmail(ctx, email)
		if err != nil || got.ID != u.ID {
			t.Fatalf("FindUserByEmail(%q) = %v, %v", email, got, err)
		}
	}
	_, err = users.FindUserByEmail(ctx, "bob@example.com")
	wantCode(t, err, switchyard.ENOTFOUND)
	if err := users.DeleteUser(adminCtx(ctx), u.ID); err != nil {
		t.Fatal(err)
	}
	_, err = users.FindUserByEmail(ctx, "alice@example.com")
	wantCode(t, err, switchyard.ENOTFOUND)
}

func TestCreateUser(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	users := NewUserService(db)
	ctx := adminCtx(context.Background())
	taken := mustCreateUser(t, users, "Taken", "")

	tests := []struct {
		name      string
		input     switchyard.UserCreate
		want      string
		wantField string
		check     func(t *testing.T, u *switchyard.User)
	}{
		{"normalizes and defaults", switchyard.UserCreate{Email: "  Bea@Example.com ", Name: " Bea "}, "", "", func(t *testing.T, u *switchyard.User) {
			if u.Email != "bea@example.com" || u.Name != "Bea" || u.Role != switchyard.RoleMember || u.AvatarURL != nil {
				t.Errorf("created %+v", u)
			}
			if u.CreatedAt.IsZero() || !u.CreatedAt.Equal(u.UpdatedAt) || !validID(u.ID) {
				t.Errorf("created %+v", u)
			}
		}},
		{"admin with avatar", switchyard.UserCreate{Email: "cy@example.com", Name: "Cy", Role: switchyard.RoleAdmin, AvatarURL: ptr("https://img.example.com/cy.png")}, "", "", func(t *testing.T, u *switchyard.User) {
			if u.Role != switchyard.RoleAdmin || u.AvatarURL == nil || *u.AvatarURL != "https://img.example.com/cy.png" {
				t.Errorf("created %+v", u)
			}
		}},
		{"malformed email", switchyard.UserCreate{Email: "not-an-email", Name: "X"}, switchyard.EINVALID, "input.email", nil},
		{"empty email", switchyard.UserCreate{Email: " ", Name: "X"}, switchyard.EINVALID, "input.email", nil},
		{"empty name", switchyard.UserCreate{Email: "x@example.com", Name: "  "}, switchyard.EINVALID, "input.name", nil},
		{"unknown role", switchyard.UserCreate{Email: "x@example.com", Name: "X", Role: "ROOT"}, switchyard.EINVALID, "input.role", nil},
		{"bad avatar", switchyard.UserCreate{Email: "x@example.com", Name: "X", AvatarURL: ptr("javascript:alert(1)")}, switchyard.EINVALID, "input.avatarUrl", nil},
		{"email taken", switchyard.UserCreate{Email: strings.ToUpper(taken.Email), Name: "X"}, switchyard.ECONFLICT, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := lastEventID(t, db)
			var n0 int
			_ = db.Pool().QueryRow(context.Background(), "SELECT count(*) FROM users").Scan(&n0)
			u, err := users.CreateUser(ctx, tt.input)
			wantCode(t, err, tt.want)
			if got := switchyard.ErrorField(err); got != tt.wantField {
				t.Errorf("field = %q, want %q", got, tt.wantField)
			}
			events := eventsAfter(t, db, before)
			if err != nil {
				var n1 int
				_ = db.Pool().QueryRow(context.Background(), "SELECT count(*) FROM users").Scan(&n1)
				if len(events) != 0 || n1 != n0 {
					t.Errorf("a refused create wrote %d events and %d users", len(events), n1-n0)
				}
				if tt.want == switchyard.ECONFLICT && switchyard.ErrorMessage(err) != "a user with this email already exists" {
					t.Errorf("message = %q", switchyard.ErrorMessage(err))
				}
				return
			}
			tt.check(t, u)
			if len(events) != 1 {
				t.Fatalf("wrote %d events, want 1", len(events))
			}
			e := events[0]
			if e.Type != switchyard.EventUserCreated || e.SubjectType != "user" || e.SubjectID != u.ID ||
				!slices.Equal(e.UserIDs, []string{u.ID}) || e.ActorID == nil || *e.ActorID != systemAdminID {
				t.Errorf("event %+v", e)
			}
			var data switchyard.User
			if err := json.Unmarshal(e.Data, &data); err != nil || data.Email != u.Email || data.ID != u.ID {
				t.Errorf("event data %s: %v", e.Data, err)
			}
		})
	}
}

func TestUpdateUser(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	self := userCtx(ctx, w.Member)

	t.Run("member changes own profile", func(t *testing.T) {
		before := lastEventID(t, w.DB)
		u, err := w.Users.UpdateUser(self, w.Member.ID, switchyard.UserUpdate{
			Name: ptr(" Maximilian "), Email: ptr("MAX@example.com"), AvatarURL: ptr("https://example.com/max.png"),
			Role: ptr(switchyard.RoleMember), // unchanged role: allowed
		})
		if err != nil {
			t.Fatal(err)
		}
		if u.Name != "Maximilian" || u.Email != "max@example.com" || u.AvatarURL == nil || !u.UpdatedAt.After(w.Member.UpdatedAt) || !u.CreatedAt.Equal(w.Member.CreatedAt) {
			t.Errorf("updated %+v", u)
		}
		events := eventsAfter(t, w.DB, before)
		if len(events) != 1 || events[0].Type != switchyard.EventUserUpdated || events[0].SubjectID != w.Member.ID || *events[0].ActorID != w.Member.ID {
			t.Fatalf("events %+v", events)
		}
		var data switchyard.User
		if err := json.Unmarshal(events[0].Data, &data); err != nil || data.Name != "Maximilian" {
			t.Errorf("event data %s", events[0].Data)
		}
		// An empty avatar clears it.
		u, err = w.Users.UpdateUser(self, w.Member.ID, switchyard.UserUpdate{AvatarURL: ptr("")})
		if err != nil || u.AvatarURL != nil {
			t.Fatalf("clear avatar: %+v, %v", u, err)
		}
	})

	t.Run("no change writes nothing", func(t *testing.T) {
		cur, err := w.Users.FindUserByID(self, w.Member.ID)
		if err != nil {
			t.Fatal(err)
		}
		before := lastEventID(t, w.DB)
		u, err := w.Users.UpdateUser(self, w.Member.ID, switchyard.UserUpdate{Name: &cur.Name})
		if err != nil || !u.UpdatedAt.Equal(cur.UpdatedAt) {
			t.Fatalf("no-op update: %+v, %v", u, err)
		}
		if events := eventsAfter(t, w.DB, before); len(events) != 0 {
			t.Errorf("no-op update wrote %d events", len(events))
		}
	})

	tests := []struct {
		name      string
		ctx       context.Context
		id        string
		input     switchyard.UserUpdate
		want      string
		wantField string
	}{
		{"email taken", userCtx(ctx, w.Owner), w.Owner.ID, switchyard.UserUpdate{Email: ptr(w.Other.Email)}, switchyard.ECONFLICT, ""},
		{"malformed email", userCtx(ctx, w.Owner), w.Owner.ID, switchyard.UserUpdate{Email: ptr("nope")}, switchyard.EINVALID, "input.email"},
		{"empty name", userCtx(ctx, w.Owner), w.Owner.ID, switchyard.UserUpdate{Name: ptr("")}, switchyard.EINVALID, "input.name"},
		{"unknown role", adminCtx(ctx), w.Owner.ID, switchyard.UserUpdate{Role: ptr(switchyard.Role("GOD"))}, switchyard.EINVALID, "input.role"},
		{"unknown id", adminCtx(ctx), "5f0c3e0a-8d52-4c1b-9b1e-2f0d9a7c0e11", switchyard.UserUpdate{Name: ptr("X")}, switchyard.ENOTFOUND, ""},
		{"invalid id", adminCtx(ctx), "x", switchyard.UserUpdate{Name: ptr("X")}, switchyard.ENOTFOUND, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := lastEventID(t, w.DB)
			_, err := w.Users.UpdateUser(tt.ctx, tt.id, tt.input)
			wantCode(t, err, tt.want)
			if got := switchyard.ErrorField(err); got != tt.wantField {
				t.Errorf("field = %q, want %q", got, tt.wantField)
			}
			if tt.want == switchyard.ECONFLICT && switchyard.ErrorMessage(err) != "a user with this email already exists" {
				t.Errorf("message = %q", switchyard.ErrorMessage(err))
			}
			if events := eventsAfter(t, w.DB, before); len(events) != 0 {
				t.Errorf("a refused update wrote %d events", len(events))
			}
		})
	}
	got, err := w.Users.FindUserByID(adminCtx(ctx), w.Owner.ID)
	if err != nil || got.Email != w.Owner.Email || got.Name != w.Owner.Name {
		t.Errorf("refused updates changed the user: %+v, %v", got, err)
	}
}

func TestDeleteUser(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	admin := userCtx(ctx, w.Admin)

	t.Run("member of projects", func(t *testing.T) {
		// Member also joins OtherProject: both memberships go.
		if _, err := w.Projects.AddProjectMember(admin, w.OtherProject.ID, w.Member.ID); err != nil {
			t.Fatal(err)
		}
		before := lastEventID(t, w.DB)
		if err := w.Users.DeleteUser(admin, w.Member.ID); err != nil {
			t.Fatal(err)
		}
		events := eventsAfter(t, w.DB, before)
		var types []string
		removed := map[string]bool{}
		for _, e := range events {
			types = append(types, e.Type)
			if e.Type == switchyard.EventProjectMemberRemoved {
				if !slices.Equal(e.UserIDs, []string{w.Member.ID}) || e.ProjectID == nil {
					t.Errorf("event %+v", e)
				}
				removed[*e.ProjectID] = true
			}
		}
		if len(events) != 3 || types[0] != switchyard.EventUserDeleted || !removed[w.Project.ID] || !removed[w.OtherProject.ID] {
			t.Errorf("events %v", types)
		}
		var deletedAt *time.Time
		var memberships int
		_ = w.DB.Pool().QueryRow(ctx, "SELECT deleted_at FROM users WHERE id = $1", w.Member.ID).Scan(&deletedAt)
		_ = w.DB.Pool().QueryRow(ctx, "SELECT count(*) FROM project_members WHERE user_id = $1", w.Member.ID).Scan(&memberships)
		if deletedAt == nil || memberships != 0 {
			t.Errorf("deleted_at = %v, memberships = %d", deletedAt, memberships)
		}
		_, err := w.Users.FindUserByID(admin, w.Member.ID)
		wantCode(t, err, switchyard.ENOTFOUND)
		_, err = w.Users.ResolveCaller(ctx, w.Member.ID)
		wantCode(t, err, switchyard.EUNAUTHENTICATED)
		err = w.Users.DeleteUser(admin, w.Member.ID)
		wantCode(t, err, switchyard.ENOTFOUND)
		// The email is free again.
		if _, err := w.Users.CreateUser(admin, switchyard.UserCreate{Email: w.Member.Email, Name: "Max II"}); err != nil {
			t.Errorf("reuse email: %v", err)
		}
	})

	t.Run("owner of a project", func(t *testing.T) {
		before := lastEventID(t, w.DB)
		err := w.Users.DeleteUser(admin, w.Other.ID)
		wantCode(t, err, switchyard.ECONFLICT)
		if events := eventsAfter(t, w.DB, before); len(events) != 0 {
			t.Errorf("refused delete wrote %d events", len(events))
		}
		if _, err := w.Users.FindUserByID(admin, w.Other.ID); err != nil {
			t.Errorf("refused delete deleted: %v", err)
		}
		// Once the project is deleted the owner may go.
		if _, err := w.Projects.DeleteProject(admin, w.OtherProject.ID); err != nil {
			t.Fatal(err)
		}
		if err := w.Users.DeleteUser(admin, w.Other.ID); err != nil {
			t.Errorf("delete owner of deleted project: %v", err)
		}
	})

	for _, tt := range []struct {
		name string
		id   string
		want string
	}{
		{"unknown", "5f0c3e0a-8d52-4c1b-9b1e-2f0d9a7c0e11", switchyard.ENOTFOUND},
		{"invalid", "123", switchyard.ENOTFOUND},
		{"self", w.Admin.ID, switchyard.EFORBIDDEN},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, w.Users.DeleteUser(admin, tt.id), tt.want)
		})
	}
}

// TestDeleteUserRacesCreateProject: a user is never deleted while a project
// they own survives, however deletion and project creation interleave.
func TestDeleteUserRacesCreateProject(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	users, projects := NewUserService(db), NewProjectService(db)
	ctx := adminCtx(context.Background())
	for i := 0; i < 15; i++ {
		u := mustCreateUser(t, users, "Racer", "")
		var wg sync.WaitGroup
		var delErr, createErr error
		wg.Add(2)
		go func() { defer wg.Done(); delErr = users.DeleteUser(ctx, u.ID) }()
		go func() {
			defer wg.Done()
			_, createErr = projects.CreateProject(ctx, switchyard.ProjectCreate{Name: "Race", OwnerID: &u.ID})
		}()
		wg.Wait()
		// Exactly one wins: deleted first (create sees no owner) or created
		// first (delete sees an owned project).
		switch {
		case delErr == nil && switchyard.ErrorCode(createErr) == switchyard.ENOTFOUND:
		case createErr == nil && switchyard.ErrorCode(delErr) == switchyard.ECONFLICT:
		default:
			t.Fatalf("round %d: delete: %v, create: %v", i, delErr, createErr)
		}
	}
	var orphans int
	if err := db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM projects p JOIN users u ON u.id = p.owner_id
		WHERE u.deleted_at IS NOT NULL AND p.status <> 'DELETED'`).Scan(&orphans); err != nil || orphans != 0 {
		t.Fatalf("%d projects owned by deleted users (%v)", orphans, err)
	}
}

func TestFindUsersFilters(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	admin := adminCtx(ctx)
	percent := mustCreateUser(t, w.Users, "100% Real", "")
	under := mustCreateUser(t, w.Users, "snake_case", "")
	slash := mustCreateUser(t, w.Users, `back\slash`, "")
	lookalike := mustCreateUser(t, w.Users, "snakeXcase 1000 Real", "")
	var mid time.Time
	if err := w.DB.Pool().QueryRow(ctx, "SELECT created_at FROM users WHERE id = $1", w.Other.ID).Scan(&mid); err != nil {
		t.Fatal(err)
	}
	all := []*switchyard.User{w.Admin, w.Owner, w.Member, w.Other, w.OtherMate, w.Loner, percent, under, slash, lookalike}
	var after, before []*switchyard.User
	for _, u := range all {
		switch {
		case u.CreatedAt.After(mid):
			after = append(after, u)
		case u.CreatedAt.Before(mid):
			before = append(before, u)
		}
	}

	tests := []struct {
		name   string
		ctx    context.Context
		filter switchyard.UserFilter
		want   []*switchyard.User
	}{
		{"no filter", admin, switchyard.UserFilter{}, all},
		{"search name, any case", admin, switchyard.UserFilter{Search: ptr("OLIVE")}, []*switchyard.User{w.Owner}},
		{"search email", admin, switchyard.UserFilter{Search: ptr(strings.Split(w.Loner.Email, "@")[0])}, []*switchyard.User{w.Loner}},
		{"percent is literal", admin, switchyard.UserFilter{Search: ptr("0% R")}, []*switchyard.User{percent}},
		{"underscore is literal", admin, switchyard.UserFilter{Search: ptr("e_c")}, []*switchyard.User{under}},
		{"backslash is literal", admin, switchyard.UserFilter{Search: ptr(`k\s`)}, []*switchyard.User{slash}},
		{"empty search", admin, switchyard.UserFilter{Search: ptr("")}, all},
		{"role", admin, switchyard.UserFilter{Role: ptr(switchyard.RoleAdmin)}, []*switchyard.User{w.Admin}},
		{"created after", admin, switchyard.UserFilter{CreatedAfter: &mid}, after},
		{"created before", admin, switchyard.UserFilter{CreatedBefore: &mid}, before},
		{"members of a project, not its owner", admin, switchyard.UserFilter{MemberOfProjectID: &w.Project.ID}, []*switchyard.User{w.Member}},
		{"members as a member", userCtx(ctx, w.Member), switchyard.UserFilter{MemberOfProjectID: &w.Project.ID}, []*switchyard.User{w.Member}},
		{"members of an unreadable project", userCtx(ctx, w.Member), switchyard.UserFilter{MemberOfProjectID: &w.OtherProject.ID}, nil},
		{"members of an invalid id", admin, switchyard.UserFilter{MemberOfProjectID: ptr("zzz")}, nil},
		{"search within access", userCtx(ctx, w.Member), switchyard.UserFilter{Search: ptr("example.com")}, []*switchyard.User{w.Owner, w.Member}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := userIDs(tt.want)
			if got := allUsers(t, w.Users, tt.ctx, tt.filter); !slices.Equal(got, want) {
				t.Errorf("FindUsers = %d users, want %d", len(got), len(want))
			}
			n, err := w.Users.CountUsers(tt.ctx, tt.filter)
			if err != nil || n != len(want) {
				t.Errorf("CountUsers = %d, %v; want %d", n, err, len(want))
			}
		})
	}
	_, err := w.Users.FindUsers(admin, switchyard.UserFilter{Role: ptr(switchyard.Role("ROOT"))}, switchyard.PageArgs{}, switchyard.UserOrder{})
	wantCode(t, err, switchyard.EINVALID)
}

// seedUsers creates n members with the given names (cycled), with some
// created_at values made equal so ties must break on id.
func seedUsers(t testing.TB, w *UserService, db *DB, n int, names ...string) {
	t.Helper()
	for i := 0; i < n; i++ {
		mustCreateUser(t, w, names[i%len(names)], "")
	}
	if _, err := db.Pool().Exec(context.Background(),
		`UPDATE users SET created_at = '2026-01-01T00:00:00Z' WHERE id IN (SELECT id FROM users ORDER BY id LIMIT $1)`, n/3); err != nil {
		t.Fatal(err)
	}
}

func TestUserPagination(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	users := NewUserService(db)
	ctx := adminCtx(context.Background())
	seedUsers(t, users, db, 23, "anna", "bert", "carl", "dora", "anna")

	orders := []switchyard.UserOrder{
		{},
		{Field: switchyard.UserOrderCreatedAt, Direction: switchyard.SortAsc},
		{Field: switchyard.UserOrderName, Direction: switchyard.SortAsc},
		{Field: switchyard.UserOrderName, Direction: switchyard.SortDesc},
		{Field: switchyard.UserOrderEmail},
	}
	for _, order := range orders {
		t.Run(string(order.Field)+" "+string(order.Direction), func(t *testing.T) {
			conn, err := users.FindUsers(ctx, switchyard.UserFilter{}, switchyard.PageArgs{First: ptr(100)}, order)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for i, e := range conn.Edges {
				want = append(want, e.Node.ID)
				if i > 0 && !userInOrder(conn.Edges[i-1].Node, e.Node, order) {
					t.Fatalf("rows %d and %d out of order", i-1, i)
				}
			}
			if len(want) != 23 || conn.PageInfo.HasNextPage || conn.PageInfo.HasPreviousPage {
				t.Fatalf("one page: %d rows, %+v", len(want), conn.PageInfo)
			}
			fetch := func(p switchyard.PageArgs) (pageOf, error) {
				return userPage(users.FindUsers(ctx, switchyard.UserFilter{}, p, order))
			}
			for _, size := range []int{1, 5, 23, 30} {
				if got := walkForward(t, size, fetch, nil); !slices.Equal(got, want) {
					t.Errorf("forward by %d: %d ids, differs from the full list", size, len(got))
				}
				if got := walkBackward(t, size, fetch, nil); !slices.Equal(got, want) {
					t.Errorf("backward by %d: %d ids, differs from the full list", size, len(got))
				}
			}
			// A window between two cursors, both bounds exclusive.
			page, err := users.FindUsers(ctx, switchyard.UserFilter{}, switchyard.PageArgs{First: ptr(100), After: &conn.Edges[3].Cursor, Before: &conn.Edges[9].Cursor}, order)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := userPage(page, nil); !slices.Equal(got.IDs, want[4:9]) {
				t.Errorf("after 3 before 9 = %d rows", len(got.IDs))
			}
		})
	}
}

// userInOrder reports whether a may precede b in order. The seeded names are
// lower-case letters, which every collation orders alike.
func userInOrder(a, b *switchyard.User, o switchyard.UserOrder) bool {
	desc := o.Direction == switchyard.SortDesc || (o.Field == "" || o.Field == switchyard.UserOrderCreatedAt) && o.Direction == ""
	var c int
	switch o.Field {
	case switchyard.UserOrderName:
		c = strings.Compare(a.Name, b.Name)
	case switchyard.UserOrderEmail:
		// Emails hold punctuation, which collations other than C order
		// differently; the walks still prove the order is consistent.
		return true
	default:
		c = a.CreatedAt.Compare(b.CreatedAt)
	}
	return keysetBefore(c, a.ID, b.ID, desc)
}

func TestUserPageArguments(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	users := NewUserService(db)
	ctx := adminCtx(context.Background())
	seedUsers(t, users, db, 3, "a")
	byName, err := users.FindUsers(ctx, switchyard.UserFilter{}, switchyard.PageArgs{First: ptr(1)}, switchyard.UserOrder{Field: switchyard.UserOrderName})
	if err != nil {
		t.Fatal(err)
	}
	nameCursor := byName.Edges[0].Cursor

	tests := []struct {
		name  string
		page  switchyard.PageArgs
		order switchyard.UserOrder
		want  string
		field string
	}{
		{"first above the cap", switchyard.PageArgs{First: ptr(101)}, switchyard.UserOrder{}, switchyard.EINVALID, "first"},
		{"last above the cap", switchyard.PageArgs{Last: ptr(101)}, switchyard.UserOrder{}, switchyard.EINVALID, "last"},
		{"negative first", switchyard.PageArgs{First: ptr(-1)}, switchyard.UserOrder{}, switchyard.EINVALID, "first"},
		{"first and last", switchyard.PageArgs{First: ptr(1), Last: ptr(1)}, switchyard.UserOrder{}, switchyard.EINVALID, "last"},
		{"malformed after", switchyard.PageArgs{After: ptr("!!not-a-cursor")}, switchyard.UserOrder{}, switchyard.EINVALID, "after"},
		{"base64 garbage after", switchyard.PageArgs{After: ptr("eyJzIjoxfQ")}, switchyard.UserOrder{}, switchyard.EINVALID, "after"},
		{"malformed before", switchyard.PageArgs{Before: ptr("x")}, switchyard.UserOrder{}, switchyard.EINVALID, "before"},
		{"cursor of another order", switchyard.PageArgs{After: &nameCursor}, switchyard.UserOrder{}, switchyard.EINVALID, "after"},
		{"unknown order field", switchyard.PageArgs{}, switchyard.UserOrder{Field: "AGE"}, switchyard.EINVALID, "orderBy.field"},
		{"at the cap", switchyard.PageArgs{First: ptr(100)}, switchyard.UserOrder{}, "", ""},
		{"cursor of the same order", switchyard.PageArgs{After: &nameCursor}, switchyard.UserOrder{Field: switchyard.UserOrderName, Direction: switchyard.SortAsc}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := users.FindUsers(ctx, switchyard.UserFilter{}, tt.page, tt.order)
			wantCode(t, err, tt.want)
			if got := switchyard.ErrorField(err); got != tt.field {
				t.Errorf("field = %q, want %q", got, tt.field)
			}
		})
	}

	conn, err := users.FindUsers(ctx, switchyard.UserFilter{}, switchyard.PageArgs{First: ptr(0)}, switchyard.UserOrder{})
	if err != nil || len(conn.Edges) != 0 || !conn.PageInfo.HasNextPage || conn.PageInfo.StartCursor != nil {
		t.Errorf("first: 0 = %+v, %v", conn, err)
	}
	conn, err = users.FindUsers(ctx, switchyard.UserFilter{}, switchyard.PageArgs{}, switchyard.UserOrder{})
	if err != nil || len(conn.Edges) != 3 {
		t.Errorf("default page: %v", err)
	}
}

// TestUserPaginationUnderInserts pages through users while others are
// inserted, between pages and concurrently: every user present at the start is
// seen exactly once, in every direction.
func TestUserPaginationUnderInserts(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	users := NewUserService(db)
	ctx := adminCtx(context.Background())
	seedUsers(t, users, db, 30, "ines", "jon", "kim")
	initial := allUsersAsAdmin(t, users)

	for _, tt := range []struct {
		name     string
		order    switchyard.UserOrder
		backward bool
	}{
		{"newest first", switchyard.UserOrder{}, false},
		{"oldest first", switchyard.UserOrder{Field: switchyard.UserOrderCreatedAt, Direction: switchyard.SortAsc}, false},
		{"by name", switchyard.UserOrder{Field: switchyard.UserOrderName, Direction: switchyard.SortAsc}, false},
		{"newest first, backward", switchyard.UserOrder{}, true},
		{"oldest first, backward", switchyard.UserOrder{Field: switchyard.UserOrderCreatedAt, Direction: switchyard.SortAsc}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stop := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				// Concurrent writer: inserts until the walk ends.
				names := []string{"aaron", "jon", "zoe"}
				for i := 0; i < 30; i++ {
					select {
					case <-stop:
						done <- nil
						return
					default:
					}
					_, err := users.CreateUser(ctx, switchyard.UserCreate{Email: "conc." + randomTag() + "@example.com", Name: names[i%3]})
					if err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			between := func() {
				for _, n := range []string{"aaron", "zoe"} {
					mustCreateUser(t, users, n, "")
				}
			}
			fetch := func(p switchyard.PageArgs) (pageOf, error) {
				return userPage(users.FindUsers(ctx, switchyard.UserFilter{}, p, tt.order))
			}
			var seen []string
			if tt.backward {
				seen = walkBackward(t, 4, fetch, between)
			} else {
				seen = walkForward(t, 4, fetch, between)
			}
			close(stop)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			count := map[string]int{}
			for _, id := range seen {
				count[id]++
				if count[id] > 1 {
					t.Fatalf("user %s seen twice", id)
				}
			}
			for _, id := range initial {
				if count[id] != 1 {
					t.Fatalf("user %s present at the start seen %d times", id, count[id])
				}
			}
		})
	}
}

func allUsersAsAdmin(t testing.TB, users *UserService) []string {
	return allUsers(t, users, adminCtx(context.Background()), switchyard.UserFilter{})
}

// TestDeleteUserRacesAddMember: a deleted user never keeps a membership,
// however deletion and adding interleave.
func TestDeleteUserRacesAddMember(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := adminCtx(context.Background())
	for i := 0; i < 15; i++ {
		u := mustCreateUser(t, w.Users, "Joiner", "")
		var wg sync.WaitGroup
		var delErr, addErr error
		wg.Add(2)
		go func() { defer wg.Done(); delErr = w.Users.DeleteUser(ctx, u.ID) }()
		go func() { defer wg.Done(); _, addErr = w.Projects.AddProjectMember(ctx, w.Project.ID, u.ID) }()
		wg.Wait()
		if delErr != nil {
			t.Fatalf("round %d: delete: %v", i, delErr)
		}
		if addErr != nil && switchyard.ErrorCode(addErr) != switchyard.ENOTFOUND {
			t.Fatalf("round %d: add: %v", i, addErr)
		}
	}
	var stale int
	if err := w.DB.Pool().QueryRow(context.Background(), `SELECT count(*) FROM project_members pm JOIN users u ON u.id = pm.user_id
		WHERE u.deleted_at IS NOT NULL`).Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("%d memberships of deleted users (%v)", stale, err)
	}
}
