package switchyard

import (
	"context"
	"strings"
	"time"
)

// ProjectStatus is a project's lifecycle state. DELETED projects are visible to
// admins only.
type ProjectStatus string

const (
	ProjectActive   ProjectStatus = "ACTIVE"
	ProjectArchived ProjectStatus = "ARCHIVED"
	ProjectDeleted  ProjectStatus = "DELETED"
)

// Valid reports whether s is a known status.
func (s ProjectStatus) Valid() bool {
	return s == ProjectActive || s == ProjectArchived || s == ProjectDeleted
}

// Project groups orders and integrations under one owner and its members.
type Project struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Description *string       `json:"description"`
	Status      ProjectStatus `json:"status"`
	OwnerID     string        `json:"ownerId"`
	CreatedAt   time.Time     `json:"createdAt"`
	UpdatedAt   time.Time     `json:"updatedAt"`
}

// ProjectFilter narrows a list of projects. Zero fields do not filter.
type ProjectFilter struct {
	Status  *ProjectStatus
	OwnerID *string
	// Search matches name or description, case-insensitively, as a substring.
	Search *string
	// MemberID keeps the projects that user owns or belongs to; set by
	// User.projects.
	MemberID *string
}

// ProjectOrderField is what a list of projects is sorted by.
type ProjectOrderField string

const (
	ProjectOrderCreatedAt ProjectOrderField = "CREATED_AT"
	ProjectOrderName      ProjectOrderField = "NAME"
)

// ProjectOrder sorts a list of projects; ties break on id.
type ProjectOrder struct {
	Field     ProjectOrderField
	Direction SortDirection
}

// ProjectCreate is the input of ProjectService.CreateProject.
type ProjectCreate struct {
	Name        string
	Description *string
	// OwnerID defaults to the caller; only admins may name someone else.
	OwnerID *string
}

// Validate normalizes the input and returns EINVALID naming the first bad field.
func (p *ProjectCreate) Validate() error {
	p.Name = strings.TrimSpace(p.Name)
	if err := validateName("input.name", p.Name); err != nil {
		return err
	}
	return validateDescription("input.description", p.Description)
}

// ProjectUpdate is the input of ProjectService.UpdateProject; nil fields stay.
type ProjectUpdate struct {
	Name        *string
	Description *string
	Status      *ProjectStatus
}

// Validate normalizes the input and returns EINVALID naming the first bad field.
func (p *ProjectUpdate) Validate() error {
	if p.Name != nil {
		n := strings.TrimSpace(*p.Name)
		p.Name = &n
		if err := validateName("input.name", n); err != nil {
			return err
		}
	}
	if p.Status != nil && (!p.Status.Valid() || *p.Status == ProjectDeleted) {
		return InvalidField("input.status", "status must be ACTIVE or ARCHIVED; use deleteProject to delete")
	}
	return validateDescription("input.description", p.Description)
}

func validateDescription(field string, d *string) error {
	if d != nil && len([]rune(*d)) > 5000 {
		return InvalidField(field, "description must be at most 5000 characters")
	}
	return nil
}

// ProjectConnection is one page of projects.
type ProjectConnection struct {
	Edges    []ProjectEdge
	PageInfo PageInfo
	Filter   ProjectFilter
}

// ProjectEdge is a project and its cursor.
type ProjectEdge struct {
	Cursor string
	Node   *Project
}

// ProjectService reads and changes projects. A member reads the projects they
// own or belong to (never DELETED ones); an admin reads all. Projects the caller
// may not read answer exactly as projects that do not exist. Changing a project
// or its members takes its owner or an admin.
type ProjectService interface {
	// FindProjectByID returns the project with id.
	// Returns ENOTFOUND if it does not exist or the caller may not read it.
	FindProjectByID(ctx context.Context, id string) (*Project, error)

	// FindProjectsByIDs returns the readable projects among ids, in no
	// particular order. One round trip.
	FindProjectsByIDs(ctx context.Context, ids []string) ([]*Project, error)

	// FindProjects returns one page of readable projects matching filter.
	// Returns EUNAUTHENTICATED for an anonymous caller, EINVALID for bad page
	// arguments or cursor.
	FindProjects(ctx context.Context, filter ProjectFilter, page PageArgs, order ProjectOrder) (*ProjectConnection, error)

	// FindProjectsByMembers returns, for each user id, one page of the readable
	// projects that user owns or belongs to. One round trip for all users.
	FindProjectsByMembers(ctx context.Context, userIDs []string, page PageArgs) (map[string]*ProjectConnection, error)

	// CountProjects counts readable projects matching filter.
	CountProjects(ctx context.Context, filter ProjectFilter) (int, error)

	// FindProjectMembers returns, for each readable project id, one page of its
	// members (not its owner) ordered by when they were added. Each page's
	// Filter has MemberOfProjectID set, so UserService.CountUsers counts it.
	// One round trip.
	FindProjectMembers(ctx context.Context, projectIDs []string, page PageArgs) (map[string]*UserConnection, error)

	// CreateProject creates an ACTIVE project owned by the caller (or, for an
	// admin, by input.OwnerID).
	// Returns EUNAUTHENTICATED, EINVALID, EFORBIDDEN if a member names another
	// owner, ENOTFOUND if the owner does not exist.
	CreateProject(ctx context.Context, input ProjectCreate) (*Project, error)

	// UpdateProject changes a project.
	// Returns ENOTFOUND, EFORBIDDEN for members who do not own it, EINVALID.
	UpdateProject(ctx context.Context, id string, input ProjectUpdate) (*Project, error)

	// ArchiveProject sets a project ARCHIVED. Archiving an archived project is a
	// no-op. Returns ENOTFOUND, EFORBIDDEN.
	ArchiveProject(ctx context.Context, id string) (*Project, error)

	// DeleteProject sets a project DELETED; its orders stay for the record.
	// Returns ENOTFOUND, EFORBIDDEN.
	DeleteProject(ctx context.Context, id string) (*Project, error)

	// AddProjectMember adds userID to the project; adding a member twice is a
	// no-op. Returns ENOTFOUND for an unknown project or user, EFORBIDDEN,
	// EINVALID when userID is the owner.
	AddProjectMember(ctx context.Context, projectID, userID string) (*Project, error)

	// RemoveProjectMember removes userID from the project; removing a
	// non-member is a no-op. Returns ENOTFOUND, EFORBIDDEN.
	RemoveProjectMember(ctx context.Context, projectID, userID string) (*Project, error)
}
