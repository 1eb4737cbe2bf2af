package resolvers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/graph"
)

// DefaultPublicURL is where the server is reached when no public URL is
// configured: a development server on this machine.
const DefaultPublicURL = "http://localhost:8080"

func (r *Resolver) ApiKey() graph.ApiKeyResolver { return &apiKeyResolver{r} }

func (r *Resolver) Integration() graph.IntegrationResolver { return &integrationResolver{r} }

func (r *Resolver) IntegrationConnection() graph.IntegrationConnectionResolver {
	return &integrationConnectionResolver{r}
}

func (r *Resolver) WebhookDelivery() graph.WebhookDeliveryResolver {
	return &webhookDeliveryResolver{r}
}

func (r *Resolver) WebhookDeliveryConnection() graph.WebhookDeliveryConnectionResolver {
	return &webhookDeliveryConnectionResolver{r}
}

type (
	apiKeyResolver                    struct{ *Resolver }
	integrationResolver               struct{ *Resolver }
	integrationConnectionResolver     struct{ *Resolver }
	webhookDeliveryResolver           struct{ *Resolver }
	webhookDeliveryConnectionResolver struct{ *Resolver }
)

// errNoIntegrations means the server was built without an IntegrationService.
var errNoIntegrations = errors.New("resolvers: integrations are not configured (Resolver.Integrations is nil)")

func (r *Resolver) integrations() (switchyard.IntegrationService, error) {
	if r.Integrations == nil {
		return nil, errNoIntegrations
	}
	return r.Integrations, nil
}

// integrationLoaders batch the integration fields of one response: every
// integration's health, API keys and deliveries, and every project's
// integrations, are one service call per kind whatever the list's size.
type integrationLoaders struct {
	integration *dataloadgen.Loader[string, *switchyard.Integration]
	health      *dataloadgen.Loader[string, *switchyard.IntegrationHealth]
	apiKeys     *dataloadgen.Loader[string, []*switchyard.APIKey]

	projectIntegrations *connLoader[switchyard.PageArgs, *switchyard.IntegrationConnection]
	deliveries          *connLoader[deliveryListArgs, *switchyard.WebhookDeliveryConnection]
}

// deliveryListArgs are the arguments of Integration.deliveries.
type deliveryListArgs struct {
	Filter switchyard.DeliveryFilter
	Page   switchyard.PageArgs
}

func (r *Resolver) newIntegrationLoaders(wait time.Duration) *integrationLoaders {
	opt := dataloadgen.WithWait(wait)
	return &integrationLoaders{
		integration: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]*switchyard.Integration, error) {
			s, err := r.integrations()
			if err != nil {
				return nil, err
			}
			return byID(s.FindIntegrationsByIDs(ctx, ids))(func(i *switchyard.Integration) string { return i.ID })
		}, opt),
		health: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]*switchyard.IntegrationHealth, error) {
			s, err := r.integrations()
			if err != nil {
				return nil, err
			}
			return s.IntegrationHealth(ctx, ids)
		}, opt),
		apiKeys: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([][]*switchyard.APIKey, []error) {
			return spread(ids, func() (map[string][]*switchyard.APIKey, error) {
				s, err := r.integrations()
				if err != nil {
					return nil, err
				}
				return s.FindAPIKeys(ctx, ids)
			})
		}, opt),
		projectIntegrations: newConnLoader(wait,
			func(ctx context.Context, ids []string, p switchyard.PageArgs) (map[string]*switchyard.IntegrationConnection, error) {
				s, err := r.integrations()
				if err != nil {
					return nil, err
				}
				return s.FindIntegrationsByProjects(ctx, ids, p)
			},
			func(id string, _ switchyard.PageArgs) *switchyard.IntegrationConnection {
				return &switchyard.IntegrationConnection{Edges: []switchyard.IntegrationEdge{}, Filter: switchyard.IntegrationFilter{ProjectID: &id}}
			}),
		deliveries: newConnLoader(wait,
			func(ctx context.Context, ids []string, a deliveryListArgs) (map[string]*switchyard.WebhookDeliveryConnection, error) {
				s, err := r.integrations()
				if err != nil {
					return nil, err
				}
				return s.FindDeliveries(ctx, ids, a.Filter, a.Page)
			},
			func(id string, a deliveryListArgs) *switchyard.WebhookDeliveryConnection {
				return &switchyard.WebhookDeliveryConnection{Edges: []switchyard.WebhookDeliveryEdge{}, IntegrationID: id, Filter: a.Filter}
			}),
	}
}

