// Package switchyard holds the domain of the Switchyard GraphQL server: its types,
// the inputs and filters callers send, the service interfaces (ports) that adapters
// implement, the error vocabulary and the caller carried in the context.
//
// It imports only the standard library. Every other package points toward it:
// postgres, realtime, search and integrations implement its interfaces; resolvers
// and server consume them; cmd/switchyard wires one to the other.
package switchyard

import (
	"context"
	"time"
)

// Role is a user's role. ADMIN sees everything; MEMBER sees what they own, belong
// to, or ordered.
type Role string

const (
	RoleAdmin  Role = "ADMIN"
	RoleMember Role = "MEMBER"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleMember }

// Caller is the principal on whose behalf a request runs. A nil *Caller is the
// anonymous caller.
type Caller struct {
	UserID string
	Email  string
	Role   Role
	// ExpiresAt is when the credential that authenticated the caller stops being
	// valid; zero means it does not expire. Long-lived subscriptions end there.
	ExpiresAt time.Time
	// Partner is set for a partner authenticated by an API key; UserID, Email
	// and Role are then empty. See PartnerCaller.
	Partner *PartnerCaller
}

// IsAdmin reports whether the caller may see and change everything.
func (c *Caller) IsAdmin() bool { return c != nil && c.Role == RoleAdmin }

type callerKey struct{}

// NewContextWithCaller returns a context that carries the caller.
func NewContextWithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFromContext returns the caller in ctx, or nil for an anonymous caller.
func CallerFromContext(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// RequireCaller returns the caller in ctx, or EUNAUTHENTICATED when there is none.
func RequireCaller(ctx context.Context) (*Caller, error) {
	c := CallerFromContext(ctx)
	if c == nil {
		return nil, Errorf(EUNAUTHENTICATED, "authentication required")
	}
	return c, nil
}

// CallerResolver turns a verified credential's subject into a caller, so a
// deleted user or a changed role takes effect on the next request rather than
// when the token expires.
type CallerResolver interface {
	// ResolveCaller returns the caller for the user with id userID.
	// Returns EUNAUTHENTICATED if the user does not exist or was deleted.
	ResolveCaller(ctx context.Context, userID string) (*Caller, error)
}

// IsEntity marks the federation entities (types with @key in the schema); the
// generated federation code requires it of every entity model.
func (User) IsEntity()    {}
func (Project) IsEntity() {}
func (Order) IsEntity()   {}
