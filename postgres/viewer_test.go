package postgres

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard/switchyard"
)

func TestLoadViewer(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := adminCtx(context.Background())
	// Owner owns Project, Second, Third and the deleted Gone; Member
	// belongs to Project, Second and Gone; Removed was in Second and is in
	// Third; Ghost was in Third and is deleted.
	removed := mustCreateUser(t, w.Users, "Rita Removed", "")
	ghost := mustCreateUser(t, w.Users, "Gus Ghost", "")
	second := mustCreateProject(t, w.Projects, "Second", w.Owner, w.Member, removed)
	third := mustCreateProject(t, w.Projects, "Third", w.Owner, removed, ghost)
	if _, err := w.Projects.RemoveProjectMember(ctx, second.ID, removed.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.Users.DeleteUser(ctx, ghost.ID); err != nil {
		t.Fatal(err)
	}
	gone := mustCreateProject(t, w.Projects, "Gone", w.Owner, w.Member)
	if _, err := w.Projects.DeleteProject(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		id       string
		admin    bool
		projects []string
		want     string
	}{
		{"owner", w.Owner.ID, false, []string{w.Project.ID, second.ID, third.ID}, ""},
		{"member", w.Member.ID, false, []string{w.Project.ID, second.ID}, ""},
		{"other tenant", w.Other.ID, false, []string{w.OtherProject.ID}, ""},
		{"removed member", removed.ID, false, []string{third.ID}, ""},
		{"in no project", w.Loner.ID, false, nil, ""},
		{"admin", w.Admin.ID, true, nil, ""},
		{"upper-case id", strings.ToUpper(w.Member.ID), false, []string{w.Project.ID, second.ID}, ""},
		{"deleted user", ghost.ID, false, nil, switchyard.EUNAUTHENTICATED},
		{"unknown user", "5f0c3e0a-8d52-4c1b-9b1e-2f0d9a7c0e11", false, nil, switchyard.EUNAUTHENTICATED},
		{"malformed id", "me", false, nil, switchyard.EUNAUTHENTICATED},
		{"empty id", "", false, nil, switchyard.EUNAUTHENTICATED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// No caller: routing loads viewers outside any request.
			v, err := w.Users.LoadViewer(context.Background(), tt.id)
			wantCode(t, err, tt.want)
			if err != nil {
				return
			}
			if v.UserID != strings.ToLower(tt.id) || v.Admin != tt.admin {
				t.Errorf("viewer %+v, want user %s admin %v", v, tt.id, tt.admin)
			}
			got := slices.Sorted(maps.Keys(v.ProjectIDs))
			want := slices.Sorted(slices.Values(tt.projects))
			if !slices.Equal(got, want) {
				t.Errorf("projects %v, want %v", got, want)
			}
			if slices.Contains(got, gone.ID) {
				t.Errorf("a DELETED project is visible")
			}
		})
	}
}
