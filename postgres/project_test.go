package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard/switchyard"
)

func projectIDs(list []*switchyard.Project) []string {
	ids := make([]string, len(list))
	for i, p := range list {
		ids[i] = p.ID
	}
	sort.Strings(ids)
	return ids
}

// allProjects reads every project the caller in ctx may list, in one page.
func allProjects(t testing.TB, projects *ProjectService, ctx context.Context, f switchyard.ProjectFilter) []string {
	t.Helper()
	conn, err := projects.FindProjects(ctx, f, switchyard.PageArgs{First: ptr(100)}, switchyard.ProjectOrder{})
	if err != nil {
		t.Fatalf("FindProjects: %v", err)
	}
	p, _ := projectPage(conn, nil)
	sort.Strings(p.IDs)
	return p.IDs
}

// TestProjectReadAccess checks every project read against the same rule for
// each kind of caller.
func TestProjectReadAccess(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	archived := mustCreateProject(t, w.Projects, "Archived", w.Owner, w.Member)
	if _, err := w.Projects.ArchiveProject(adminCtx(ctx), archived.ID); err != nil {
		t.Fatal(err)
	}
	deleted := mustCreateProject(t, w.Projects, "Deleted", w.Owner, w.Member)
	if _, err := w.Projects.DeleteProject(adminCtx(ctx), deleted.ID); err != nil {
		t.Fatal(err)
	}
	// A customer of a project does not read the project.
	addOrder(t, w.DB, w.Project.ID, w.Loner.ID)
	all := []*switchyard.Project{w.Project, w.OtherProject, archived, deleted}
	people := []*switchyard.User{w.Admin, w.Owner, w.Member, w.Other, w.OtherMate, w.Loner}
	// belongs is who owns or belongs to each project.
	belongs := map[string][]*switchyard.User{
		w.Project.ID:      {w.Owner, w.Member},
		w.OtherProject.ID: {w.Other, w.OtherMate},
		archived.ID:       {w.Owner, w.Member},
		deleted.ID:        {w.Owner, w.Member},
	}

	tests := []struct {
		name    string
		ctx     context.Context
		visible []*switchyard.Project
	}{
		{"admin", userCtx(ctx, w.Admin), all},
		{"owner", userCtx(ctx, w.Owner), []*switchyard.Project{w.Project, archived}},
		{"member", userCtx(ctx, w.Member), []*switchyard.Project{w.Project, archived}},
		{"other tenant", userCtx(ctx, w.Other), []*switchyard.Project{w.OtherProject}},
		{"other member", userCtx(ctx, w.OtherMate), []*switchyard.Project{w.OtherProject}},
		{"customer only", userCtx(ctx, w.Loner), nil},
		{"anonymous", anonCtx(ctx), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := projectIDs(tt.visible)
			var found []string
			for _, p := range all {
				got, err := w.Projects.FindProjectByID(tt.ctx, p.ID)
				switch {
				case err == nil:
					if got.ID != p.ID || got.Name != p.Name || got.OwnerID != p.OwnerID {
						t.Fatalf("FindProjectByID(%s) = %+v", p.Name, got)
					}
					found = append(found, got.ID)
				case switchyard.ErrorCode(err) != switchyard.ENOTFOUND:
					t.Fatalf("FindProjectByID(%s): %v", p.Name, err)
				}
			}
			sort.Strings(found)
			if !slices.Equal(found, want) {
				t.Errorf("FindProjectByID finds %d, want %d", len(found), len(want))
			}
			batch, err := w.Projects.FindProjectsByIDs(tt.ctx, projectIDs(all))
			if err != nil || !slices.Equal(projectIDs(batch), want) {
				t.Errorf("FindProjectsByIDs = %d, %v; want %d", len(batch), err, len(want))
			}
			if switchyard.CallerFromContext(tt.ctx) == nil {
				_, err := w.Projects.FindProjects(tt.ctx, switchyard.ProjectFilter{}, switchyard.PageArgs{}, switchyard.ProjectOrder{})
				wantCode(t, err, switchyard.EUNAUTHENTICATED)
				_, err = w.Projects.CountProjects(tt.ctx, switchyard.ProjectFilter{})
				wantCode(t, err, switchyard.EUNAUTHENTICATED)
				_, err = w.Projects.FindProjectsByMembers(tt.ctx, userIDs(people), switchyard.PageArgs{})
				wantCode(t, err, switchyard.EUNAUTHENTICATED)
				_, err = w.Projects.FindProjectMembers(tt.ctx, want, switchyard.PageArgs{})
				wantCode(t, err, switchyard.EUNAUTHENTICATED)
				return
			}
			if got := allProjects(t, w.Projects, tt.ctx, switchyard.ProjectFilter{}); !slices.Equal(got, want) {
				t.Errorf("FindProjects lists %d, want %d", len(got), len(want))
			}
			if n, err := w.Projects.CountProjects(tt.ctx, switchyard.ProjectFilter{}); err != nil || n != len(want) {
				t.Errorf("CountProjects = %d, %v; want %d", n, err, len(want))
			}

			byMember, err := w.Projects.FindProjectsByMembers(tt.ctx, userIDs(people), switchyard.PageArgs{})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range people {
				var wantOf []string
				for _, p := range tt.visible {
					if slices.Contains(belongs[p.ID], u) {
						wantOf = append(wantOf, p.ID)
					}
				}
				sort.Strings(wantOf)
				conn, ok := byMember[u.ID]
				if !ok {
					t.Fatalf("FindProjectsByMembers: no connection for %s", u.Name)
				}
				got, _ := projectPage(conn, nil)
				sort.Strings(got.IDs)
				if !slices.Equal(got.IDs, wantOf) {
					t.Errorf("projects of %s: %d, want %d", u.Name, len(got.IDs), len(wantOf))
				}
			}

			members, err := w.Projects.FindProjectMembers(tt.ctx, projectIDs(all), switchyard.PageArgs{})
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for id := range members {
				keys = append(keys, id)
			}
			sort.Strings(keys)
			if !slices.Equal(keys, want) {
				t.Errorf("FindProjectMembers answers %d projects, want %d", len(keys), len(want))
			}
		})
	}
}

