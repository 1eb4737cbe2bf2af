package switchyard

import (
	"context"
	"net/mail"
	"net/url"
	"strings"
	"time"
)

// User is a person who signs in: an admin, a project owner or member, a customer.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	AvatarURL *string   `json:"avatarUrl"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// UserFilter narrows a list of users. Zero fields do not filter.
type UserFilter struct {
	// Search matches name or email, case-insensitively, as a substring.
	Search        *string
	Role          *Role
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
	// MemberOfProjectID keeps the members of one project (not its owner); set
	// by Project.members.
	MemberOfProjectID *string
}

// UserOrderField is what a list of users is sorted by.
type UserOrderField string

const (
	UserOrderCreatedAt UserOrderField = "CREATED_AT"
	UserOrderName      UserOrderField = "NAME"
	UserOrderEmail     UserOrderField = "EMAIL"
)

// UserOrder sorts a list of users; ties break on id.
type UserOrder struct {
	Field     UserOrderField
	Direction SortDirection
}

// UserCreate is the input of UserService.CreateUser.
type UserCreate struct {
	Email     string
	Name      string
	AvatarURL *string
	Role      Role
}

// Validate normalizes the input and returns EINVALID naming the first bad field.
func (u *UserCreate) Validate() error {
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	u.Name = strings.TrimSpace(u.Name)
	if u.Role == "" {
		u.Role = RoleMember
	}
	if err := validateEmail("input.email", u.Email); err != nil {
		return err
	}
	if err := validateName("input.name", u.Name); err != nil {
		return err
	}
	if !u.Role.Valid() {
		return InvalidField("input.role", "unknown role %q", u.Role)
	}
	return validateURL("input.avatarUrl", u.AvatarURL)
}

// UserUpdate is the input of UserService.UpdateUser; nil fields stay as they are.
type UserUpdate struct {
	Email     *string
	Name      *string
	AvatarURL *string
	Role      *Role
}

// Validate normalizes the input and returns EINVALID naming the first bad field.
func (u *UserUpdate) Validate() error {
	if u.Email != nil {
		e := strings.ToLower(strings.TrimSpace(*u.Email))
		u.Email = &e
		if err := validateEmail("input.email", e); err != nil {
			return err
		}
	}
	if u.Name != nil {
		n := strings.TrimSpace(*u.Name)
		u.Name = &n
		if err := validateName("input.name", n); err != nil {
			return err
		}
	}
	if u.Role != nil && !u.Role.Valid() {
		return InvalidField("input.role", "unknown role %q", *u.Role)
	}
	return validateURL("input.avatarUrl", u.AvatarURL)
}

// UserConnection is one page of users.
type UserConnection struct {
	Edges    []UserEdge
	PageInfo PageInfo
	// Filter is the filter the page was read with; totalCount counts it.
	Filter UserFilter
}

// UserEdge is a user and its cursor.
type UserEdge struct {
	Cursor string
	Node   *User
}

// UserService reads and changes users. Every method applies the caller's rights:
// an admin reads every user; a member reads themselves and the users who share a
// project with them or ordered in one of their projects. Users the caller may not
// read answer exactly as users that do not exist.
type UserService interface {
	// FindUserByID returns the user with id.
	// Returns ENOTFOUND if it does not exist or the caller may not read it.
	FindUserByID(ctx context.Context, id string) (*User, error)

	// FindUsersByIDs returns the readable users among ids, in no particular
	// order; missing and unreadable ids are left out. One round trip.
	FindUsersByIDs(ctx context.Context, ids []string) ([]*User, error)

	// FindUsers returns one page of the readable users that match filter.
	// Returns EUNAUTHENTICATED for an anonymous caller, EINVALID for bad page
	// arguments or a malformed cursor.
	FindUsers(ctx context.Context, filter UserFilter, page PageArgs, order UserOrder) (*UserConnection, error)

	// CountUsers counts the readable users that match filter.
	CountUsers(ctx context.Context, filter UserFilter) (int, error)

	// CreateUser creates a user. Admins only.
	// Returns EFORBIDDEN for non-admins, EINVALID for bad input, ECONFLICT if the
	// email is taken.
	CreateUser(ctx context.Context, input UserCreate) (*User, error)

	// UpdateUser changes a user. Admins change anyone; a member changes their own
	// name, email and avatar but never a role.
	// Returns ENOTFOUND, EFORBIDDEN, EINVALID, or ECONFLICT if the email is taken.
	UpdateUser(ctx context.Context, id string, input UserUpdate) (*User, error)

	// DeleteUser deletes a user; their orders keep naming them. Admins only, and
	// never the caller themselves.
	// Returns ENOTFOUND, EFORBIDDEN, or ECONFLICT when the user owns projects.
	DeleteUser(ctx context.Context, id string) error
}

func validateEmail(field, email string) error {
	if email == "" {
		return InvalidField(field, "email must not be empty")
	}
	if len(email) > 254 {
		return InvalidField(field, "email must be at most 254 characters")
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || !strings.Contains(email[strings.LastIndexByte(email, '@'):], ".") {
		return InvalidField(field, "%q is not a valid email address", email)
	}
	return nil
}

func validateName(field, name string) error {
	if name == "" {
		return InvalidField(field, "name must not be empty")
	}
	if len([]rune(name)) > 200 {
		return InvalidField(field, "name must be at most 200 characters")
	}
	return nil
}

func validateURL(field string, raw *string) error {
	if raw == nil || *raw == "" {
		return nil
	}
	u, err := url.Parse(*raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return InvalidField(field, "%q is not an http(s) URL", *raw)
	}
	return nil
}