func (l *integrationLoaders) clearAll() {
	l.integration.ClearAll()
	l.health.ClearAll()
	l.apiKeys.ClearAll()
	l.projectIntegrations.loader.ClearAll()
	l.deliveries.loader.ClearAll()
}

func (r *Resolver) integrationLoaders(ctx context.Context) (*integrationLoaders, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	return l.integrations, nil
}

// Queries

func (r *queryResolver) Integration(ctx context.Context, id string) (*switchyard.Integration, error) {
	s, err := r.integrations()
	if err != nil {
		return nil, err
	}
	return nullIfNotFound(s.FindIntegrationByID(ctx, id))
}

func (r *queryResolver) Integrations(ctx context.Context, projectID *string, first *int, after *string) (*switchyard.IntegrationConnection, error) {
	s, err := r.integrations()
	if err != nil {
		return nil, err
	}
	return s.FindIntegrations(ctx, switchyard.IntegrationFilter{ProjectID: projectID}, page(first, after, nil, nil))
}

func (r *queryResolver) IntegrationEventTypes(ctx context.Context) ([]string, error) {
	return slices.Clone(switchyard.IntegrationEventTypes), nil
}

func (r *queryResolver) WebhookDelivery(ctx context.Context, id string) (*switchyard.WebhookDelivery, error) {
	s, err := r.integrations()
	if err != nil {
		return nil, err
	}
	return nullIfNotFound(s.FindDeliveryByID(ctx, id))
}

// Mutations. Secrets and keys pass through in the payload once; nothing here
// keeps or logs them.

func (r *mutationResolver) CreateIntegration(ctx context.Context, input switchyard.IntegrationCreate) (*switchyard.IntegrationWithSecret, error) {
	defer forget(ctx)
	s, err := r.integrations()
	if err != nil {
		return nil, err
	}
	return s.CreateIntegration(ctx, input)
}

func (r *mutationResolver) UpdateIntegration(ctx context.Context, id string, input switchyard.IntegrationUpdate) (*switchyard.Integration, error) {
	defer forget(ctx)
	s, err := r.integrations()
	if err != nil {
		return nil, err
	}
	return s.UpdateIntegration(ctx, id, input)
}

func (r *mutationResolver) RotateIntegrationSecret(ctx context.Context, id string, secret *string) (*switchyard.IntegrationWithSecret, error) {
	defer forget(ctx)
	s, err := r.integrations()
	if err != nil {
		return nil, err
	}
	return s.RotateIntegrationSecret(ctx, id, secret)
}

func (r *mutationResolver) PauseIntegration(ctx context.Context, id string) (*switchyard.Integration, error) {
	defer forget(ctx)
	s, err := r.integrations()
	if err != nil {
		return nil, err
	}
	return s.PauseIntegration(ctx, id)
}

func (r *mutationResolver) ResumeIntegration(ctx context.Context, id string) (*switchyard.Integration, error) {
	defer forget(ctx)
	s, err := r.integrations()
	if err != nil {
		return nil, err
	}
	return s.ResumeIntegration(ctx, id)
}

func (r *mutationResolver) DeleteIntegration(ctx context.Context, id string) (string, error) {
	defer forget(ctx)
	s, err := r.integrations()
	if err != nil {
		return "", err
	}
	i, err := s.DeleteIntegration(ctx, id)
	if err != nil {
		return "", err
	}
	return i.ID, nil
}

func (r *mutationResolver) RedeliverWebhook(ctx context.Context, deliveryID string) (*switchyard.WebhookDelivery, error) {
	defer forget(ctx)
	s, err := r.integrations()
	if err != nil {
		return nil, err
	}
	return s.RedeliverWebhook(ctx, deliveryID)
}

func (r *mutationResolver) CreateAPIKey(ctx context.Context, integrationID string, scopes []switchyard.APIKeyScope) (*switchyard.APIKeyWithKey, error) {
	defer forget(ctx)
	s, err := r.integrations()
	if err != nil {
		return nil, err
	}
	return s.CreateAPIKey(ctx, integrationID, scopes)
}