// TestProjectWriteAccess is the authorization matrix of the project
// mutations. Each case changes a fresh project owned by Owner with Member.
func TestProjectWriteAccess(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	type op struct {
		name  string
		event string
		run   func(ctx context.Context, p *switchyard.Project) (*switchyard.Project, error)
	}
	ops := []op{
		{"update", switchyard.EventProjectUpdated, func(ctx context.Context, p *switchyard.Project) (*switchyard.Project, error) {
			return w.Projects.UpdateProject(ctx, p.ID, switchyard.ProjectUpdate{Name: ptr("Renamed")})
		}},
		{"archive", switchyard.EventProjectUpdated, func(ctx context.Context, p *switchyard.Project) (*switchyard.Project, error) {
			return w.Projects.ArchiveProject(ctx, p.ID)
		}},
		{"delete", switchyard.EventProjectUpdated, func(ctx context.Context, p *switchyard.Project) (*switchyard.Project, error) {
			return w.Projects.DeleteProject(ctx, p.ID)
		}},
		{"add member", switchyard.EventProjectMemberAdded, func(ctx context.Context, p *switchyard.Project) (*switchyard.Project, error) {
			return w.Projects.AddProjectMember(ctx, p.ID, w.Loner.ID)
		}},
		{"remove member", switchyard.EventProjectMemberRemoved, func(ctx context.Context, p *switchyard.Project) (*switchyard.Project, error) {
			return w.Projects.RemoveProjectMember(ctx, p.ID, w.Member.ID)
		}},
	}
	callers := []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"anonymous", anonCtx(ctx), switchyard.EUNAUTHENTICATED},
		{"admin", userCtx(ctx, w.Admin), ""},
		{"owner", userCtx(ctx, w.Owner), ""},
		{"member", userCtx(ctx, w.Member), switchyard.EFORBIDDEN},
		{"other tenant", userCtx(ctx, w.Other), switchyard.ENOTFOUND},
		{"other member", userCtx(ctx, w.OtherMate), switchyard.ENOTFOUND},
		{"no project", userCtx(ctx, w.Loner), switchyard.ENOTFOUND},
	}
	for _, c := range callers {
		for _, o := range ops {
			t.Run(c.name+" "+o.name, func(t *testing.T) {
				p := mustCreateProject(t, w.Projects, "Matrix", w.Owner, w.Member)
				before := lastEventID(t, w.DB)
				got, err := o.run(c.ctx, p)
				wantCode(t, err, c.want)
				events := eventsAfter(t, w.DB, before)
				if err != nil {
					if len(events) != 0 {
						t.Errorf("refused %s wrote %d events", o.name, len(events))
					}
					cur, _ := w.Projects.FindProjectByID(adminCtx(ctx), p.ID)
					if cur == nil || !cur.UpdatedAt.Equal(p.UpdatedAt) {
						t.Errorf("refused %s changed the project", o.name)
					}
					return
				}
				if got.ID != p.ID || !got.UpdatedAt.After(p.UpdatedAt) {
					t.Errorf("%s returned %+v", o.name, got)
				}
				if len(events) != 1 || events[0].Type != o.event || events[0].SubjectID != p.ID ||
					events[0].ProjectID == nil || *events[0].ProjectID != p.ID {
					t.Fatalf("%s wrote %+v", o.name, events)
				}
			})
		}
	}

	t.Run("create", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			ctx   context.Context
			owner *string
			want  string
		}{
			{"anonymous", anonCtx(ctx), nil, switchyard.EUNAUTHENTICATED},
			{"member for self", userCtx(ctx, w.Member), nil, ""},
			{"member names self", userCtx(ctx, w.Member), &w.Member.ID, ""},
			{"member names another owner", userCtx(ctx, w.Member), &w.Owner.ID, switchyard.EFORBIDDEN},
			{"admin for someone", userCtx(ctx, w.Admin), &w.Loner.ID, ""},
			{"admin for self", userCtx(ctx, w.Admin), nil, ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				before := lastEventID(t, w.DB)
				p, err := w.Projects.CreateProject(tt.ctx, switchyard.ProjectCreate{Name: "New", OwnerID: tt.owner})
				wantCode(t, err, tt.want)
				events := eventsAfter(t, w.DB, before)
				if err != nil {
					if len(events) != 0 {
						t.Errorf("refused create wrote %d events", len(events))
					}
					return
				}
				owner := switchyard.CallerFromContext(tt.ctx).UserID
				if tt.owner != nil {
					owner = *tt.owner
				}
				if p.OwnerID != owner || p.Status != switchyard.ProjectActive {
					t.Errorf("created %+v", p)
				}
				if len(events) != 1 || events[0].Type != switchyard.EventProjectCreated || !slices.Equal(events[0].UserIDs, []string{owner}) {
					t.Errorf("events %+v", events)
				}
				// The creator reads what they created.
				if _, err := w.Projects.FindProjectByID(tt.ctx, p.ID); err != nil {
					t.Errorf("creator cannot read the project: %v", err)
				}
			})
		}
	})
}

