package resolvers

import (
	"context"
	"errors"

	"github.com/vikstrous/dataloadgen"

	"github.com/switchyard/switchyard"
)

// loadByID reads one object through a loader; nil without an error means the
// service left it out (missing, or the caller may not read it).
func loadByID[T any](ctx context.Context, l *dataloadgen.Loader[string, *T], id string) (*T, error) {
	v, err := l.Load(ctx, id)
	if errors.Is(err, dataloadgen.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// required is for non-null references (an order's project, a project's
// owner): a reference the caller may not follow is NOT_FOUND on that field.
// The message names no id: the caller may not otherwise know it.
func required[T any](v *T, err error, what string) (*T, error) {
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, switchyard.Errorf(switchyard.ENOTFOUND, "%s not found or not readable", what)
	}
	return v, nil
}

// User

func (r *userResolver) Projects(ctx context.Context, obj *switchyard.User, first *int, after *string) (*switchyard.ProjectConnection, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	return l.memberProjects.load(ctx, obj.ID, page(first, after, nil, nil))
}

func (r *userResolver) Orders(ctx context.Context, obj *switchyard.User, first *int, after *string, filter *switchyard.OrderFilter) (*switchyard.OrderConnection, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	return l.customerOrders.load(ctx, obj.ID, orderListArgs{Filter: deref(filter), Page: page(first, after, nil, nil), Order: orderOrder(nil)})
}

func (r *userConnectionResolver) TotalCount(ctx context.Context, obj *switchyard.UserConnection) (int, error) {
	return r.Resolver.Users.CountUsers(ctx, obj.Filter)
}

// Project

func (r *projectResolver) Owner(ctx context.Context, obj *switchyard.Project) (*switchyard.User, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	u, err := loadByID(ctx, l.user, obj.OwnerID)
	return required(u, err, "owner")
}

func (r *projectResolver) Members(ctx context.Context, obj *switchyard.Project, first *int, after *string) (*switchyard.UserConnection, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	return l.projectMembers.load(ctx, obj.ID, page(first, after, nil, nil))
}

func (r *projectResolver) Orders(ctx context.Context, obj *switchyard.Project, first *int, after *string, last *int, before *string, filter *switchyard.OrderFilter, orderBy *switchyard.OrderOrder) (*switchyard.OrderConnection, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	return l.projectOrders.load(ctx, obj.ID, orderListArgs{Filter: deref(filter), Page: page(first, after, last, before), Order: orderOrder(orderBy)})
}

func (r *projectConnectionResolver) TotalCount(ctx context.Context, obj *switchyard.ProjectConnection) (int, error) {
	return r.Resolver.Projects.CountProjects(ctx, obj.Filter)
}

// Order

func (r *orderResolver) Project(ctx context.Context, obj *switchyard.Order) (*switchyard.Project, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	return loadByID(ctx, l.project, obj.ProjectID)
}

func (r *orderResolver) Customer(ctx context.Context, obj *switchyard.Order) (*switchyard.User, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	u, err := loadByID(ctx, l.user, obj.CustomerID)
	return required(u, err, "customer")
}

func (r *orderResolver) Total(ctx context.Context, obj *switchyard.Order) (*switchyard.Money, error) {
	m := obj.TotalMoney()
	return &m, nil
}

// Items and History come from FindOrderItems/FindOrderHistory, which do not
// check access: obj was already read through OrderService, which did.
func (r *orderResolver) Items(ctx context.Context, obj *switchyard.Order) ([]*switchyard.OrderItem, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	return l.items.Load(ctx, obj.ID)
}

func (r *orderResolver) History(ctx context.Context, obj *switchyard.Order) ([]*switchyard.OrderStatusChange, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	return l.history.Load(ctx, obj.ID)
}

func (r *orderConnectionResolver) TotalCount(ctx context.Context, obj *switchyard.OrderConnection) (int, error) {
	return r.Resolver.Orders.CountOrders(ctx, obj.Filter)
}

func (r *orderItemResolver) UnitPrice(ctx context.Context, obj *switchyard.OrderItem) (*switchyard.Money, error) {
	return &switchyard.Money{Amount: obj.UnitPrice, Currency: obj.Currency}, nil
}

func (r *orderItemResolver) LineTotal(ctx context.Context, obj *switchyard.OrderItem) (*switchyard.Money, error) {
	return &switchyard.Money{Amount: obj.LineTotal, Currency: obj.Currency}, nil
}

// Actor is nullable: a change by the system has none, and an actor the caller
// may not read (say, an admin) is shown as no one rather than as an error.
func (r *orderStatusChangeResolver) Actor(ctx context.Context, obj *switchyard.OrderStatusChange) (*switchyard.User, error) {
	if obj.ActorID == nil {
		return nil, nil
	}
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	return loadByID(ctx, l.user, *obj.ActorID)
}
