package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/postgres/postgrestest"
	"github.com/switchyard/switchyard/resolvers"
	"github.com/switchyard/switchyard/server"
)

const testPublicURL = "https://switchyard.example.com"

// integrationEnv is an env whose server has the integration service and
// accepts API keys. integrations has its own pool, counted by stmts.
type integrationEnv struct {
	*env
	integrations *postgres.IntegrationService
	idb          *postgres.DB
	istmts       *statementCounter
}

func newIntegrationEnv(t *testing.T, opts ...envOption) *integrationEnv {
	t.Helper()
	return newIntegrationEnvWiring(t, nil, opts...)
}

// newIntegrationEnvWiring is newIntegrationEnv with wire, when not nil,
// adding services over the same pool to the resolver.
func newIntegrationEnvWiring(t *testing.T, wire func(*resolvers.Resolver, *postgres.DB), opts ...envOption) *integrationEnv {
	t.Helper()
	dsn := postgrestest.NewDatabaseURL(t)
	counter := &statementCounter{}
	db, err := postgres.Open(context.Background(), dsn, postgres.WithQueryTracer(counter))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	svc, err := postgres.NewIntegrationService(db, postgres.IntegrationOptions{SecretKey: bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	opts = append(opts, withDSN(dsn),
		withResolver(func(r *resolvers.Resolver) {
			r.Integrations, r.PublicURL = svc, testPublicURL
			if wire != nil {
				wire(r, db)
			}
		}),
		withDeps(func(d *server.Deps) { d.APIKeys = svc }))
	return &integrationEnv{env: newEnv(t, opts...), integrations: svc, idb: db, istmts: counter}
}

func asUser(u *switchyard.User) context.Context {
	return switchyard.NewContextWithCaller(context.Background(), &switchyard.Caller{UserID: u.ID, Email: u.Email, Role: u.Role})
}

// mustIntegration creates an OUTBOUND integration in p as owner.
func (e *integrationEnv) mustIntegration(p *switchyard.Project, owner *switchyard.User) *switchyard.IntegrationWithSecret {
	e.t.Helper()
	url := "https://hooks.example.com/" + p.ID
	got, err := e.integrations.CreateIntegration(asUser(owner), switchyard.IntegrationCreate{ProjectID: p.ID, Name: "Fulfilment",
		Provider: switchyard.ProviderGeneric, Direction: switchyard.DirectionOutbound, EventTypes: []string{switchyard.EventOrderCreated}, EndpointURL: &url})
	if err != nil {
		e.t.Fatalf("create integration: %v", err)
	}
	return got
}

func (e *integrationEnv) mustKey(i *switchyard.Integration, owner *switchyard.User, scopes ...switchyard.APIKeyScope) *switchyard.APIKeyWithKey {
	e.t.Helper()
	k, err := e.integrations.CreateAPIKey(asUser(owner), i.ID, scopes)
	if err != nil {
		e.t.Fatalf("create API key: %v", err)
	}
	return k
}

// mustDelivery writes a failed outbound delivery with a payload, as the
// webhook worker would.
func (e *integrationEnv) mustDelivery(i *switchyard.Integration) string {
	e.t.Helper()
	var id string
	err := e.idb.Pool().QueryRow(context.Background(), `INSERT INTO webhook_deliveries
		(integration_id, direction, event_type, event_id, attempt, status, response_status, latency_ms, error, payload)
		VALUES ($1, 'OUTBOUND', 'order.created', 1, 1, 'FAILED', 500, 42, 'HTTP 500', '{"id":"1"}') RETURNING id::text`, i.ID).Scan(&id)
	if err != nil {
		e.t.Fatalf("insert delivery: %v", err)
	}
	return id
}

const integrationFields = `id name provider direction status criticality eventTypes endpointUrl webhookUrl secretHint createdAt updatedAt
	project { id name } owner { id email }
	health { successRate24h lastDeliveryAt consecutiveFailures }
	deliveries(first: 10) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id direction eventType eventId attempt status responseStatus latencyMs error nextAttemptAt redeliveryOf createdAt integration { id } } } }
	apiKeys { id scopes prefix createdAt lastUsedAt revokedAt integration { id } }`

// TestIntegrationsOverGraphQL walks an owner through the integration
// mutations and checks that every secret is shown once and never again.
func TestIntegrationsOverGraphQL(t *testing.T) {
	t.Parallel()
	e := newIntegrationEnv(t)
	w := e.world()
	alice := e.token(w.alice)
	admin := e.token(w.admin)
	var shown []string // every secret and key the API handed out

	r := e.gql(alice, `mutation($p: ID!) { createIntegration(input: {projectId: $p, name: "Stripe", provider: STRIPE, direction: BIDIRECTIONAL,
		criticality: HIGH, eventTypes: ["order.status_changed"], endpointUrl: "https://hooks.example.com/stripe"}) { secret integration { `+integrationFields+` } } }`,
		map[string]any{"p": w.p1.ID})
	var created struct {
		CreateIntegration struct {
			Secret      string
			Integration struct {
				ID, Name, Provider, Direction, Status, Criticality, WebhookURL, SecretHint string
				EventTypes                                                                 []string
				Project                                                                    struct{ ID string }
				Owner                                                                      struct{ ID string }
				Health                                                                     struct{ ConsecutiveFailures int }
				Deliveries                                                                 struct{ TotalCount int }
			}
		}
	}
	r.decode(t, &created)
	c := created.CreateIntegration
	i := c.Integration
	if !strings.HasPrefix(c.Secret, "whsec_") || i.SecretHint != c.Secret[len(c.Secret)-4:] || i.Provider != "STRIPE" || i.Direction != "BIDIRECTIONAL" ||
		i.Status != "ACTIVE" || i.Criticality != "HIGH" || i.WebhookURL != testPublicURL+"/webhooks/"+i.ID || i.Project.ID != w.p1.ID ||
		i.Owner.ID != w.alice.ID || strings.Join(i.EventTypes, ",") != "order.status_changed" || i.Deliveries.TotalCount != 0 {
		t.Fatalf("created %s", r.Raw)
	}
	shown = append(shown, c.Secret)

	r = e.gql(alice, `mutation($id: ID!) { rotateIntegrationSecret(id: $id) { secret integration { secretHint } } }`, map[string]any{"id": i.ID})
	var rotated struct{ RotateIntegrationSecret struct{ Secret string } }
	r.decode(t, &rotated)
	if rotated.RotateIntegrationSecret.Secret == c.Secret || !strings.Contains(r.Raw, rotated.RotateIntegrationSecret.Secret[len(rotated.RotateIntegrationSecret.Secret)-4:]) {
		t.Fatalf("rotated %s", r.Raw)
	}
	shown = append(shown, rotated.RotateIntegrationSecret.Secret)

	r = e.gql(alice, `mutation($id: ID!) { createApiKey(integrationId: $id, scopes: [ORDERS_READ, PROJECTS_READ]) { key apiKey { id prefix scopes } } }`, map[string]any{"id": i.ID})
	var key struct {
		CreateApiKey struct {
			Key    string
			APIKey struct {
				ID, Prefix string
				Scopes     []string
			} `json:"apiKey"`
		}
	}
	r.decode(t, &key)
	if !strings.HasPrefix(key.CreateApiKey.Key, "sy_live_") || key.CreateApiKey.APIKey.Prefix != key.CreateApiKey.Key[:12] ||
		strings.Join(key.CreateApiKey.APIKey.Scopes, ",") != "ORDERS_READ,PROJECTS_READ" {
		t.Fatalf("key %s", r.Raw)
	}
	shown = append(shown, key.CreateApiKey.Key)
	e.mustDelivery(&switchyard.Integration{ID: i.ID})

	// Every field, every way in, as the owner, a member and an admin: no
	// secret comes back.
	reads := []string{
		`query($id: ID!) { integration(id: $id) { ` + integrationFields + ` } }`,
		`query($p: ID) { integrations(projectId: $p) { totalCount edges { cursor node { ` + integrationFields + ` } } } }`,
		`query($p: ID!) { project(id: $p) { integrations { totalCount edges { node { ` + integrationFields + ` } } } } }`,
		`{ integrationEventTypes }`,
	}
	for _, tok := range []string{alice, e.token(w.bob), admin} {
		for _, q := range reads {
			r := e.gql(tok, q, map[string]any{"id": i.ID, "p": w.p1.ID})
			if len(r.Errors) > 0 || !strings.Contains(r.Raw, `"data"`) {
				t.Fatalf("%s: %s", q, r.Raw)
			}
			for _, s := range shown {
				if strings.Contains(r.Raw, s) || strings.Contains(r.Raw, s[10:]) {
					t.Fatalf("a read shows a secret: %s", r.Raw)
				}
			}
		}
	}
	r = e.gql(alice, `query($id: ID!) { integration(id: $id) { deliveries { totalCount edges { node { id status responseStatus latencyMs error } } } health { successRate24h lastDeliveryAt } apiKeys { id } } }`, map[string]any{"id": i.ID})
	var got struct {
		Integration struct {
			Deliveries struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						ID, Status     string
						ResponseStatus int
						Error          string
					}
				}
			}
			Health struct {
				SuccessRate24h *float64
				LastDeliveryAt *string
			}
			APIKeys []struct{ ID string } `json:"apiKeys"`
		}
	}
	r.decode(t, &got)
	gi := got.Integration
	if gi.Deliveries.TotalCount != 1 || gi.Deliveries.Edges[0].Node.Status != "FAILED" || gi.Deliveries.Edges[0].Node.ResponseStatus != 500 ||
		gi.Health.SuccessRate24h == nil || *gi.Health.SuccessRate24h != 0 || gi.Health.LastDeliveryAt == nil || len(gi.APIKeys) != 1 {
		t.Fatalf("deliveries and health: %s", r.Raw)
	}

	r = e.gql(alice, `mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { status attempt redeliveryOf integration { id } } }`,
		map[string]any{"d": gi.Deliveries.Edges[0].Node.ID})
	var re struct {
		RedeliverWebhook struct {
			Status       string
			Attempt      int
			RedeliveryOf string
		}
	}
	r.decode(t, &re)
	if re.RedeliverWebhook.Status != "PENDING" || re.RedeliverWebhook.Attempt != 2 || re.RedeliverWebhook.RedeliveryOf != gi.Deliveries.Edges[0].Node.ID {
		t.Fatalf("redeliver %s", r.Raw)
	}

	for _, step := range []struct{ query, want string }{
		{`mutation($id: ID!) { updateIntegration(id: $id, input: {name: "Stripe EU", eventTypes: ["order.created"]}) { name eventTypes } }`, `"Stripe EU"`},
		{`mutation($id: ID!) { pauseIntegration(id: $id) { status } }`, `"PAUSED"`},
		{`mutation($id: ID!) { resumeIntegration(id: $id) { status } }`, `"ACTIVE"`},
		{`mutation($id: ID!) { revokeApiKey(id: $key) { revokedAt } }`, `"revokedAt":"`},
		{`mutation($id: ID!) { deleteIntegration(id: $id) }`, `"deleteIntegration":"` + i.ID + `"`},
		{`query($id: ID!) { integration(id: $id) { id } }`, `"integration":null`},
	} {
		q := step.query
		vars := map[string]any{"id": i.ID}
		if strings.Contains(q, "$key") {
			q = strings.Replace(q, "($id: ID!)", "($key: ID!)", 1)
			vars = map[string]any{"key": key.CreateApiKey.APIKey.ID}
		}
		r := e.gql(alice, q, vars)
		if len(r.Errors) > 0 || !strings.Contains(r.Raw, step.want) {
			t.Fatalf("%s: %s", q, r.Raw)
		}
	}
	for _, s := range shown {
		if strings.Contains(e.logs.String(), s) {
			t.Fatal("a secret was logged")
		}
	}
}