func TestCreateProject(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	gone := mustCreateUser(t, w.Users, "Gone", "")
	if err := w.Users.DeleteUser(adminCtx(ctx), gone.ID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		ctx       context.Context
		input     switchyard.ProjectCreate
		want      string
		wantField string
	}{
		{"trims and stores", userCtx(ctx, w.Owner), switchyard.ProjectCreate{Name: "  Gamma ", Description: ptr("Third")}, "", ""},
		{"empty name", userCtx(ctx, w.Owner), switchyard.ProjectCreate{Name: " "}, switchyard.EINVALID, "input.name"},
		{"long name", userCtx(ctx, w.Owner), switchyard.ProjectCreate{Name: strings.Repeat("n", 201)}, switchyard.EINVALID, "input.name"},
		{"long description", userCtx(ctx, w.Owner), switchyard.ProjectCreate{Name: "X", Description: ptr(strings.Repeat("d", 5001))}, switchyard.EINVALID, "input.description"},
		{"unknown owner", adminCtx(ctx), switchyard.ProjectCreate{Name: "X", OwnerID: ptr("5f0c3e0a-8d52-4c1b-9b1e-2f0d9a7c0e11")}, switchyard.ENOTFOUND, "input.ownerId"},
		{"deleted owner", adminCtx(ctx), switchyard.ProjectCreate{Name: "X", OwnerID: &gone.ID}, switchyard.ENOTFOUND, "input.ownerId"},
		{"malformed owner", adminCtx(ctx), switchyard.ProjectCreate{Name: "X", OwnerID: ptr("me")}, switchyard.ENOTFOUND, "input.ownerId"},
		// adminCtx's caller has no users row, so it cannot own a project.
		{"caller without a row", adminCtx(ctx), switchyard.ProjectCreate{Name: "X"}, switchyard.ENOTFOUND, "input.ownerId"},
		{"deleted caller", userCtx(ctx, gone), switchyard.ProjectCreate{Name: "X"}, switchyard.ENOTFOUND, "input.ownerId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := lastEventID(t, w.DB)
			p, err := w.Projects.CreateProject(tt.ctx, tt.input)
			wantCode(t, err, tt.want)
			if got := switchyard.ErrorField(err); got != tt.wantField {
				t.Errorf("field = %q, want %q", got, tt.wantField)
			}
			events := eventsAfter(t, w.DB, before)
			if err != nil {
				if len(events) != 0 {
					t.Errorf("refused create wrote %d events", len(events))
				}
				return
			}
			if p.Name != "Gamma" || p.Description == nil || *p.Description != "Third" || p.Status != switchyard.ProjectActive || !validID(p.ID) {
				t.Errorf("created %+v", p)
			}
			var data switchyard.Project
			if len(events) != 1 || json.Unmarshal(events[0].Data, &data) != nil || data.Name != "Gamma" || data.OwnerID != w.Owner.ID {
				t.Errorf("events %+v", events)
			}
		})
	}
	var n int
	if err := w.DB.Pool().QueryRow(ctx, "SELECT count(*) FROM projects").Scan(&n); err != nil || n != 3 {
		t.Errorf("%d projects after one successful create, want 3 (%v)", n, err)
	}
}

func TestUpdateProject(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	owner := userCtx(ctx, w.Owner)

	p, err := w.Projects.UpdateProject(owner, w.Project.ID, switchyard.ProjectUpdate{Name: ptr(" Apollo 11 "), Description: ptr("Moon")})
	if err != nil || p.Name != "Apollo 11" || *p.Description != "Moon" || !p.UpdatedAt.After(w.Project.UpdatedAt) {
		t.Fatalf("update: %+v, %v", p, err)
	}
	before := lastEventID(t, w.DB)
	same, err := w.Projects.UpdateProject(owner, w.Project.ID, switchyard.ProjectUpdate{Name: ptr("Apollo 11"), Status: ptr(switchyard.ProjectActive)})
	if err != nil || !same.UpdatedAt.Equal(p.UpdatedAt) {
		t.Fatalf("no-op update: %+v, %v", same, err)
	}
	if n := len(eventsAfter(t, w.DB, before)); n != 0 {
		t.Errorf("no-op update wrote %d events", n)
	}
	p, err = w.Projects.UpdateProject(owner, w.Project.ID, switchyard.ProjectUpdate{Description: ptr(""), Status: ptr(switchyard.ProjectArchived)})
	if err != nil || p.Description != nil || p.Status != switchyard.ProjectArchived {
		t.Fatalf("clear description, archive: %+v, %v", p, err)
	}
	p, err = w.Projects.UpdateProject(owner, w.Project.ID, switchyard.ProjectUpdate{Status: ptr(switchyard.ProjectActive)})
	if err != nil || p.Status != switchyard.ProjectActive {
		t.Fatalf("reactivate: %+v, %v", p, err)
	}

	deleted := mustCreateProject(t, w.Projects, "Gone", w.Owner)
	if _, err := w.Projects.DeleteProject(owner, deleted.ID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		ctx       context.Context
		id        string
		input     switchyard.ProjectUpdate
		want      string
		wantField string
	}{
		{"status DELETED", owner, w.Project.ID, switchyard.ProjectUpdate{Status: ptr(switchyard.ProjectDeleted)}, switchyard.EINVALID, "input.status"},
		{"unknown status", owner, w.Project.ID, switchyard.ProjectUpdate{Status: ptr(switchyard.ProjectStatus("PAUSED"))}, switchyard.EINVALID, "input.status"},
		{"empty name", owner, w.Project.ID, switchyard.ProjectUpdate{Name: ptr("")}, switchyard.EINVALID, "input.name"},
		{"unknown id", owner, "5f0c3e0a-8d52-4c1b-9b1e-2f0d9a7c0e11", switchyard.ProjectUpdate{Name: ptr("X")}, switchyard.ENOTFOUND, ""},
		{"malformed id", owner, "p1", switchyard.ProjectUpdate{Name: ptr("X")}, switchyard.ENOTFOUND, ""},
		{"deleted, as its owner", owner, deleted.ID, switchyard.ProjectUpdate{Name: ptr("X")}, switchyard.ENOTFOUND, ""},
		{"deleted, as an admin", adminCtx(ctx), deleted.ID, switchyard.ProjectUpdate{Name: ptr("X")}, switchyard.ECONFLICT, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := lastEventID(t, w.DB)
			_, err := w.Projects.UpdateProject(tt.ctx, tt.id, tt.input)
			wantCode(t, err, tt.want)
			if got := switchyard.ErrorField(err); got != tt.wantField {
				t.Errorf("field = %q, want %q", got, tt.wantField)
			}
			if n := len(eventsAfter(t, w.DB, before)); n != 0 {
				t.Errorf("refused update wrote %d events", n)
			}
		})
	}
}

