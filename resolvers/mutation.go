package resolvers

import (
	"context"

	"github.com/switchyard/switchyard"
)

// Every mutation empties the operation's loaders when it returns: a later field
// of the same operation (the mutation's payload, or a second mutation) must not
// read what this one just changed from a cache filled before it.

func (r *mutationResolver) CreateUser(ctx context.Context, input switchyard.UserCreate) (*switchyard.User, error) {
	defer forget(ctx)
	return r.Resolver.Users.CreateUser(ctx, input)
}

func (r *mutationResolver) UpdateUser(ctx context.Context, id string, input switchyard.UserUpdate) (*switchyard.User, error) {
	defer forget(ctx)
	return r.Resolver.Users.UpdateUser(ctx, id, input)
}

func (r *mutationResolver) DeleteUser(ctx context.Context, id string) (string, error) {
	defer forget(ctx)
	if err := r.Resolver.Users.DeleteUser(ctx, id); err != nil {
		return "", err
	}
	return id, nil
}

func (r *mutationResolver) CreateProject(ctx context.Context, input switchyard.ProjectCreate) (*switchyard.Project, error) {
	defer forget(ctx)
	return r.Resolver.Projects.CreateProject(ctx, input)
}

func (r *mutationResolver) UpdateProject(ctx context.Context, id string, input switchyard.ProjectUpdate) (*switchyard.Project, error) {
	defer forget(ctx)
	return r.Resolver.Projects.UpdateProject(ctx, id, input)
}

func (r *mutationResolver) ArchiveProject(ctx context.Context, id string) (*switchyard.Project, error) {
	defer forget(ctx)
	return r.Resolver.Projects.ArchiveProject(ctx, id)
}

func (r *mutationResolver) DeleteProject(ctx context.Context, id string) (*switchyard.Project, error) {
	defer forget(ctx)
	return r.Resolver.Projects.DeleteProject(ctx, id)
}

func (r *mutationResolver) AddProjectMember(ctx context.Context, projectID string, userID string) (*switchyard.Project, error) {
	defer forget(ctx)
	return r.Resolver.Projects.AddProjectMember(ctx, projectID, userID)
}

func (r *mutationResolver) RemoveProjectMember(ctx context.Context, projectID string, userID string) (*switchyard.Project, error) {
	defer forget(ctx)
	return r.Resolver.Projects.RemoveProjectMember(ctx, projectID, userID)
}

func (r *mutationResolver) CreateOrder(ctx context.Context, input switchyard.OrderCreate) (*switchyard.Order, error) {
	defer forget(ctx)
	return r.Resolver.Orders.CreateOrder(ctx, input)
}

func (r *mutationResolver) UpdateOrderStatus(ctx context.Context, id string, status switchyard.OrderStatus, note *string) (*switchyard.Order, error) {
	defer forget(ctx)
	return r.Resolver.Orders.UpdateOrderStatus(ctx, id, status, note)
}

func (r *mutationResolver) SetOrderShipment(ctx context.Context, id string, input switchyard.Shipment) (*switchyard.Order, error) {
	defer forget(ctx)
	return r.Resolver.Orders.SetOrderShipment(ctx, id, input)
}

func (r *mutationResolver) CancelOrder(ctx context.Context, id string, reason *string) (*switchyard.Order, error) {
	defer forget(ctx)
	return r.Resolver.Orders.CancelOrder(ctx, id, reason)
}