func TestIntegrationBadInputOverGraphQL(t *testing.T) {
	t.Parallel()
	e := newIntegrationEnv(t)
	w := e.world()
	alice := e.token(w.alice)
	const create = `mutation($in: CreateIntegrationInput!) { createIntegration(input: $in) { secret } }`
	input := func(kv ...any) map[string]any {
		in := map[string]any{"projectId": w.p1.ID, "name": "Hook", "provider": "GENERIC", "direction": "OUTBOUND",
			"eventTypes": []string{"order.created"}, "endpointUrl": "https://hooks.example.com/x"}
		for i := 0; i < len(kv); i += 2 {
			in[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"in": in}
	}
	cases := []struct {
		name, field string
		vars        map[string]any
	}{
		{"empty name", "input.name", input("name", "")},
		{"blank name", "input.name", input("name", "   ")},
		{"unknown event type", "input.eventTypes[1]", input("eventTypes", []string{"order.created", "order.vanished"})},
		{"invalid URL", "input.endpointUrl", input("endpointUrl", "not a url")},
		{"http URL", "input.endpointUrl", input("endpointUrl", "http://hooks.example.com/x")},
		{"private URL", "input.endpointUrl", input("endpointUrl", "https://10.0.0.8/x")},
		{"outbound without URL", "input.endpointUrl", input("endpointUrl", nil)},
		{"short secret", "input.secret", input("secret", "abc")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			r := e.gql(alice, create, c.vars)
			if r.code() != switchyard.EINVALID || r.field() != c.field {
				t.Fatalf("want BAD_USER_INPUT on %s, got %s", c.field, r.Raw)
			}
		})
	}
	n, err := e.integrations.CountIntegrations(adminCtx(), switchyard.IntegrationFilter{})
	if err != nil || n != 0 {
		t.Fatalf("%d integrations written (%v)", n, err)
	}
	r := e.gql(alice, `mutation { createApiKey(integrationId: "00000000-0000-4000-8000-000000000001", scopes: []) { key } }`, nil)
	if r.code() != switchyard.EINVALID || r.field() != "scopes" {
		t.Fatalf("no scopes: %s", r.Raw)
	}
	r = e.gql(alice, `mutation { createApiKey(integrationId: "00000000-0000-4000-8000-000000000001", scopes: [ROOT]) { key } }`, nil)
	if r.code() != "GRAPHQL_VALIDATION_FAILED" && r.code() != switchyard.EINVALID {
		t.Fatalf("unknown scope: %s", r.Raw)
	}
}