func TestArchiveAndDeleteProject(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	owner := userCtx(ctx, w.Owner)

	p, err := w.Projects.ArchiveProject(owner, w.Project.ID)
	if err != nil || p.Status != switchyard.ProjectArchived {
		t.Fatalf("archive: %+v, %v", p, err)
	}
	before := lastEventID(t, w.DB)
	again, err := w.Projects.ArchiveProject(owner, w.Project.ID)
	if err != nil || !again.UpdatedAt.Equal(p.UpdatedAt) || len(eventsAfter(t, w.DB, before)) != 0 {
		t.Fatalf("archiving twice is not a no-op: %+v, %v", again, err)
	}
	// Archived projects stay readable to their people.
	if _, err := w.Projects.FindProjectByID(userCtx(ctx, w.Member), w.Project.ID); err != nil {
		t.Errorf("member cannot read the archived project: %v", err)
	}

	addOrder(t, w.DB, w.Project.ID, w.Loner.ID)
	p, err = w.Projects.DeleteProject(owner, w.Project.ID)
	if err != nil || p.Status != switchyard.ProjectDeleted {
		t.Fatalf("delete: %+v, %v", p, err)
	}
	events := eventsAfter(t, w.DB, before)
	var data switchyard.Project
	if len(events) != 1 || json.Unmarshal(events[0].Data, &data) != nil || data.Status != switchyard.ProjectDeleted {
		t.Fatalf("delete events %+v", events)
	}
	// Gone for its people, kept for admins and for the record.
	for _, c := range []context.Context{owner, userCtx(ctx, w.Member)} {
		_, err := w.Projects.FindProjectByID(c, w.Project.ID)
		wantCode(t, err, switchyard.ENOTFOUND)
		_, err = w.Projects.DeleteProject(c, w.Project.ID)
		wantCode(t, err, switchyard.ENOTFOUND)
	}
	before = lastEventID(t, w.DB)
	again, err = w.Projects.DeleteProject(adminCtx(ctx), w.Project.ID)
	if err != nil || again.Status != switchyard.ProjectDeleted || len(eventsAfter(t, w.DB, before)) != 0 {
		t.Fatalf("deleting twice is not a no-op: %+v, %v", again, err)
	}
	_, err = w.Projects.ArchiveProject(adminCtx(ctx), w.Project.ID)
	wantCode(t, err, switchyard.ECONFLICT)
	var orders int
	if err := w.DB.Pool().QueryRow(ctx, "SELECT count(*) FROM orders WHERE project_id = $1", w.Project.ID).Scan(&orders); err != nil || orders != 1 {
		t.Errorf("orders of the deleted project: %d, %v", orders, err)
	}
	for _, id := range []string{"nope", "5f0c3e0a-8d52-4c1b-9b1e-2f0d9a7c0e11"} {
		_, err := w.Projects.ArchiveProject(owner, id)
		wantCode(t, err, switchyard.ENOTFOUND)
		_, err = w.Projects.DeleteProject(owner, id)
		wantCode(t, err, switchyard.ENOTFOUND)
	}
}

func TestProjectMembership(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	owner := userCtx(ctx, w.Owner)
	gone := mustCreateUser(t, w.Users, "Gone", "")
	if err := w.Users.DeleteUser(adminCtx(ctx), gone.ID); err != nil {
		t.Fatal(err)
	}

	// The owner adds someone they could not read before; afterwards each
	// reads the other and the added user reads the project.
	if _, err := w.Users.FindUserByID(owner, w.Loner.ID); switchyard.ErrorCode(err) != switchyard.ENOTFOUND {
		t.Fatalf("owner reads a stranger: %v", err)
	}
	before := lastEventID(t, w.DB)
	p, err := w.Projects.AddProjectMember(owner, w.Project.ID, strings.ToUpper(w.Loner.ID))
	if err != nil || !p.UpdatedAt.After(w.Project.UpdatedAt) {
		t.Fatalf("add: %+v, %v", p, err)
	}
	events := eventsAfter(t, w.DB, before)
	if len(events) != 1 || events[0].Type != switchyard.EventProjectMemberAdded || !slices.Equal(events[0].UserIDs, []string{w.Loner.ID}) ||
		*events[0].ProjectID != w.Project.ID || *events[0].ActorID != w.Owner.ID {
		t.Fatalf("add events %+v", events)
	}
	if _, err := w.Projects.FindProjectByID(userCtx(ctx, w.Loner), w.Project.ID); err != nil {
		t.Errorf("added member cannot read the project: %v", err)
	}
	if _, err := w.Users.FindUserByID(owner, w.Loner.ID); err != nil {
		t.Errorf("owner cannot read the added member: %v", err)
	}

	before = lastEventID(t, w.DB)
	again, err := w.Projects.AddProjectMember(owner, w.Project.ID, w.Loner.ID)
	if err != nil || !again.UpdatedAt.Equal(p.UpdatedAt) || len(eventsAfter(t, w.DB, before)) != 0 {
		t.Fatalf("adding twice is not a no-op: %+v, %v", again, err)
	}

	p, err = w.Projects.RemoveProjectMember(owner, w.Project.ID, w.Loner.ID)
	if err != nil {
		t.Fatal(err)
	}
	events = eventsAfter(t, w.DB, before)
	if len(events) != 1 || events[0].Type != switchyard.EventProjectMemberRemoved || !slices.Equal(events[0].UserIDs, []string{w.Loner.ID}) {
		t.Fatalf("remove events %+v", events)
	}
	if _, err := w.Projects.FindProjectByID(userCtx(ctx, w.Loner), w.Project.ID); switchyard.ErrorCode(err) != switchyard.ENOTFOUND {
		t.Errorf("removed member still reads the project: %v", err)
	}
	before = lastEventID(t, w.DB)
	again, err = w.Projects.RemoveProjectMember(owner, w.Project.ID, w.Loner.ID)
	if err != nil || !again.UpdatedAt.Equal(p.UpdatedAt) || len(eventsAfter(t, w.DB, before)) != 0 {
		t.Fatalf("removing a non-member is not a no-op: %+v, %v", again, err)
	}

	tests := []struct {
		name      string
		add       bool
		project   string
		user      string
		want      string
		wantField string
	}{
		{"add the owner", true, w.Project.ID, w.Owner.ID, switchyard.EINVALID, "userId"},
		{"add an unknown user", true, w.Project.ID, "5f0c3e0a-8d52-4c1b-9b1e-2f0d9a7c0e11", switchyard.ENOTFOUND, ""},
		{"add a deleted user", true, w.Project.ID, gone.ID, switchyard.ENOTFOUND, ""},
		{"add a malformed user id", true, w.Project.ID, "bob", switchyard.ENOTFOUND, ""},
		{"add to an unknown project", true, "5f0c3e0a-8d52-4c1b-9b1e-2f0d9a7c0e11", w.Loner.ID, switchyard.ENOTFOUND, ""},
		{"add to another tenant's project", true, w.OtherProject.ID, w.Loner.ID, switchyard.ENOTFOUND, ""},
		{"remove from a malformed project id", false, "x", w.Member.ID, switchyard.ENOTFOUND, ""},
		{"remove a malformed user id", false, w.Project.ID, "x", switchyard.ENOTFOUND, ""},
		{"remove the owner", false, w.Project.ID, w.Owner.ID, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := lastEventID(t, w.DB)
			var err error
			if tt.add {
				_, err = w.Projects.AddProjectMember(owner, tt.project, tt.user)
			} else {
				_, err = w.Projects.RemoveProjectMember(owner, tt.project, tt.user)
			}
			wantCode(t, err, tt.want)
			if got := switchyard.ErrorField(err); got != tt.wantField {
				t.Errorf("field = %q, want %q", got, tt.wantField)
			}
			if n := len(eventsAfter(t, w.DB, before)); n != 0 {
				t.Errorf("wrote %d events", n)
			}
		})
	}
}

