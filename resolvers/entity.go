package resolvers

import (
	"context"

	"github.com/switchyard/switchyard"
)

// Federation _entities lookups go through the same services, and so the same
// authorization, as direct queries, batched by the operation's loaders. An id
// that is unknown or unreadable resolves to null, as a direct lookup does.

func (r *entityResolver) FindUserByID(ctx context.Context, id string) (*switchyard.User, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	return loadByID(ctx, l.user, id)
}

func (r *entityResolver) FindProjectByID(ctx context.Context, id string) (*switchyard.Project, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	return loadByID(ctx, l.project, id)
}

func (r *entityResolver) FindOrderByID(ctx context.Context, id string) (*switchyard.Order, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	return loadByID(ctx, l.order, id)
}