// TestIntegrationAuthorizationMatrixGraphQL runs every new query, field and
// mutation as every kind of caller, partners included; then the partners
// through the older API. Outcomes as in TestAuthorizationMatrix.
func TestIntegrationAuthorizationMatrixGraphQL(t *testing.T) {
	t.Parallel()
	e := newIntegrationEnv(t)
	w := e.world()
	fixed := e.mustIntegration(w.p1, w.alice).Integration
	fixedDelivery := e.mustDelivery(fixed)
	e.mustKey(fixed, w.alice, switchyard.ScopeOrdersRead)
	otherIntegration := e.mustIntegration(w.p2, w.carol).Integration
	otherKey := e.mustKey(otherIntegration, w.carol, switchyard.APIKeyScopes...).Key

	// A caller's token for a target integration: partners hold a key of it
	// (or, for another project's partner, of that project's integration).
	type caller struct {
		name  string
		token func(target *switchyard.Integration) string
	}
	user := func(u *switchyard.User) func(*switchyard.Integration) string {
		return func(*switchyard.Integration) string { return e.token(u) }
	}
	partner := func(scopes ...switchyard.APIKeyScope) func(*switchyard.Integration) string {
		return func(target *switchyard.Integration) string { return e.mustKey(target, w.alice, scopes...).Key }
	}
	callers := []caller{
		{"anon", func(*switchyard.Integration) string { return "" }},
		{"owner", user(w.alice)}, {"member", user(w.bob)}, {"other", user(w.carol)}, {"customer", user(w.dave)}, {"admin", user(w.admin)},
		{"partner all", partner(switchyard.APIKeyScopes...)},
		{"partner INTEGRATIONS_READ", partner(switchyard.ScopeIntegrationsRead)},
		{"partner ORDERS_READ", partner(switchyard.ScopeOrdersRead)},
		{"partner other project", func(*switchyard.Integration) string { return otherKey }},
	}

	// fresh makes a target integration per run, with a key and a delivery,
	// so a mutation that succeeds for one caller leaves the next its own.
	type target struct {
		i    *switchyard.Integration
		vars map[string]any
	}
	fresh := func() target {
		i := e.mustIntegration(w.p1, w.alice).Integration
		k := e.mustKey(i, w.alice, switchyard.ScopeOrdersRead)
		return target{i, map[string]any{"id": i.ID, "key": k.APIKey.ID, "d": e.mustDelivery(i), "p": w.p1.ID}}
	}
	shared := func() target {
		return target{fixed, map[string]any{"id": fixed.ID, "d": fixedDelivery, "p": w.p1.ID}}
	}
	//                 anon               owner member   other        customer     admin partner-all  p-int-read   p-orders     p-other
	read := [10]string{"null", "ok", "ok", "null", "null", "ok", "ok", "ok", "null", "null"}
	manage := [10]string{"UNAUTHENTICATED", "ok", "FORBIDDEN", "NOT_FOUND", "NOT_FOUND", "ok", "FORBIDDEN", "FORBIDDEN", "NOT_FOUND", "NOT_FOUND"}
	ops := []struct {
		name   string
		target func() target
		query  string
		want   [10]string
	}{
		{"integration", shared, `query($id: ID!) { integration(id: $id) { id secretHint webhookUrl } }`, read},
		{"integration.fields", shared, `query($id: ID!) { integration(id: $id) { project { id } owner { id } health { consecutiveFailures } deliveries { totalCount } apiKeys { prefix } } }`, read},
		{"integrations", shared, `query($p: ID) { integrations(projectId: $p) { totalCount } }`,
			[10]string{"UNAUTHENTICATED", "some", "some", "none", "none", "some", "some", "some", "none", "none"}},
		{"integrations all", shared, `{ integrations { totalCount } }`,
			[10]string{"UNAUTHENTICATED", "some", "some", "some", "none", "some", "some", "some", "none", "some"}},
		{"project.integrations", shared, `query($p: ID!) { project(id: $p) { integrations { totalCount edges { node { id } } } } }`,
			[10]string{"null", "ok", "ok", "null", "null", "ok", "ok", "null", "null", "null"}},
		{"webhookDelivery", shared, `query($d: ID!) { webhookDelivery(id: $d) { id status integration { id } } }`, read},
		{"integrationEventTypes", shared, `{ integrationEventTypes }`, [10]string{"ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"}},

		{"createIntegration", shared, `mutation($p: ID!) { createIntegration(input: {projectId: $p, name: "New", provider: N8N, direction: INBOUND}) { secret } }`,
			// Another partner of the project with PROJECTS_READ reads the
			// project but may not manage; without it, the project is unknown.
			[10]string{"UNAUTHENTICATED", "ok", "FORBIDDEN", "NOT_FOUND", "NOT_FOUND", "ok", "FORBIDDEN", "NOT_FOUND", "NOT_FOUND", "NOT_FOUND"}},
		{"updateIntegration", fresh, `mutation($id: ID!) { updateIntegration(id: $id, input: {name: "Renamed"}) { name } }`, manage},
		{"rotateIntegrationSecret", fresh, `mutation($id: ID!) { rotateIntegrationSecret(id: $id) { secret } }`, manage},
		{"pauseIntegration", fresh, `mutation($id: ID!) { pauseIntegration(id: $id) { status } }`, manage},
		{"resumeIntegration", fresh, `mutation($id: ID!) { resumeIntegration(id: $id) { status } }`, manage},
		{"deleteIntegration", fresh, `mutation($id: ID!) { deleteIntegration(id: $id) }`, manage},
		{"createApiKey", fresh, `mutation($id: ID!) { createApiKey(integrationId: $id, scopes: [ORDERS_READ]) { key } }`, manage},
		{"revokeApiKey", fresh, `mutation($key: ID!) { revokeApiKey(id: $key) { revokedAt } }`, manage},
		{"redeliverWebhook", fresh, `mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { id } }`, manage},
	}
	for _, op := range ops {
		for ci, c := range callers {
			t.Run(op.name+"/"+c.name, func(t *testing.T) {
				e.t = t
				tg := op.target()
				checkOutcome(t, e.gql(c.token(tg.i), op.query, usedVars(op.query, tg.vars)), op.want[ci])
			})
		}
	}

	// The older API, for partners: each scope opens its part of its own
	// project.
	order := func() map[string]any { return map[string]any{"id": e.mustOrder(w.p1, w.dave).ID} }
	partners := callers[6:]
	older := []struct {
		name  string
		vars  func() map[string]any
		query string
		// partner all, INTEGRATIONS_READ, ORDERS_READ, other project
		want [4]string
	}{
		{"me", nil, `{ me { id } }`, [4]string{"null", "null", "null", "null"}},
		{"project", nil, `query($p: ID!) { project(id: $p) { id owner { id } members { totalCount } } }`, [4]string{"ok", "null", "null", "null"}},
		{"projects", nil, `{ projects { totalCount } }`, [4]string{"some", "none", "none", "some"}},
		{"user owner", nil, `query($u: ID!) { user(id: $u) { id } }`, [4]string{"ok", "null", "null", "null"}},
		{"user customer", nil, `query($c: ID!) { user(id: $c) { id } }`, [4]string{"ok", "null", "ok", "null"}},
		{"users", nil, `{ users { totalCount } }`, [4]string{"some", "none", "some", "some"}},
		{"order", nil, `query($o: ID!) { order(id: $o) { id customer { id } project { id } items { sku } } }`, [4]string{"ok", "null", "ok", "null"}},
		{"orders", nil, `query($p: ID) { orders(filter: {projectId: $p}) { totalCount } }`, [4]string{"some", "none", "some", "none"}},
		{"_entities Order", nil, `query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { id } } }`, [4]string{"ok", "null", "ok", "null"}},
		{"createProject", nil, `mutation { createProject(input: {name: "Partner's"}) { id } }`, [4]string{"FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN"}},
		{"updateProject", nil, `mutation($p: ID!) { updateProject(id: $p, input: {name: "Taken"}) { id } }`, [4]string{"FORBIDDEN", "NOT_FOUND", "NOT_FOUND", "NOT_FOUND"}},
		{"createOrder", nil, `mutation($p: ID!, $c: ID!) { createOrder(input: {projectId: $p, customerId: $c, currency: "EUR", items: [{sku: "S", name: "N", quantity: 1, unitPrice: "9.99"}]}) { id } }`,
			[4]string{"ok", "NOT_FOUND", "FORBIDDEN", "NOT_FOUND"}},
		{"createOrder without customer", nil, `mutation($p: ID!) { createOrder(input: {projectId: $p, currency: "EUR", items: [{sku: "S", name: "N", quantity: 1, unitPrice: "9.99"}]}) { id } }`,
			[4]string{"BAD_USER_INPUT", "BAD_USER_INPUT", "BAD_USER_INPUT", "BAD_USER_INPUT"}},
		{"updateOrderStatus", order, `mutation($id: ID!) { updateOrderStatus(id: $id, status: PAID) { id status } }`, [4]string{"ok", "NOT_FOUND", "FORBIDDEN", "NOT_FOUND"}},
		{"cancelOrder", order, `mutation($id: ID!) { cancelOrder(id: $id) { id } }`, [4]string{"ok", "NOT_FOUND", "FORBIDDEN", "NOT_FOUND"}},
	}
	for _, op := range older {
		for pi, c := range partners {
			t.Run("older/"+op.name+"/"+c.name, func(t *testing.T) {
				e.t = t
				vars := map[string]any{"p": w.p1.ID, "u": w.alice.ID, "c": w.dave.ID, "o": w.o1.ID,
					"r": []any{map[string]any{"__typename": "Order", "id": w.o1.ID}}}
				if op.vars != nil {
					for k, v := range op.vars() {
						vars[k] = v
					}
				}
				checkOutcome(t, e.gql(c.token(fixed), op.query, usedVars(op.query, vars)), op.want[pi])
			})
		}
	}
}