// TestConcurrentMembershipChanges: changes to one project serialize on its
// row; none is lost and each writes its event.
func TestConcurrentMembershipChanges(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := userCtx(context.Background(), w.Owner)
	var joiners []*switchyard.User
	for i := 0; i < 12; i++ {
		joiners = append(joiners, mustCreateUser(t, w.Users, fmt.Sprintf("Joiner %d", i), ""))
	}
	before := lastEventID(t, w.DB)
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(joiners))
	for i, u := range joiners {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := w.Projects.AddProjectMember(ctx, w.Project.ID, u.ID)
			errs <- err
		}()
		go func() {
			defer wg.Done()
			_, err := w.Projects.UpdateProject(ctx, w.Project.ID, switchyard.ProjectUpdate{Description: ptr(fmt.Sprintf("rev %d", i))})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	n, err := w.Users.CountUsers(ctx, switchyard.UserFilter{MemberOfProjectID: &w.Project.ID})
	if err != nil || n != len(joiners)+1 {
		t.Fatalf("members = %d, %v; want %d", n, err, len(joiners)+1)
	}
	added := 0
	for _, e := range eventsAfter(t, w.DB, before) {
		if e.Type == switchyard.EventProjectMemberAdded {
			added++
		}
	}
	if added != len(joiners) {
		t.Errorf("%d member_added events, want %d", added, len(joiners))
	}
}

