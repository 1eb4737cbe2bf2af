package resolvers

import (
	"context"

	"github.com/switchyard/switchyard"
)

// Me answers null for an anonymous caller rather than UNAUTHENTICATED, so a
// client can ask "who am I" without handling an error.
func (r *queryResolver) Me(ctx context.Context) (*switchyard.User, error) {
	c := switchyard.CallerFromContext(ctx)
	if c == nil {
		return nil, nil
	}
	return nullIfNotFound(r.Resolver.Users.FindUserByID(ctx, c.UserID))
}

func (r *queryResolver) User(ctx context.Context, id string) (*switchyard.User, error) {
	return nullIfNotFound(r.Resolver.Users.FindUserByID(ctx, id))
}

func (r *queryResolver) Users(ctx context.Context, filter *switchyard.UserFilter, first *int, after *string, last *int, before *string, orderBy *switchyard.UserOrder) (*switchyard.UserConnection, error) {
	return r.Resolver.Users.FindUsers(ctx, deref(filter), page(first, after, last, before), userOrder(orderBy))
}

func (r *queryResolver) Project(ctx context.Context, id string) (*switchyard.Project, error) {
	return nullIfNotFound(r.Resolver.Projects.FindProjectByID(ctx, id))
}

func (r *queryResolver) Projects(ctx context.Context, filter *switchyard.ProjectFilter, first *int, after *string, last *int, before *string, orderBy *switchyard.ProjectOrder) (*switchyard.ProjectConnection, error) {
	return r.Resolver.Projects.FindProjects(ctx, deref(filter), page(first, after, last, before), projectOrder(orderBy))
}

func (r *queryResolver) Order(ctx context.Context, id string) (*switchyard.Order, error) {
	return nullIfNotFound(r.Resolver.Orders.FindOrderByID(ctx, id))
}

func (r *queryResolver) OrderByNumber(ctx context.Context, number string) (*switchyard.Order, error) {
	return nullIfNotFound(r.Resolver.Orders.FindOrderByNumber(ctx, number))
}

func (r *queryResolver) Orders(ctx context.Context, filter *switchyard.OrderFilter, first *int, after *string, last *int, before *string, orderBy *switchyard.OrderOrder) (*switchyard.OrderConnection, error) {
	return r.Resolver.Orders.FindOrders(ctx, deref(filter), page(first, after, last, before), orderOrder(orderBy))
}