// usedVars keeps the variables query declares: GraphQL refuses none, but a
// variable of the wrong type for an undeclared name is noise in failures.
func usedVars(query string, vars map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range vars {
		if strings.Contains(query, "$"+k+":") {
			out[k] = v
		}
	}
	return out
}

// TestAPIKeyAuthentication: a partner's key authenticates as a Bearer token
// or in X-API-Key, with its scopes, and is refused with 401 once it no
// longer works. The key is never echoed or logged.
func TestAPIKeyAuthentication(t *testing.T) {
	t.Parallel()
	e := newIntegrationEnv(t)
	w := e.world()
	i := e.mustIntegration(w.p1, w.alice).Integration
	readKey := e.mustKey(i, w.alice, switchyard.ScopeOrdersRead)
	writeKey := e.mustKey(i, w.alice, switchyard.ScopeOrdersWrite)

	post := func(header map[string]string, query string, vars map[string]any) gqlResponse {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		return e.send(req)
	}
	const orders = `{ orders { totalCount edges { node { id } } } }`
	countOrders := func(r gqlResponse) int {
		var d struct{ Orders struct{ TotalCount int } }
		r.decode(t, &d)
		return d.Orders.TotalCount
	}
	for name, h := range map[string]map[string]string{
		"bearer":         {"Authorization": "Bearer " + readKey.Key},
		"bearer, spaced": {"Authorization": "  bearer   " + readKey.Key + " "},
		"X-API-Key":      {"X-API-Key": readKey.Key},
	} {
		r := post(h, orders, nil)
		if r.Status != http.StatusOK || countOrders(r) != 1 {
			t.Fatalf("%s: %d %s", name, r.Status, r.Raw)
		}
	}

	// Scopes: reading is not writing, and another project stays unknown.
	o := e.mustOrder(w.p1, w.dave)
	const pay = `mutation($id: ID!) { updateOrderStatus(id: $id, status: PAID) { status } }`
	if r := post(map[string]string{"X-API-Key": readKey.Key}, pay, map[string]any{"id": o.ID}); r.code() != switchyard.EFORBIDDEN {
		t.Fatalf("ORDERS_READ paid an order: %s", r.Raw)
	}
	if r := post(map[string]string{"X-API-Key": writeKey.Key}, pay, map[string]any{"id": o.ID}); len(r.Errors) > 0 || !strings.Contains(r.Raw, "PAID") {
		t.Fatalf("ORDERS_WRITE: %s", r.Raw)
	}
	if r := post(map[string]string{"X-API-Key": writeKey.Key}, `query($id: ID!) { order(id: $id) { id } }`, map[string]any{"id": w.o2.ID}); !strings.Contains(r.Raw, `"order":null`) {
		t.Fatalf("another project's order: %s", r.Raw)
	}
	// The write is recorded as the system's: no user made it.
	r := e.gql(e.token(w.alice), `query($id: ID!) { order(id: $id) { history { to actor { id } } } }`, map[string]any{"id": o.ID})
	if !strings.Contains(r.Raw, `{"to":"PAID","actor":null}`) {
		t.Fatalf("history %s", r.Raw)
	}

	refused := func(name string, h map[string]string) {
		t.Helper()
		r := post(h, orders, nil)
		if r.Status != http.StatusUnauthorized || r.code() != switchyard.EUNAUTHENTICATED || r.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: %d %s", name, r.Status, r.Raw)
		}
		for _, v := range h {
			if v != "" && strings.Contains(r.Raw, strings.TrimSpace(strings.TrimPrefix(v, "Bearer "))) {
				t.Fatalf("%s: the response echoes the key: %s", name, r.Raw)
			}
		}
	}
	refused("unknown key", map[string]string{"Authorization": "Bearer sy_live_" + strings.Repeat("A", 43)})
	refused("unknown X-API-Key", map[string]string{"X-API-Key": "sy_live_nope"})
	refused("X-API-Key that is no key", map[string]string{"X-API-Key": e.token(w.alice)})
	refused("both headers", map[string]string{"Authorization": "Bearer " + e.token(w.alice), "X-API-Key": readKey.Key})

	if _, err := e.integrations.PauseIntegration(asUser(w.alice), i.ID); err != nil {
		t.Fatal(err)
	}
	refused("paused integration", map[string]string{"X-API-Key": readKey.Key})
	if _, err := e.integrations.ResumeIntegration(asUser(w.alice), i.ID); err != nil {
		t.Fatal(err)
	}
	if r := post(map[string]string{"X-API-Key": readKey.Key}, orders, nil); r.Status != http.StatusOK {
		t.Fatalf("resumed: %s", r.Raw)
	}
	if r := e.gql(e.token(w.alice), `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, map[string]any{"id": readKey.APIKey.ID}); len(r.Errors) > 0 {
		t.Fatal(r.Raw)
	}
	refused("revoked key", map[string]string{"Authorization": "Bearer " + readKey.Key})
	if r := post(map[string]string{"X-API-Key": writeKey.Key}, orders, nil); r.Status != http.StatusOK {
		t.Fatalf("the other key must keep working: %s", r.Raw)
	}

	// A server without an API key resolver refuses keys rather than reading
	// them as JWTs.
	plain := newEnv(t)
	plain.t = t
	req, _ := http.NewRequest(http.MethodPost, plain.url+"/graphql", strings.NewReader(`{"query":"{ me { id } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", writeKey.Key)
	if r := plain.send(req); r.Status != http.StatusUnauthorized || !strings.Contains(r.Raw, "does not accept API keys") {
		t.Fatalf("no resolver: %d %s", r.Status, r.Raw)
	}

	for _, k := range []string{readKey.Key, writeKey.Key} {
		if strings.Contains(e.logs.String(), k) || strings.Contains(e.logs.String(), k[12:]) {
			t.Fatal("a key was logged")
		}
	}
}