func TestFindProjectsFilters(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	admin := adminCtx(ctx)
	p100, err := w.Projects.CreateProject(userCtx(ctx, w.Owner), switchyard.ProjectCreate{Name: "Growth 100%", Description: ptr("snake_case plans")})
	if err != nil {
		t.Fatal(err)
	}
	look, err := w.Projects.CreateProject(userCtx(ctx, w.Owner), switchyard.ProjectCreate{Name: "Growth 1000 plans", Description: ptr("snakeXcase")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Projects.ArchiveProject(admin, look.ID); err != nil {
		t.Fatal(err)
	}
	all := []*switchyard.Project{w.Project, w.OtherProject, p100, look}

	tests := []struct {
		name   string
		ctx    context.Context
		filter switchyard.ProjectFilter
		want   []*switchyard.Project
	}{
		{"none", admin, switchyard.ProjectFilter{}, all},
		{"status", admin, switchyard.ProjectFilter{Status: ptr(switchyard.ProjectArchived)}, []*switchyard.Project{look}},
		{"owner", admin, switchyard.ProjectFilter{OwnerID: &w.Owner.ID}, []*switchyard.Project{w.Project, p100, look}},
		{"malformed owner", admin, switchyard.ProjectFilter{OwnerID: ptr("x")}, nil},
		{"search name, any case", admin, switchyard.ProjectFilter{Search: ptr("BOREAL")}, []*switchyard.Project{w.OtherProject}},
		{"percent is literal", admin, switchyard.ProjectFilter{Search: ptr("0%")}, []*switchyard.Project{p100}},
		{"underscore is literal", admin, switchyard.ProjectFilter{Search: ptr("e_c")}, []*switchyard.Project{p100}},
		{"search description", admin, switchyard.ProjectFilter{Search: ptr("plans")}, []*switchyard.Project{p100, look}},
		{"member of", admin, switchyard.ProjectFilter{MemberID: &w.Member.ID}, []*switchyard.Project{w.Project}},
		{"owner counts as member", admin, switchyard.ProjectFilter{MemberID: &w.Other.ID}, []*switchyard.Project{w.OtherProject}},
		{"member of, within access", userCtx(ctx, w.Member), switchyard.ProjectFilter{MemberID: &w.Other.ID}, nil},
		{"malformed member", admin, switchyard.ProjectFilter{MemberID: ptr("x")}, nil},
		{"combined", userCtx(ctx, w.Owner), switchyard.ProjectFilter{Search: ptr("growth"), Status: ptr(switchyard.ProjectActive)}, []*switchyard.Project{p100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := projectIDs(tt.want)
			if got := allProjects(t, w.Projects, tt.ctx, tt.filter); !slices.Equal(got, want) {
				t.Errorf("FindProjects = %d, want %d", len(got), len(want))
			}
			if n, err := w.Projects.CountProjects(tt.ctx, tt.filter); err != nil || n != len(want) {
				t.Errorf("CountProjects = %d, %v; want %d", n, err, len(want))
			}
		})
	}
	_, err = w.Projects.FindProjects(admin, switchyard.ProjectFilter{Status: ptr(switchyard.ProjectStatus("X"))}, switchyard.PageArgs{}, switchyard.ProjectOrder{})
	wantCode(t, err, switchyard.EINVALID)
}

// seedProjects creates n projects owned by owner with names cycled from
// names, some with equal created_at so ties must break on id.
func seedProjects(t testing.TB, w *world, owner *switchyard.User, n int, names ...string) []*switchyard.Project {
	t.Helper()
	var out []*switchyard.Project
	for i := 0; i < n; i++ {
		p, err := w.Projects.CreateProject(userCtx(context.Background(), owner), switchyard.ProjectCreate{Name: names[i%len(names)]})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	if _, err := w.DB.Pool().Exec(context.Background(), `UPDATE projects SET created_at = '2026-01-01T00:00:00Z'
		WHERE id IN (SELECT id FROM projects WHERE owner_id = $1 ORDER BY id LIMIT $2)`, owner.ID, n/3); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestProjectPagination(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := userCtx(context.Background(), w.Owner)
	seedProjects(t, w, w.Owner, 20, "ares", "zeus", "hera")

	for _, order := range []switchyard.ProjectOrder{
		{},
		{Field: switchyard.ProjectOrderCreatedAt, Direction: switchyard.SortAsc},
		{Field: switchyard.ProjectOrderName},
		{Field: switchyard.ProjectOrderName, Direction: switchyard.SortDesc},
	} {
		t.Run(string(order.Field)+" "+string(order.Direction), func(t *testing.T) {
			conn, err := w.Projects.FindProjects(ctx, switchyard.ProjectFilter{}, switchyard.PageArgs{First: ptr(100)}, order)
			if err != nil {
				t.Fatal(err)
			}
			full, _ := projectPage(conn, nil)
			if len(full.IDs) != 21 {
				t.Fatalf("owner lists %d projects, want 21", len(full.IDs))
			}
			for i := 1; i < len(conn.Edges); i++ {
				if !projectInOrder(conn.Edges[i-1].Node, conn.Edges[i].Node, order) {
					t.Fatalf("rows %d and %d out of order", i-1, i)
				}
			}
			fetch := func(p switchyard.PageArgs) (pageOf, error) {
				return projectPage(w.Projects.FindProjects(ctx, switchyard.ProjectFilter{}, p, order))
			}
			for _, size := range []int{1, 4, 21, 50} {
				if got := walkForward(t, size, fetch, nil); !slices.Equal(got, full.IDs) {
					t.Errorf("forward by %d differs from the full list", size)
				}
				if got := walkBackward(t, size, fetch, nil); !slices.Equal(got, full.IDs) {
					t.Errorf("backward by %d differs from the full list", size)
				}
			}
		})
	}
}

func projectInOrder(a, b *switchyard.Project, o switchyard.ProjectOrder) bool {
	desc := o.Direction == switchyard.SortDesc || (o.Field == "" || o.Field == switchyard.ProjectOrderCreatedAt) && o.Direction == ""
	var c int
	if o.Field == switchyard.ProjectOrderName {
		c = strings.Compare(a.Name, b.Name)
	} else {
		c = a.CreatedAt.Compare(b.CreatedAt)
	}
	return keysetBefore(c, a.ID, b.ID, desc)
}

// TestProjectPaginationUnderInserts: every project present at the start is
// seen exactly once while projects are created between pages and
// concurrently.
func TestProjectPaginationUnderInserts(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := adminCtx(context.Background())
	seedProjects(t, w, w.Owner, 25, "ares", "zeus", "hera")
	initial := allProjects(t, w.Projects, ctx, switchyard.ProjectFilter{})

	for _, tt := range []struct {
		name     string
		order    switchyard.ProjectOrder
		backward bool
	}{
		{"newest first", switchyard.ProjectOrder{}, false},
		{"oldest first", switchyard.ProjectOrder{Field: switchyard.ProjectOrderCreatedAt, Direction: switchyard.SortAsc}, false},
		{"by name", switchyard.ProjectOrder{Field: switchyard.ProjectOrderName}, false},
		{"by name, backward", switchyard.ProjectOrder{Field: switchyard.ProjectOrderName}, true},
		{"oldest first, backward", switchyard.ProjectOrder{Field: switchyard.ProjectOrderCreatedAt, Direction: switchyard.SortAsc}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				for i := 0; i < 25; i++ {
					if _, err := w.Projects.CreateProject(userCtx(context.Background(), w.Other), switchyard.ProjectCreate{Name: []string{"apollo", "hermes", "zephyr"}[i%3]}); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			between := func() {
				for _, n := range []string{"aaa", "zzz"} {
					mustCreateProject(t, w.Projects, n, w.OtherMate)
				}
			}
			fetch := func(p switchyard.PageArgs) (pageOf, error) {
				return projectPage(w.Projects.FindProjects(ctx, switchyard.ProjectFilter{}, p, tt.order))
			}
			var seen []string
			if tt.backward {
				seen = walkBackward(t, 4, fetch, between)
			} else {
				seen = walkForward(t, 4, fetch, between)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			count := map[string]int{}
			for _, id := range seen {
				if count[id]++; count[id] > 1 {
					t.Fatalf("project %s seen twice", id)
				}
			}
			for _, id := range initial {
				if count[id] != 1 {
					t.Fatalf("project %s present at the start seen %d times", id, count[id])
				}
			}
		})
	}
}

func TestProjectPageArguments(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := adminCtx(context.Background())
	conn, err := w.Projects.FindProjects(ctx, switchyard.ProjectFilter{}, switchyard.PageArgs{First: ptr(1)}, switchyard.ProjectOrder{Field: switchyard.ProjectOrderName})
	if err != nil {
		t.Fatal(err)
	}
	nameCursor := conn.Edges[0].Cursor
	lists := map[string]func(switchyard.PageArgs) error{
		"FindProjects": func(p switchyard.PageArgs) error {
			_, err := w.Projects.FindProjects(ctx, switchyard.ProjectFilter{}, p, switchyard.ProjectOrder{})
			return err
		},
		"FindProjectsByMembers": func(p switchyard.PageArgs) error {
			_, err := w.Projects.FindProjectsByMembers(ctx, []string{w.Owner.ID}, p)
			return err
		},
		"FindProjectMembers": func(p switchyard.PageArgs) error {
			_, err := w.Projects.FindProjectMembers(ctx, []string{w.Project.ID}, p)
			return err
		},
	}
	tests := []struct {
		name  string
		page  switchyard.PageArgs
		field string
	}{
		{"first above the cap", switchyard.PageArgs{First: ptr(101)}, "first"},
		{"last above the cap", switchyard.PageArgs{Last: ptr(1000)}, "last"},
		{"malformed after", switchyard.PageArgs{After: ptr("%%%")}, "after"},
		{"malformed before", switchyard.PageArgs{Before: ptr("AAAA")}, "before"},
		{"cursor of another order", switchyard.PageArgs{After: &nameCursor}, "after"},
	}
	for name, list := range lists {
		for _, tt := range tests {
			t.Run(name+" "+tt.name, func(t *testing.T) {
				err := list(tt.page)
				wantCode(t, err, switchyard.EINVALID)
				if got := switchyard.ErrorField(err); got != tt.field {
					t.Errorf("field = %q, want %q", got, tt.field)
				}
			})
		}
	}
	_, err = w.Projects.FindProjects(ctx, switchyard.ProjectFilter{}, switchyard.PageArgs{}, switchyard.ProjectOrder{Field: "OWNER"})
	wantCode(t, err, switchyard.EINVALID)
}

func TestFindProjectsByMembers(t *testing.T) {
	t.Parallel()
	counter := &statementCounter{}
	db := newTestDB(t, WithQueryTracer(counter))
	w := &world{DB: db, Users: NewUserService(db), Projects: NewProjectService(db)}
	ann := mustCreateUser(t, w.Users, "Ann", "")
	ben := mustCreateUser(t, w.Users, "Ben", "")
	cat := mustCreateUser(t, w.Users, "Cat", "")
	annOwns := seedProjects(t, w, ann, 5, "a")
	benOwns := mustCreateProject(t, w.Projects, "b", ben, ann)
	ctx := adminCtx(context.Background())
	// Newest first, as the lists default.
	annAll := append([]*switchyard.Project{benOwns}, annOwns...)
	conn, err := w.Projects.FindProjects(ctx, switchyard.ProjectFilter{MemberID: &ann.ID}, switchyard.PageArgs{First: ptr(100)}, switchyard.ProjectOrder{})
	if err != nil {
		t.Fatal(err)
	}
	annWant, _ := projectPage(conn, nil)
	if len(annWant.IDs) != len(annAll) {
		t.Fatalf("Ann has %d projects, want %d", len(annWant.IDs), len(annAll))
	}

	n := counter.Count()
	got, err := w.Projects.FindProjectsByMembers(ctx, []string{ann.ID, ben.ID, cat.ID, "junk", ann.ID}, switchyard.PageArgs{First: ptr(2)})
	if err != nil {
		t.Fatal(err)
	}
	if d := counter.Count() - n; d != 1 {
		t.Errorf("ran %d statements, want 1", d)
	}
	if len(got) != 3 {
		t.Fatalf("connections for %d users, want 3 (junk ids get none)", len(got))
	}
	annPage, _ := projectPage(got[ann.ID], nil)
	if !slices.Equal(annPage.IDs, annWant.IDs[:2]) || !annPage.Info.HasNextPage || annPage.Info.HasPreviousPage {
		t.Errorf("Ann's first page: %v %+v", annPage.IDs, annPage.Info)
	}
	if c := got[ann.ID]; c.Filter.MemberID == nil || *c.Filter.MemberID != ann.ID {
		t.Errorf("Ann's page filter %+v", c.Filter)
	}
	benPage, _ := projectPage(got[ben.ID], nil)
	if !slices.Equal(benPage.IDs, []string{benOwns.ID}) || benPage.Info.HasNextPage {
		t.Errorf("Ben's page: %v %+v", benPage.IDs, benPage.Info)
	}
	if c := got[cat.ID]; len(c.Edges) != 0 || c.PageInfo.HasNextPage {
		t.Errorf("Cat's page: %+v", c)
	}
	// Paging one user's list through the batch call matches the plain list.
	fetch := func(p switchyard.PageArgs) (pageOf, error) {
		m, err := w.Projects.FindProjectsByMembers(ctx, []string{ann.ID, ben.ID}, p)
		if err != nil {
			return pageOf{}, err
		}
		return projectPage(m[ann.ID], nil)
	}
	if ids := walkForward(t, 2, fetch, nil); !slices.Equal(ids, annWant.IDs) {
		t.Errorf("forward through Ann's projects: %d ids", len(ids))
	}
	if ids := walkBackward(t, 4, fetch, nil); !slices.Equal(ids, annWant.IDs) {
		t.Errorf("backward through Ann's projects: %d ids", len(ids))
	}
	// A member sees another user's projects only where they may read them.
	got, err = w.Projects.FindProjectsByMembers(userCtx(context.Background(), ben), []string{ann.ID}, switchyard.PageArgs{})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := projectPage(got[ann.ID], nil); !slices.Equal(p.IDs, []string{benOwns.ID}) {
		t.Errorf("Ben sees %d of Ann's projects, want only his own", len(p.IDs))
	}
	n = counter.Count()
	got, err = w.Projects.FindProjectsByMembers(ctx, []string{"junk"}, switchyard.PageArgs{})
	if err != nil || len(got) != 0 || counter.Count() != n {
		t.Errorf("junk ids: %v, %v, %d statements", got, err, counter.Count()-n)
	}
}

func TestFindProjectMembers(t *testing.T) {
	t.Parallel()
	counter := &statementCounter{}
	db := newTestDB(t, WithQueryTracer(counter))
	w := &world{DB: db, Users: NewUserService(db), Projects: NewProjectService(db)}
	bg := context.Background()
	owner := mustCreateUser(t, w.Users, "Owner", "")
	stranger := mustCreateUser(t, w.Users, "Stranger", "")
	var joined []*switchyard.User
	for i := 0; i < 7; i++ {
		joined = append(joined, mustCreateUser(t, w.Users, fmt.Sprintf("Joiner %d", i), ""))
	}
	big := mustCreateProject(t, w.Projects, "Big", owner, joined...)
	small := mustCreateProject(t, w.Projects, "Small", owner, joined[0])
	empty := mustCreateProject(t, w.Projects, "Empty", owner)
	foreign := mustCreateProject(t, w.Projects, "Foreign", stranger, joined[1])
	// Two members added at the same instant: ties break on user id.
	if _, err := db.Pool().Exec(bg, `UPDATE project_members SET added_at = (SELECT added_at FROM project_members WHERE project_id = $1 AND user_id = $2)
		WHERE project_id = $1 AND user_id = $3`, big.ID, joined[2].ID, joined[3].ID); err != nil {
		t.Fatal(err)
	}
	want := make([]string, 0, len(joined))
	for _, u := range joined {
		want = append(want, u.ID)
	}
	if want[2] > want[3] {
		want[2], want[3] = want[3], want[2]
	}
	// A deleted member is gone from every list.
	gone := joined[6]
	if err := w.Users.DeleteUser(adminCtx(bg), gone.ID); err != nil {
		t.Fatal(err)
	}
	want = want[:6]

	ctx := userCtx(bg, owner)
	n := counter.Count()
	got, err := w.Projects.FindProjectMembers(ctx, []string{big.ID, small.ID, empty.ID, foreign.ID, "junk", strings.ToUpper(big.ID)}, switchyard.PageArgs{First: ptr(4)})
	if err != nil {
		t.Fatal(err)
	}
	if d := counter.Count() - n; d != 1 {
		t.Errorf("ran %d statements, want 1", d)
	}
	if _, ok := got[foreign.ID]; ok || len(got) != 4 {
		t.Fatalf("answered %d projects; an unreadable one must be left out", len(got))
	}
	bigPage, _ := userPage(got[big.ID], nil)
	if !slices.Equal(bigPage.IDs, want[:4]) || !bigPage.Info.HasNextPage {
		t.Errorf("Big's first page: %+v", bigPage)
	}
	if upper, _ := userPage(got[strings.ToUpper(big.ID)], nil); !slices.Equal(upper.IDs, bigPage.IDs) {
		t.Errorf("the upper-case spelling of Big's id answers %v", upper.IDs)
	}
	if p, _ := userPage(got[small.ID], nil); !slices.Equal(p.IDs, []string{joined[0].ID}) || p.Info.HasNextPage {
		t.Errorf("Small's page: %+v", p)
	}
	if c := got[empty.ID]; c == nil || len(c.Edges) != 0 || c.PageInfo.HasNextPage || c.Filter.MemberOfProjectID == nil {
		t.Errorf("Empty's page: %+v", c)
	}
	for _, p := range []*switchyard.Project{big, small, empty} {
		c := got[p.ID]
		if c.Filter.MemberOfProjectID == nil || *c.Filter.MemberOfProjectID != p.ID {
			t.Fatalf("%s's page filter %+v", p.Name, c.Filter)
		}
		total, err := w.Users.CountUsers(ctx, c.Filter)
		members, _ := w.Projects.FindProjectMembers(ctx, []string{p.ID}, switchyard.PageArgs{First: ptr(100)})
		if err != nil || total != len(members[p.ID].Edges) {
			t.Errorf("%s: totalCount %d, %v; members %d", p.Name, total, err, len(members[p.ID].Edges))
		}
	}
	fetch := func(p switchyard.PageArgs) (pageOf, error) {
		m, err := w.Projects.FindProjectMembers(ctx, []string{small.ID, big.ID}, p)
		if err != nil {
			return pageOf{}, err
		}
		return userPage(m[big.ID], nil)
	}
	for _, size := range []int{1, 2, 6} {
		if ids := walkForward(t, size, fetch, nil); !slices.Equal(ids, want) {
			t.Errorf("forward by %d through Big's members: %d ids", size, len(ids))
		}
		if ids := walkBackward(t, size, fetch, nil); !slices.Equal(ids, want) {
			t.Errorf("backward by %d through Big's members: %d ids", size, len(ids))
		}
	}
	// Members of a project read it and so its members; the stranger does not.
	if m, err := w.Projects.FindProjectMembers(userCtx(bg, joined[0]), []string{big.ID}, switchyard.PageArgs{}); err != nil || len(m[big.ID].Edges) != 6 {
		t.Errorf("a member reads Big's members: %v", err)
	}
	if m, err := w.Projects.FindProjectMembers(userCtx(bg, stranger), []string{big.ID}, switchyard.PageArgs{}); err != nil || len(m) != 0 {
		t.Errorf("a stranger reads Big's members: %v, %v", m, err)
	}
}
