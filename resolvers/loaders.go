package resolvers

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/switchyard/switchyard"
)

type loadersKey struct{}

// loaders batch the reads of one operation: every field that asks for a user,
// a project's orders or an order's items during one tick of execution shares
// one service call, so a nested list costs the same number of statements
// whatever its page size.
type loaders struct {
	user    *dataloadgen.Loader[string, *switchyard.User]
	project *dataloadgen.Loader[string, *switchyard.Project]
	order   *dataloadgen.Loader[string, *switchyard.Order]
	items   *dataloadgen.Loader[string, []*switchyard.OrderItem]
	history *dataloadgen.Loader[string, []*switchyard.OrderStatusChange]

	projectOrders  *connLoader[orderListArgs, *switchyard.OrderConnection]
	customerOrders *connLoader[orderListArgs, *switchyard.OrderConnection]
	memberProjects *connLoader[switchyard.PageArgs, *switchyard.ProjectConnection]
	projectMembers *connLoader[switchyard.PageArgs, *switchyard.UserConnection]

	integrations *integrationLoaders
}

// orderListArgs are the arguments of a nested list of orders.
type orderListArgs struct {
	Filter switchyard.OrderFilter
	Page   switchyard.PageArgs
	Order  switchyard.OrderOrder
}

// WithLoaders returns ctx carrying a fresh set of loaders. Call it once per
// response, after the caller is in ctx: loaders cache what they read with that
// caller's rights, so they must never be shared between operations or callers.
//
// Per response rather than per operation because of subscriptions: each event
// is one response of a long-lived operation, and the fields under its payload
// (an order's items, customer, project) must be read fresh for that event, not
// served from a cache filled for an earlier one. gqlgen resolves a response's
// fields with the context its response interceptors pass on, so the server
// calls WithLoaders from an AroundResponses hook; a query or mutation has one
// response, so for them nothing changes.
func (r *Resolver) WithLoaders(ctx context.Context) context.Context {
	return context.WithValue(ctx, loadersKey{}, &lazyLoaders{r: r})
}

// lazyLoaders builds an operation's loaders on first use: most subscription
// responses never touch one, and an idle subscription keeps its pending
// response's set for as long as it waits.
type lazyLoaders struct {
	once sync.Once
	r    *Resolver
	l    *loaders
}

func (z *lazyLoaders) get() *loaders {
	z.once.Do(func() { z.l = z.r.newLoaders() })
	return z.l
}

func (r *Resolver) newLoaders() *loaders {
	wait := r.LoaderWait
	if wait <= 0 {
		wait = DefaultLoaderWait
	}
	opt := dataloadgen.WithWait(wait)
	l := &loaders{
		user: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]*switchyard.User, error) {
			return byID(r.Users.FindUsersByIDs(ctx, ids))(func(u *switchyard.User) string { return u.ID })
		}, opt),
		project: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]*switchyard.Project, error) {
			return byID(r.Projects.FindProjectsByIDs(ctx, ids))(func(p *switchyard.Project) string { return p.ID })
		}, opt),
		order: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]*switchyard.Order, error) {
			return byID(r.Orders.FindOrdersByIDs(ctx, ids))(func(o *switchyard.Order) string { return o.ID })
		}, opt),
		// An order without items or history is not an error: it answers an
		// empty list.
		items: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([][]*switchyard.OrderItem, []error) {
			return spread(ids, func() (map[string][]*switchyard.OrderItem, error) { return r.Orders.FindOrderItems(ctx, ids) })
		}, opt),
		history: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([][]*switchyard.OrderStatusChange, []error) {
			return spread(ids, func() (map[string][]*switchyard.OrderStatusChange, error) { return r.Orders.FindOrderHistory(ctx, ids) })
		}, opt),

		projectOrders: newConnLoader(wait,
			func(ctx context.Context, ids []string, a orderListArgs) (map[string]*switchyard.OrderConnection, error) {
				return r.Orders.FindOrdersByProjects(ctx, ids, a.Filter, a.Page, a.Order)
			},
			func(id string, a orderListArgs) *switchyard.OrderConnection {
				f := a.Filter
				f.ProjectID = &id
				return &switchyard.OrderConnection{Edges: []switchyard.OrderEdge{}, Filter: f}
			}),
		customerOrders: newConnLoader(wait,
			func(ctx context.Context, ids []string, a orderListArgs) (map[string]*switchyard.OrderConnection, error) {
				return r.Orders.FindOrdersByCustomers(ctx, ids, a.Filter, a.Page, a.Order)
			},
			func(id string, a orderListArgs) *switchyard.OrderConnection {
				f := a.Filter
				f.CustomerID = &id
				return &switchyard.OrderConnection{Edges: []switchyard.OrderEdge{}, Filter: f}
			}),
		memberProjects: newConnLoader(wait,
			func(ctx context.Context, ids []string, p switchyard.PageArgs) (map[string]*switchyard.ProjectConnection, error) {
				return r.Projects.FindProjectsByMembers(ctx, ids, p)
			},
			func(id string, _ switchyard.PageArgs) *switchyard.ProjectConnection {
				return &switchyard.ProjectConnection{Edges: []switchyard.ProjectEdge{}, Filter: switchyard.ProjectFilter{MemberID: &id}}
			}),
		projectMembers: newConnLoader(wait,
			func(ctx context.Context, ids []string, p switchyard.PageArgs) (map[string]*switchyard.UserConnection, error) {
				return r.Projects.FindProjectMembers(ctx, ids, p)
			},
			func(id string, _ switchyard.PageArgs) *switchyard.UserConnection {
				return &switchyard.UserConnection{Edges: []switchyard.UserEdge{}, Filter: switchyard.UserFilter{MemberOfProjectID: &id}}
			}),
	}
	l.integrations = r.newIntegrationLoaders(wait)
	return l
}

