package switchyard

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Integrations connect a project to payment and shop systems (Stripe,
// Shopify, PayPal, n8n workflows, any HTTPS endpoint). An INBOUND integration
// receives signed webhooks at /webhooks/{id}; an OUTBOUND one has the
// project's events POSTed, signed, to its endpoint; BIDIRECTIONAL does both.
// Each has one current signing secret, and partners reach the API with API
// keys bound to one integration and its project.

// IntegrationProvider is the system on the other side; it decides how inbound
// signatures are verified and payloads mapped.
type IntegrationProvider string

const (
	ProviderStripe  IntegrationProvider = "STRIPE"
	ProviderShopify IntegrationProvider = "SHOPIFY"
	ProviderPayPal  IntegrationProvider = "PAYPAL"
	ProviderN8N     IntegrationProvider = "N8N"
	ProviderGeneric IntegrationProvider = "GENERIC"
)

// Valid reports whether p is a known provider.
func (p IntegrationProvider) Valid() bool {
	switch p {
	case ProviderStripe, ProviderShopify, ProviderPayPal, ProviderN8N, ProviderGeneric:
		return true
	}
	return false
}

// IntegrationDirection says which way webhooks flow.
type IntegrationDirection string

const (
	DirectionInbound       IntegrationDirection = "INBOUND"
	DirectionOutbound      IntegrationDirection = "OUTBOUND"
	DirectionBidirectional IntegrationDirection = "BIDIRECTIONAL"
)

// Valid reports whether d is a known direction.
func (d IntegrationDirection) Valid() bool {
	return d == DirectionInbound || d == DirectionOutbound || d == DirectionBidirectional
}

// Receives reports whether the integration accepts inbound webhooks.
func (d IntegrationDirection) Receives() bool {
	return d == DirectionInbound || d == DirectionBidirectional
}

// Sends reports whether the project's events are delivered to its endpoint.
func (d IntegrationDirection) Sends() bool {
	return d == DirectionOutbound || d == DirectionBidirectional
}

// IntegrationStatus is an integration's state. PAUSED is set by people and
// stops deliveries both ways and its API keys; FAILING is set by the outbound
// worker when the circuit breaker opens, and cleared by a successful probe or
// by resumeIntegration.
type IntegrationStatus string

const (
	IntegrationActive  IntegrationStatus = "ACTIVE"
	IntegrationPaused  IntegrationStatus = "PAUSED"
	IntegrationFailing IntegrationStatus = "FAILING"
)

// Valid reports whether s is a known status.
func (s IntegrationStatus) Valid() bool {
	return s == IntegrationActive || s == IntegrationPaused || s == IntegrationFailing
}

// IntegrationCriticality is how much the business depends on an integration,
// for sorting alerts and dashboards. It changes no behaviour.
type IntegrationCriticality string

const (
	CriticalityLow      IntegrationCriticality = "LOW"
	CriticalityMedium   IntegrationCriticality = "MEDIUM"
	CriticalityHigh     IntegrationCriticality = "HIGH"
	CriticalityCritical IntegrationCriticality = "CRITICAL"
)

// Valid reports whether c is a known criticality.
func (c IntegrationCriticality) Valid() bool {
	switch c {
	case CriticalityLow, CriticalityMedium, CriticalityHigh, CriticalityCritical:
		return true
	}
	return false
}

// Integration event types, written with each change to an integration (its
// data is the Integration, which holds no secret). They are not among
// IntegrationEventTypes: an integration is not sent news of integrations.
const (
	EventIntegrationCreated = "integration.created"
	EventIntegrationUpdated = "integration.updated"
	EventIntegrationDeleted = "integration.deleted"
)

// IntegrationEventTypes are the event types an integration may subscribe to
// in eventTypes: the changes that belong to a project. User and notification
// events concern people, not a project, and are never sent out.
var IntegrationEventTypes = []string{
	EventOrderCreated,
	EventOrderStatusChanged,
	EventOrderShipmentSet,
	EventProjectUpdated,
	EventProjectMemberAdded,
	EventProjectMemberRemoved,
}

// Integration is a project's connection to another system. Its signing secret
// is never part of it: only SecretHint, the secret's last 4 characters.
type Integration struct {
	ID          string                 `json:"id"`
	ProjectID   string                 `json:"projectId"`
	Name        string                 `json:"name"`
	Provider    IntegrationProvider    `json:"provider"`
	Direction   IntegrationDirection   `json:"direction"`
	Status      IntegrationStatus      `json:"status"`
	Criticality IntegrationCriticality `json:"criticality"`
	// OwnerID is the user who created the integration (the project's owner
	// when a system principal did). They are notified when it fails.
	OwnerID string `json:"ownerId"`
	// EventTypes are the event types delivered to EndpointURL, a subset of
	// IntegrationEventTypes.
	EventTypes []string `json:"eventTypes"`
	// EndpointURL is where outbound webhooks go; required when Direction
	// sends.
	EndpointURL *string   `json:"endpointUrl"`
	SecretHint  string    `json:"secretHint"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// WebhookPath is where the integration receives webhooks, under the server's
// public base URL.
func (i *Integration) WebhookPath() string { return "/webhooks/" + i.ID }

// IntegrationHealth sums up an integration's recent deliveries.
type IntegrationHealth struct {
	// SuccessRate24h is the share (0 to 1) of the deliveries finished in the
	// last 24 hours that succeeded; nil when none finished.
	SuccessRate24h *float64
	// LastDeliveryAt is when the latest delivery, either way, was made;
	// nil when there has been none.
	LastDeliveryAt *time.Time
	// ConsecutiveFailures is the run of failed outbound attempts since the
	// last success, as the circuit breaker counts it.
	ConsecutiveFailures int
}

// DeliveryDirection is the way one webhook delivery went.
type DeliveryDirection string

const (
	DeliveryInbound  DeliveryDirection = "INBOUND"
	DeliveryOutbound DeliveryDirection = "OUTBOUND"
)

// DeliveryStatus is the outcome of one delivery attempt.
type DeliveryStatus string

const (
	// DeliveryPending: an outbound attempt waiting for its time
	// (NextAttemptAt); the worker picks it up.
	DeliveryPending DeliveryStatus = "PENDING"
	// DeliverySucceeded: outbound, the endpoint answered 2xx; inbound, the
	// webhook was verified and applied.
	DeliverySucceeded DeliveryStatus = "SUCCEEDED"
	// DeliveryFailed: the attempt failed; NextAttemptAt is when the next one
	// runs, nil when retries are exhausted.
	DeliveryFailed DeliveryStatus = "FAILED"
	// DeliveryRejected: inbound, the signature or the body was refused.
	DeliveryRejected DeliveryStatus = "REJECTED"
	// DeliveryIgnored: inbound, verified but of a type Switchyard does not
	// map; stored and answered 202.
	DeliveryIgnored DeliveryStatus = "IGNORED"
)

// Valid reports whether s is a known delivery status.
func (s DeliveryStatus) Valid() bool {
	switch s {
	case DeliveryPending, DeliverySucceeded, DeliveryFailed, DeliveryRejected, DeliveryIgnored:
		return true
	}
	return false
}

// WebhookDelivery is one attempt to deliver one webhook, either way.
type WebhookDelivery struct {
	ID            string
	IntegrationID string
	Direction     DeliveryDirection
	EventType     string
	// EventID names what was delivered: outbound, the Switchyard event's id;
	// inbound, the provider's event id. Nil when there was none (an inbound
	// request refused before its id could be read).
	EventID        *string
	Attempt        int
	Status         DeliveryStatus
	ResponseStatus *int
	LatencyMs      *int
	// Error says why the attempt failed, for people; it never holds a secret.
	Error         *string
	NextAttemptAt *time.Time
	// RedeliveryOf is the delivery a redeliverWebhook repeated.
	RedeliveryOf *string
	CreatedAt    time.Time
}

// DeliveryFilter narrows a list of deliveries. Zero fields do not filter.
type DeliveryFilter struct {
	Status    []DeliveryStatus
	Direction *DeliveryDirection
}

// Validate returns EINVALID naming the first bad field.
func (f DeliveryFilter) Validate() error {
	for i, s := range f.Status {
		if !s.Valid() {
			return InvalidField(fmt.Sprintf("status[%d]", i), "unknown delivery status %q", s)
		}
	}
	if f.Direction != nil && *f.Direction != DeliveryInbound && *f.Direction != DeliveryOutbound {
		return InvalidField("direction", "unknown delivery direction %q", *f.Direction)
	}
	return nil
}

// WebhookDeliveryConnection is one page of deliveries, newest first.
type WebhookDeliveryConnection struct {
	Edges         []WebhookDeliveryEdge
	PageInfo      PageInfo
	IntegrationID string
	Filter        DeliveryFilter
}

// WebhookDeliveryEdge is a delivery and its cursor.
type WebhookDeliveryEdge struct {
	Cursor string
	Node   *WebhookDelivery
}

// APIKeyScope is one right an API key grants its partner, always on the
// integration's own project only.
type APIKeyScope string

const (
	// ScopeOrdersRead: the project's orders and their customers.
	ScopeOrdersRead APIKeyScope = "ORDERS_READ"
	// ScopeOrdersWrite: creating and changing the project's orders; implies
	// ORDERS_READ.
	ScopeOrdersWrite APIKeyScope = "ORDERS_WRITE"
	// ScopeProjectsRead: the project itself, its owner and members.
	ScopeProjectsRead APIKeyScope = "PROJECTS_READ"
	// ScopeIntegrationsRead: the key's own integration (not the project's
	// other integrations, whose endpoints may carry their own tokens).
	ScopeIntegrationsRead APIKeyScope = "INTEGRATIONS_READ"
	// ScopeAnalyticsRead: the project's analytics.
	ScopeAnalyticsRead APIKeyScope = "ANALYTICS_READ"
)

// APIKeyScopes lists every scope.
var APIKeyScopes = []APIKeyScope{ScopeOrdersRead, ScopeOrdersWrite, ScopeProjectsRead, ScopeIntegrationsRead, ScopeAnalyticsRead}

// Valid reports whether s is a known scope.
func (s APIKeyScope) Valid() bool { return slices.Contains(APIKeyScopes, s) }

// APIKeyPrefix starts every API key, so the server tells a key from a JWT
// without trying to parse it, and secret scanners can recognise leaked keys.
const APIKeyPrefix = "sy_live_"

// IsAPIKey reports whether credential has the shape of an API key.
func IsAPIKey(credential string) bool { return strings.HasPrefix(credential, APIKeyPrefix) }

// APIKey is a partner's credential, as it can be shown: never the key itself.
type APIKey struct {
	ID            string
	IntegrationID string
	Scopes        []APIKeyScope
	// Prefix is the key's first characters, like "sy_live_AbCd".
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// PartnerCaller is the part of a Caller that an API key authenticates: a
// partner acting for one integration, on its project only, within its scopes.
type PartnerCaller struct {
	APIKeyID      string
	IntegrationID string
	ProjectID     string
	Scopes        []APIKeyScope
}

// Can reports whether the partner holds scope; ORDERS_WRITE implies
// ORDERS_READ, because changing an order answers with it.
func (p *PartnerCaller) Can(scope APIKeyScope) bool {
	if p == nil {
		return false
	}
	if slices.Contains(p.Scopes, scope) {
		return true
	}
	return scope == ScopeOrdersRead && slices.Contains(p.Scopes, ScopeOrdersWrite)
}

// IsPartner reports whether the caller is a partner authenticated by an API
// key. A partner has no UserID and no Role.
func (c *Caller) IsPartner() bool { return c != nil && c.Partner != nil }

// PartnerCan reports whether the caller is a partner holding scope on
// projectID.
func (c *Caller) PartnerCan(scope APIKeyScope, projectID string) bool {
	return c.IsPartner() && strings.EqualFold(c.Partner.ProjectID, projectID) && c.Partner.Can(scope)
}

// APIKeyResolver authenticates API keys.
type APIKeyResolver interface {
	// ResolveAPIKey returns the partner caller key authenticates, checked
	// now: revoking the key, pausing or deleting its integration, or deleting
	// its project applies to the next request.
	// Returns EUNAUTHENTICATED for an unknown or revoked key, or one whose
	// integration is PAUSED or whose project is DELETED.
	ResolveAPIKey(ctx context.Context, key string) (*Caller, error)
}

// IntegrationCreate is the input of IntegrationService.CreateIntegration.
type IntegrationCreate struct {
	ProjectID string
	Name      string
	Provider  IntegrationProvider
	Direction IntegrationDirection
	// Criticality defaults to MEDIUM.
	Criticality IntegrationCriticality
	EventTypes  []string
	EndpointURL *string
	// Secret is the signing secret when the provider issues its own (Stripe's
	// whsec_…, a Shopify app's secret); nil has Switchyard generate one.
	Secret *string
}

// EndpointPolicy is what endpoint URLs may point at. The outbound worker
// checks the addresses a name resolves to when it connects; this checks what
// the URL itself says.
type EndpointPolicy struct {
	// AllowPrivate admits plain http to loopback hosts and IP literals in
	// private, loopback and link-local ranges (SWITCHYARD_WEBHOOK_ALLOW_PRIVATE;
	// tests and local development).
	AllowPrivate bool
}

// Validate normalizes the input and returns EINVALID naming the first bad
// field.
func (in *IntegrationCreate) Validate(policy EndpointPolicy) error {
	in.Name = strings.TrimSpace(in.Name)
	if err := validateName("input.name", in.Name); err != nil {
		return err
	}
	if !in.Provider.Valid() {
		return InvalidField("input.provider", "unknown provider %q", in.Provider)
	}
	if !in.Direction.Valid() {
		return InvalidField("input.direction", "unknown direction %q", in.Direction)
	}
	if in.Criticality == "" {
		in.Criticality = CriticalityMedium
	}
	if !in.Criticality.Valid() {
		return InvalidField("input.criticality", "unknown criticality %q", in.Criticality)
	}
	types, err := normalizeEventTypes("input.eventTypes", in.EventTypes)
	if err != nil {
		return err
	}
	in.EventTypes = types
	if in.EndpointURL != nil {
		u := strings.TrimSpace(*in.EndpointURL)
		in.EndpointURL = &u
		if u == "" {
			in.EndpointURL = nil
		}
	}
	if err := checkSending(in.Direction, in.EndpointURL, in.EventTypes); err != nil {
		return err
	}
	if in.EndpointURL != nil {
		if err := ValidateEndpointURL("input.endpointUrl", *in.EndpointURL, policy); err != nil {
			return err
		}
	}
	if in.Secret != nil {
		return ValidateSigningSecret("input.secret", *in.Secret)
	}
	return nil
}

// IntegrationUpdate is the input of IntegrationService.UpdateIntegration; nil
// fields stay as they are. An empty EndpointURL removes it.
type IntegrationUpdate struct {
	Name        *string
	Direction   *IntegrationDirection
	Criticality *IntegrationCriticality
	EventTypes  []string
	// EventTypesSet tells an empty EventTypes (remove them all) from an
	// absent one; the resolver sets it when the field was given.
	EventTypesSet bool
	EndpointURL   *string
}

// Validate normalizes the input and returns EINVALID naming the first bad
// field. Rules that depend on the stored integration (an outbound one needs
// an endpoint) are checked by CheckIntegration on the result.
func (in *IntegrationUpdate) Validate(policy EndpointPolicy) error {
	if in.Name != nil {
		n := strings.TrimSpace(*in.Name)
		in.Name = &n
		if err := validateName("input.name", n); err != nil {
			return err
		}
	}
	if in.Direction != nil && !in.Direction.Valid() {
		return InvalidField("input.direction", "unknown direction %q", *in.Direction)
	}
	if in.Criticality != nil && !in.Criticality.Valid() {
		return InvalidField("input.criticality", "unknown criticality %q", *in.Criticality)
	}
	if in.EventTypes != nil {
		in.EventTypesSet = true
	}
	if in.EventTypesSet {
		types, err := normalizeEventTypes("input.eventTypes", in.EventTypes)
		if err != nil {
			return err
		}
		in.EventTypes = types
	}
	if in.EndpointURL != nil {
		u := strings.TrimSpace(*in.EndpointURL)
		in.EndpointURL = &u
		if u != "" {
			if err := ValidateEndpointURL("input.endpointUrl", u, policy); err != nil {
				return err
			}
		}
	}
	return nil
}

// Apply returns i changed by the update. Call Validate first, and
// CheckIntegration on the result.
func (in *IntegrationUpdate) Apply(i Integration) Integration {
	if in.Name != nil {
		i.Name = *in.Name
	}
	if in.Direction != nil {
		i.Direction = *in.Direction
	}
	if in.Criticality != nil {
		i.Criticality = *in.Criticality
	}
	if in.EventTypesSet {
		i.EventTypes = slices.Clone(in.EventTypes)
	}
	if in.EndpointURL != nil {
		if *in.EndpointURL == "" {
			i.EndpointURL = nil
		} else {
			u := *in.EndpointURL
			i.EndpointURL = &u
		}
	}
	return i
}

// CheckIntegration returns EINVALID when the integration cannot work as
// configured: one that sends needs an endpoint and at least one event type.
func CheckIntegration(i *Integration) error {
	return checkSending(i.Direction, i.EndpointURL, i.EventTypes)
}

func checkSending(d IntegrationDirection, endpoint *string, types []string) error {
	if !d.Sends() {
		return nil
	}
	if endpoint == nil || *endpoint == "" {
		return InvalidField("input.endpointUrl", "an %s integration needs an endpointUrl to send to", d)
	}
	if len(types) == 0 {
		return InvalidField("input.eventTypes", "an %s integration needs at least one event type to send", d)
	}
	return nil
}

// normalizeEventTypes checks every type is one an integration may subscribe
// to and drops repeats, keeping the first order.
func normalizeEventTypes(field string, types []string) ([]string, error) {
	out := make([]string, 0, len(types))
	for i, t := range types {
		t = strings.TrimSpace(t)
		if !slices.Contains(IntegrationEventTypes, t) {
			return nil, InvalidField(fmt.Sprintf("%s[%d]", field, i), "unknown event type %q; known: %s", t, strings.Join(IntegrationEventTypes, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// MaxEndpointURLLength bounds an endpoint URL.
const MaxEndpointURLLength = 2048

// ValidateEndpointURL checks that raw is an absolute https URL with a host and
// no credentials or fragment. Plain http, and hosts that are loopback,
// private or link-local IP literals or "localhost", are admitted only when
// policy.AllowPrivate (and http only to loopback). Names that resolve to such
// addresses are refused later, when the worker connects.
func ValidateEndpointURL(field, raw string, policy EndpointPolicy) error {
	if len(raw) > MaxEndpointURLLength {
		return InvalidField(field, "the URL must be at most %d characters", MaxEndpointURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return InvalidField(field, "not an absolute URL; use https://host/path")
	}
	if u.User != nil {
		return InvalidField(field, "the URL must not carry credentials; the request is signed instead")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return InvalidField(field, "the URL must not have a fragment")
	}
	host := u.Hostname()
	if host == "" {
		return InvalidField(field, "the URL has no host")
	}
	local := isLoopbackHost(host)
	private := local || isPrivateIPLiteral(host)
	switch u.Scheme {
	case "https":
	case "http":
		if !(policy.AllowPrivate && local) {
			return InvalidField(field, "the URL must use https")
		}
	default:
		return InvalidField(field, "the URL must use https, not %q", u.Scheme)
	}
	if private && !policy.AllowPrivate {
		return InvalidField(field, "the URL points at a loopback, private or link-local address")
	}
	return nil
}

func isLoopbackHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isPrivateIPLiteral(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast())
}

// Signing secrets Switchyard generates are SigningSecretPrefix followed by
// 32 random bytes in unpadded base64url. Secrets a provider issues are stored
// as given. Either way the HMAC key is the secret's bytes exactly as shown,
// as Stripe's libraries use it.
const (
	SigningSecretPrefix    = "whsec_"
	MinSigningSecretLength = 16
	MaxSigningSecretLength = 512
)

// ValidateSigningSecret checks a secret a provider issued: long enough to
// resist guessing, printable, no surrounding space.
func ValidateSigningSecret(field, s string) error {
	if len(s) < MinSigningSecretLength || len(s) > MaxSigningSecretLength {
		return InvalidField(field, "the secret must be %d to %d characters", MinSigningSecretLength, MaxSigningSecretLength)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return InvalidField(field, "the secret must be printable, without spaces")
		}
	}
	return nil
}

// SecretHint is the part of a secret that may be shown: its last 4
// characters.
func SecretHint(secret string) string {
	if len(secret) <= 4 {
		return ""
	}
	return secret[len(secret)-4:]
}

// IntegrationFilter narrows a list of integrations. Zero fields do not filter.
type IntegrationFilter struct {
	ProjectID *string
}

// IntegrationConnection is one page of integrations, newest first.
type IntegrationConnection struct {
	Edges    []IntegrationEdge
	PageInfo PageInfo
	// Filter is what the page was read with; totalCount counts it.
	Filter IntegrationFilter
}

// IntegrationEdge is an integration and its cursor.
type IntegrationEdge struct {
	Cursor string
	Node   *Integration
}

// IntegrationWithSecret is an integration and its signing secret, as
// createIntegration and rotateIntegrationSecret answer once.
type IntegrationWithSecret struct {
	Integration *Integration
	Secret      string
}

// APIKeyWithKey is a new API key and the key itself, as createApiKey answers
// once.
type APIKeyWithKey struct {
	APIKey *APIKey
	Key    string
}

// DefaultSecretGracePeriod is how long a rotated signing secret keeps
// verifying, so senders can switch over.
const DefaultSecretGracePeriod = 24 * time.Hour

// IntegrationService reads and manages integrations, their secrets, API keys
// and deliveries.
//
// Reading: admins read every integration; members read the integrations of
// the projects they own or belong to (not DELETED ones); a partner with
// INTEGRATIONS_READ reads its own integration. Integrations the caller may
// not read answer exactly as integrations that do not exist. An integration's
// health, API keys and deliveries are read with it.
//
// Managing (create, update, rotate, pause, resume, delete, API keys,
// redeliver) takes the project's owner or an admin; members who may read the
// integration get EFORBIDDEN. Secrets and keys are returned once, when made,
// and never again, and never appear in errors, events or logs.
type IntegrationService interface {
	// FindIntegrationByID returns the integration with id.
	// Returns ENOTFOUND if it does not exist or the caller may not read it.
	FindIntegrationByID(ctx context.Context, id string) (*Integration, error)

	// FindIntegrationsByIDs returns the readable integrations among ids, in
	// no particular order. One round trip.
	FindIntegrationsByIDs(ctx context.Context, ids []string) ([]*Integration, error)

	// FindIntegrations returns one page of the readable integrations matching
	// filter, newest first.
	// Returns EUNAUTHENTICATED for an anonymous caller, EINVALID for bad page
	// arguments or cursor.
	FindIntegrations(ctx context.Context, filter IntegrationFilter, page PageArgs) (*IntegrationConnection, error)

	// FindIntegrationsByProjects returns, for each project id, one page of its
	// readable integrations, newest first. One round trip for all projects.
	FindIntegrationsByProjects(ctx context.Context, projectIDs []string, page PageArgs) (map[string]*IntegrationConnection, error)

	// CountIntegrations counts the readable integrations matching filter.
	CountIntegrations(ctx context.Context, filter IntegrationFilter) (int, error)

	// CreateIntegration creates an ACTIVE integration in a project, and its
	// signing secret (generated unless input.Secret gives one), which it
	// returns this once.
	// Returns EUNAUTHENTICATED, EINVALID (nothing written), ENOTFOUND for a
	// project the caller may not read, EFORBIDDEN for a member who does not
	// own it, EINVALID when the project is not ACTIVE.
	CreateIntegration(ctx context.Context, input IntegrationCreate) (*IntegrationWithSecret, error)

	// UpdateIntegration changes an integration's settings.
	// Returns ENOTFOUND, EFORBIDDEN, EINVALID.
	UpdateIntegration(ctx context.Context, id string, input IntegrationUpdate) (*Integration, error)

	// RotateIntegrationSecret makes a new current signing secret (generated
	// unless secret is given) and returns it this once. The previous one keeps
	// verifying inbound signatures for the grace period; outbound deliveries
	// are signed with the new one at once.
	// Returns ENOTFOUND, EFORBIDDEN, EINVALID for a bad given secret.
	RotateIntegrationSecret(ctx context.Context, id string, secret *string) (*IntegrationWithSecret, error)

	// PauseIntegration sets it PAUSED: no deliveries either way, and its API
	// keys stop authenticating. Pausing it again changes nothing.
	// Returns ENOTFOUND, EFORBIDDEN.
	PauseIntegration(ctx context.Context, id string) (*Integration, error)

	// ResumeIntegration sets a PAUSED or FAILING integration ACTIVE and
	// clears its failure count, closing the circuit breaker. Resuming an
	// ACTIVE one changes nothing.
	// Returns ENOTFOUND, EFORBIDDEN.
	ResumeIntegration(ctx context.Context, id string) (*Integration, error)

	// DeleteIntegration deletes an integration with its secrets, API keys and
	// deliveries, and returns it as it was.
	// Returns ENOTFOUND, EFORBIDDEN.
	DeleteIntegration(ctx context.Context, id string) (*Integration, error)

	// CreateAPIKey makes an API key for a partner of the integration with
	// scopes, and returns the key this once.
	// Returns ENOTFOUND, EFORBIDDEN, EINVALID for no scope or an unknown one
	// (field "scopes[i]").
	CreateAPIKey(ctx context.Context, integrationID string, scopes []APIKeyScope) (*APIKeyWithKey, error)

	// RevokeAPIKey revokes a key; it stops authenticating at once. Revoking
	// it again changes nothing.
	// Returns ENOTFOUND (the key's integration unreadable), EFORBIDDEN.
	RevokeAPIKey(ctx context.Context, id string) (*APIKey, error)

	// FindAPIKeys returns, for each integration id, its API keys, newest
	// first, revoked ones included; none for an integration the caller may
	// not read. One round trip.
	FindAPIKeys(ctx context.Context, integrationIDs []string) (map[string][]*APIKey, error)

	// IntegrationHealth returns the health of each readable integration id.
	// One round trip.
	IntegrationHealth(ctx context.Context, integrationIDs []string) (map[string]*IntegrationHealth, error)

	// FindDeliveries returns, for each readable integration id, one page of
	// its deliveries matching filter, newest first. One round trip.
	// Returns EINVALID for a bad filter, page arguments or cursor.
	FindDeliveries(ctx context.Context, integrationIDs []string, filter DeliveryFilter, page PageArgs) (map[string]*WebhookDeliveryConnection, error)

	// CountDeliveries counts the deliveries of a readable integration matching
	// filter; 0 for an unreadable one.
	CountDeliveries(ctx context.Context, integrationID string, filter DeliveryFilter) (int, error)

	// FindDeliveryByID returns a delivery of a readable integration.
	// Returns ENOTFOUND otherwise.
	FindDeliveryByID(ctx context.Context, id string) (*WebhookDelivery, error)

	// RedeliverWebhook queues an outbound delivery again: a new PENDING
	// attempt, due now, with the same payload, which the delivery worker
	// sends (once the integration is not PAUSED).
	// Returns ENOTFOUND, EFORBIDDEN, EINVALID for an inbound delivery or one
	// with nothing to resend.
	RedeliverWebhook(ctx context.Context, deliveryID string) (*WebhookDelivery, error)
}

// Secret is one signing secret and until when it verifies.
type Secret struct {
	// Value is the secret exactly as issued; HMAC keys are its bytes.
	Value string
	// ValidUntil is zero for the current secret, and the end of the grace
	// period for a rotated one.
	ValidUntil time.Time
}

// IntegrationSecrets gives the webhook machinery what it needs about an
// integration without a caller: it runs for providers and for the delivery
// worker, not for a person. Never reachable from the API.
type IntegrationSecrets interface {
	// LookupIntegration returns the integration with id, whatever its status.
	// Returns ENOTFOUND if it does not exist.
	LookupIntegration(ctx context.Context, id string) (*Integration, error)

	// SigningSecrets returns the secrets that verify the integration's
	// signatures now: the current one first (sign outbound with it), then
	// rotated ones still in their grace period, newest first.
	// Returns ENOTFOUND for an unknown integration.
	SigningSecrets(ctx context.Context, integrationID string) ([]Secret, error)
}