func (r *mutationResolver) RevokeAPIKey(ctx context.Context, id string) (*switchyard.APIKey, error) {
	defer forget(ctx)
	s, err := r.integrations()
	if err != nil {
		return nil, err
	}
	return s.RevokeAPIKey(ctx, id)
}

// Fields

func (r *projectResolver) Integrations(ctx context.Context, obj *switchyard.Project, first *int, after *string) (*switchyard.IntegrationConnection, error) {
	l, err := r.integrationLoaders(ctx)
	if err != nil {
		return nil, err
	}
	return l.projectIntegrations.load(ctx, obj.ID, page(first, after, nil, nil))
}

func (r *integrationResolver) Project(ctx context.Context, obj *switchyard.Integration) (*switchyard.Project, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	return loadByID(ctx, l.project, obj.ProjectID)
}

func (r *integrationResolver) Owner(ctx context.Context, obj *switchyard.Integration) (*switchyard.User, error) {
	l, err := r.loaders(ctx)
	if err != nil {
		return nil, err
	}
	return loadByID(ctx, l.user, obj.OwnerID)
}

func (r *integrationResolver) WebhookURL(ctx context.Context, obj *switchyard.Integration) (string, error) {
	base := r.PublicURL
	if base == "" {
		base = DefaultPublicURL
	}
	return strings.TrimRight(base, "/") + obj.WebhookPath(), nil
}

// Health answers zero health for an integration the service left out (it was
// deleted after it was read): the field is non-null.
func (r *integrationResolver) Health(ctx context.Context, obj *switchyard.Integration) (*switchyard.IntegrationHealth, error) {
	l, err := r.integrationLoaders(ctx)
	if err != nil {
		return nil, err
	}
	h, err := l.health.Load(ctx, obj.ID)
	if errors.Is(err, dataloadgen.ErrNotFound) {
		return &switchyard.IntegrationHealth{}, nil
	}
	return h, err
}

func (r *integrationResolver) Deliveries(ctx context.Context, obj *switchyard.Integration, first *int, after *string, status []switchyard.DeliveryStatus, direction *switchyard.DeliveryDirection) (*switchyard.WebhookDeliveryConnection, error) {
	l, err := r.integrationLoaders(ctx)
	if err != nil {
		return nil, err
	}
	return l.deliveries.load(ctx, obj.ID, deliveryListArgs{Filter: switchyard.DeliveryFilter{Status: status, Direction: direction}, Page: page(first, after, nil, nil)})
}

func (r *integrationResolver) APIKeys(ctx context.Context, obj *switchyard.Integration) ([]*switchyard.APIKey, error) {
	l, err := r.integrationLoaders(ctx)
	if err != nil {
		return nil, err
	}
	return l.apiKeys.Load(ctx, obj.ID)
}

func (r *integrationConnectionResolver) TotalCount(ctx context.Context, obj *switchyard.IntegrationConnection) (int, error) {
	s, err := r.integrations()
	if err != nil {
		return 0, err
	}
	return s.CountIntegrations(ctx, obj.Filter)
}

func (r *webhookDeliveryConnectionResolver) TotalCount(ctx context.Context, obj *switchyard.WebhookDeliveryConnection) (int, error) {
	s, err := r.integrations()
	if err != nil {
		return 0, err
	}
	return s.CountDeliveries(ctx, obj.IntegrationID, obj.Filter)
}

// The integration of a delivery or key the caller could read is readable by
// the same rule; null (an error on the non-null field) only if it was deleted
// in between.
func (r *webhookDeliveryResolver) Integration(ctx context.Context, obj *switchyard.WebhookDelivery) (*switchyard.Integration, error) {
	l, err := r.integrationLoaders(ctx)
	if err != nil {
		return nil, err
	}
	i, err := loadByID(ctx, l.integration, obj.IntegrationID)
	return required(i, err, "integration")
}

func (r *apiKeyResolver) Integration(ctx context.Context, obj *switchyard.APIKey) (*switchyard.Integration, error) {
	l, err := r.integrationLoaders(ctx)
	if err != nil {
		return nil, err
	}
	i, err := loadByID(ctx, l.integration, obj.IntegrationID)
	return required(i, err, "integration")
}
