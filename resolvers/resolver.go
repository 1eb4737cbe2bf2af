// Package resolvers holds Switchyard's hand-written GraphQL resolvers and the
// per-operation loaders that batch their reads.
//
// Resolvers are thin: they read the caller and the arguments, convert input,
// make one service call and shape the payload. Authorization lives in the
// services, so every path here (queries, nested fields, federation _entities)
// answers under the same rules.
package resolvers

import (
	"context"
	"errors"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/graph"
)

// Resolver is the root of the resolver tree.
type Resolver struct {
	Users    switchyard.UserService
	Projects switchyard.ProjectService
	Orders   switchyard.OrderService

	// Notifications reads and marks the caller's own notifications.
	Notifications switchyard.NotificationService
	// Events opens the live streams subscriptions adapt.
	Events switchyard.EventStream
	// Tickets issues the credentials of the plain event stream.
	Tickets switchyard.TicketService
	// Integrations reads and manages integrations, their keys and deliveries.
	Integrations switchyard.IntegrationService
	// Analytics answers Query.analytics.
	Analytics switchyard.AnalyticsService
	// Search answers search and searchSuggest; nil answers
	// SEARCH_UNAVAILABLE. See search.go for the other Search* fields.
	Search switchyard.SearchIndex
	// SearchFreshness tells how far the index has followed the event log,
	// for consistentWith; nil answers such searches without waiting.
	SearchFreshness switchyard.SearchFreshness
	// Viewers reads a member's rights for the index query.
	Viewers switchyard.ViewerLoader
	// SearchWait bounds a consistentWith wait; zero means
	// DefaultSearchWait.
	SearchWait time.Duration
	// PublicURL is the server's public base URL, for Integration.webhookUrl;
	// empty means DefaultPublicURL.
	PublicURL string
	// EventsPath is where the plain event stream is served, for the URL a
	// ticket comes with; empty means DefaultEventsPath.
	EventsPath string

	// LoaderWait is how long a loader collects keys before it fetches them;
	// zero means DefaultLoaderWait.
	LoaderWait time.Duration
}

// DefaultLoaderWait is long enough for gqlgen to start every sibling field of
// one list level, and short enough not to be noticed per nesting level.
const DefaultLoaderWait = 5 * time.Millisecond

// A new field in the schema fails the build here until it is resolved.
var _ graph.ResolverRoot = (*Resolver)(nil)

func (r *Resolver) Entity() graph.EntityResolver {
	return &entityResolver{r}
}

func (r *Resolver) Mutation() graph.MutationResolver {
	return &mutationResolver{r}
}

func (r *Resolver) Query() graph.QueryResolver {
	return &queryResolver{r}
}

func (r *Resolver) User() graph.UserResolver {
	return &userResolver{r}
}

func (r *Resolver) UserConnection() graph.UserConnectionResolver {
	return &userConnectionResolver{r}
}

func (r *Resolver) Project() graph.ProjectResolver {
	return &projectResolver{r}
}

func (r *Resolver) ProjectConnection() graph.ProjectConnectionResolver {
	return &projectConnectionResolver{r}
}

func (r *Resolver) Order() graph.OrderResolver {
	return &orderResolver{r}
}

func (r *Resolver) OrderConnection() graph.OrderConnectionResolver {
	return &orderConnectionResolver{r}
}

func (r *Resolver) OrderItem() graph.OrderItemResolver {
	return &orderItemResolver{r}
}

func (r *Resolver) OrderStatusChange() graph.OrderStatusChangeResolver {
	return &orderStatusChangeResolver{r}
}

func (r *Resolver) Notification() graph.NotificationResolver {
	return &notificationResolver{r}
}

func (r *Resolver) NotificationConnection() graph.NotificationConnectionResolver {
	return &notificationConnectionResolver{r}
}

func (r *Resolver) Subscription() graph.SubscriptionResolver {
	return &subscriptionResolver{r}
}

type (
	entityResolver            struct{ *Resolver }
	mutationResolver          struct{ *Resolver }
	queryResolver             struct{ *Resolver }
	userResolver              struct{ *Resolver }
	userConnectionResolver    struct{ *Resolver }
	projectResolver           struct{ *Resolver }
	projectConnectionResolver struct{ *Resolver }
	orderResolver             struct{ *Resolver }
	orderConnectionResolver   struct{ *Resolver }
	orderItemResolver         struct{ *Resolver }
	orderStatusChangeResolver struct{ *Resolver }

	notificationResolver           struct{ *Resolver }
	notificationConnectionResolver struct{ *Resolver }
	subscriptionResolver           struct{ *Resolver }
)

// nullIfNotFound turns ENOTFOUND into a null result: the schema documents that
// a nullable lookup of something missing or unreadable answers null, not an
// error.
func nullIfNotFound[T any](v *T, err error) (*T, error) {
	if switchyard.ErrorCode(err) == switchyard.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

// page converts Relay arguments.
func page(first *int, after *string, last *int, before *string) switchyard.PageArgs {
	return switchyard.PageArgs{First: first, After: after, Last: last, Before: before}
}

func orderOrder(o *switchyard.OrderOrder) switchyard.OrderOrder {
	if o == nil {
		return switchyard.OrderOrder{Field: switchyard.OrderOrderCreatedAt, Direction: switchyard.SortDesc}
	}
	return *o
}

func projectOrder(o *switchyard.ProjectOrder) switchyard.ProjectOrder {
	if o == nil {
		return switchyard.ProjectOrder{Field: switchyard.ProjectOrderCreatedAt, Direction: switchyard.SortDesc}
	}
	return *o
}

func userOrder(o *switchyard.UserOrder) switchyard.UserOrder {
	if o == nil {
		return switchyard.UserOrder{Field: switchyard.UserOrderCreatedAt, Direction: switchyard.SortDesc}
	}
	return *o
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// errMissingLoaders means the resolver runs outside WithLoaders: a wiring bug,
// reported loudly rather than papered over with unbatched reads.
var errMissingLoaders = errors.New("resolvers: no loaders in context; wrap each operation with (*Resolver).WithLoaders")

func (r *Resolver) loaders(ctx context.Context) (*loaders, error) {
	z, ok := ctx.Value(loadersKey{}).(*lazyLoaders)
	if !ok {
		return nil, errMissingLoaders
	}
	return z.get(), nil
}