// byID indexes a service's answer by id; ids it left out (missing or
// unreadable) become dataloadgen.ErrNotFound for their callers.
func byID[T any](list []*T, err error) func(id func(*T) string) (map[string]*T, error) {
	return func(id func(*T) string) (map[string]*T, error) {
		if err != nil {
			return nil, err
		}
		m := make(map[string]*T, len(list))
		for _, v := range list {
			m[id(v)] = v
		}
		return m, nil
	}
}

// spread turns a map answer into the positional answer dataloadgen wants,
// with an empty list for ids the map leaves out.
func spread[V any](ids []string, fetch func() (map[string][]V, error)) ([][]V, []error) {
	got, err := fetch()
	if err != nil {
		return nil, []error{err}
	}
	out := make([][]V, len(ids))
	for i, id := range ids {
		if v, ok := got[id]; ok && v != nil {
			out[i] = v
		} else {
			out[i] = []V{}
		}
	}
	return out, nil
}

// connKey identifies one nested page: the parent and the field's arguments,
// encoded so the key stays comparable.
type connKey struct {
	parent string
	args   string
}

// connLoader batches a nested connection field. Parents asking with the same
// arguments share one service call; different arguments (aliases with other
// page sizes or filters) get one call each.
type connLoader[A, C any] struct {
	mu     sync.Mutex
	byArgs map[string]A
	loader *dataloadgen.Loader[connKey, C]
}

func newConnLoader[A, C any](
	wait time.Duration,
	fetch func(ctx context.Context, parents []string, args A) (map[string]C, error),
	empty func(parent string, args A) C,
) *connLoader[A, C] {
	c := &connLoader[A, C]{byArgs: map[string]A{}}
	c.loader = dataloadgen.NewLoader(func(ctx context.Context, keys []connKey) ([]C, []error) {
		values := make([]C, len(keys))
		errs := make([]error, len(keys))
		groups := map[string][]int{}
		var order []string
		for i, k := range keys {
			if _, ok := groups[k.args]; !ok {
				order = append(order, k.args)
			}
			groups[k.args] = append(groups[k.args], i)
		}
		for _, enc := range order {
			positions := groups[enc]
			c.mu.Lock()
			args := c.byArgs[enc]
			c.mu.Unlock()
			parents := make([]string, len(positions))
			for j, i := range positions {
				parents[j] = keys[i].parent
			}
			got, err := fetch(ctx, parents, args)
			for _, i := range positions {
				if err != nil {
					errs[i] = err
					continue
				}
				v, ok := got[keys[i].parent]
				if !ok {
					v = empty(keys[i].parent, args)
				}
				values[i] = v
			}
		}
		return values, errs
	}, dataloadgen.WithWait(wait))
	return c
}

func (c *connLoader[A, C]) load(ctx context.Context, parent string, args A) (C, error) {
	enc, err := json.Marshal(args)
	if err != nil {
		var zero C
		return zero, fmt.Errorf("resolvers: encode arguments: %w", err)
	}
	c.mu.Lock()
	c.byArgs[string(enc)] = args
	c.mu.Unlock()
	return c.loader.Load(ctx, connKey{parent: parent, args: string(enc)})
}

// forget empties every cache of the operation's loaders.
func forget(ctx context.Context) {
	z, ok := ctx.Value(loadersKey{}).(*lazyLoaders)
	if !ok {
		return
	}
	l := z.get()
	l.user.ClearAll()
	l.project.ClearAll()
	l.order.ClearAll()
	l.items.ClearAll()
	l.history.ClearAll()
	l.projectOrders.loader.ClearAll()
	l.customerOrders.loader.ClearAll()
	l.memberProjects.loader.ClearAll()
	l.projectMembers.loader.ClearAll()
	l.integrations.clearAll()
}