// TestIntegrationFieldsAreBatched: the statements of a nested integration
// query do not grow with the number of projects and integrations.
func TestIntegrationFieldsAreBatched(t *testing.T) {
	t.Parallel()
	e := newIntegrationEnv(t, withLoaderWait(50*time.Millisecond))
	admin := e.mustUser("Admin", switchyard.RoleAdmin)
	owner := e.mustUser("Owner", switchyard.RoleMember)
	token := e.token(admin)
	for p := range 4 {
		project := e.mustProject("P"+string(rune('A'+p)), owner)
		for range 3 {
			i := e.mustIntegration(project, owner).Integration
			e.mustKey(i, owner, switchyard.ScopeOrdersRead)
			e.mustDelivery(i)
		}
	}
	const q = `query($n: Int) { projects(first: $n) { edges { node { integrations(first: 10) { edges { node {
		owner { name } project { name } health { consecutiveFailures } apiKeys { prefix } deliveries(first: 5) { edges { node { status } } } } } } } } } }`
	count := func(n int) int64 {
		e.t = t
		before := e.stmts.n.Load() + e.istmts.n.Load()
		r := e.gql(token, q, map[string]any{"n": n})
		if len(r.Errors) > 0 || strings.Count(r.Raw, `"consecutiveFailures"`) != 3*n {
			t.Fatalf("%d projects: %s", n, r.Raw)
		}
		return e.stmts.n.Load() + e.istmts.n.Load() - before
	}
	one, four := count(1), count(4)
	if four != one {
		t.Fatalf("1 project: %d statements, 4 projects: %d; the fields are not batched", one, four)
	}
}
