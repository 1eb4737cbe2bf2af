package resolvers

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/graph"
)

func (r *Resolver) TopCustomer() graph.TopCustomerResolver { return &topCustomerResolver{r} }

func (r *Resolver) IntegrationDeliveryHealth() graph.IntegrationDeliveryHealthResolver {
	return &integrationDeliveryHealthResolver{r}
}

type (
	topCustomerResolver               struct{ *Resolver }
	integrationDeliveryHealthResolver struct{ *Resolver }
)

// errNoAnalytics means the server was built without an AnalyticsService.
var errNoAnalytics = errors.New("resolvers: analytics are not configured (Resolver.Analytics is nil)")

// Analytics asks for the top customers and the integration health only when
// the query selects them: the top customers are the most expensive part of
// the answer.
func (r *queryResolver) Analytics(ctx context.Context, projectID *string, rng switchyard.AnalyticsRange, granularity *switchyard.Granularity, timeZone *string) (*switchyard.Analytics, error) {
	if r.Resolver.Analytics == nil {
		return nil, errNoAnalytics
	}
	return r.Resolver.Analytics.Analytics(ctx, switchyard.AnalyticsQuery{
		ProjectID:             projectID,
		Range:                 rng,
		Granularity:           deref(granularity),
		TimeZone:              deref(timeZone),
		SkipTopCustomers:      !selects(ctx, "topCustomers"),
		SkipIntegrationHealth: !selects(ctx, "integrationHealth"),
	})
}

// selects reports whether the current field's selection set asks for the
// field name, directly or through a fragment.
func selects(ctx context.Context, name string) bool {
	for _, f := range graphql.CollectFieldsCtx(ctx, nil) {
		if f.Name == name {
			return true
		}
	}
	return false
}

// Customer is null for a customer the caller may no longer read, such as a
// deleted user: their orders still count.
func (r *topCustomerResolver) Customer(ctx context.Context, obj *switchyard.TopCustomer) (*switchyard.User, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	return loadByID(ctx, l.user, obj.CustomerID)
}

// Integration is read through the integration service like every other
// integration field, so all the entries of a dashboard are one batched read;
// null when the integration was deleted after the numbers were read.
func (r *integrationDeliveryHealthResolver) Integration(ctx context.Context, obj *switchyard.IntegrationDeliveryHealth) (*switchyard.Integration, error) {
	l, err := r.integrationLoaders(ctx)
	if err != nil {
		return nil, err
	}
	return loadByID(ctx, l.integration, obj.IntegrationID)
}
