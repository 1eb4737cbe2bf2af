package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

// testSecretKey encrypts the signing secrets of the integration tests.
var testSecretKey = bytes.Repeat([]byte{0x5a}, SecretKeyBytes)

// integrationFixture is a world with the integration and order services.
type integrationFixture struct {
	*world
	Integrations *IntegrationService
	Orders       *OrderService
}

func newIntegrationFixture(t testing.TB, opts ...func(*IntegrationOptions)) *integrationFixture {
	t.Helper()
	w := newWorld(t)
	o := IntegrationOptions{SecretKey: testSecretKey}
	for _, f := range opts {
		f(&o)
	}
	s, err := NewIntegrationService(w.DB, o)
	if err != nil {
		t.Fatal(err)
	}
	return &integrationFixture{world: w, Integrations: s, Orders: NewOrderService(w.DB)}
}

// partnerCtx returns ctx with a partner caller of integrationID in
// projectID holding scopes, as ResolveAPIKey makes one.
func partnerCtx(ctx context.Context, projectID, integrationID string, scopes ...switchyard.APIKeyScope) context.Context {
	return switchyard.NewContextWithCaller(ctx, &switchyard.Caller{Partner: &switchyard.PartnerCaller{
		APIKeyID: "00000000-0000-4000-8000-0000000000a1", ProjectID: projectID, IntegrationID: integrationID, Scopes: scopes,
	}})
}

// partnerIntegrationID is the integration of partner callers made with
// partnerCtx where only their project and scopes matter.
const partnerIntegrationID = "00000000-0000-4000-8000-0000000000b1"

var integrationSeq atomic.Int64

// outboundInput is a valid OUTBOUND integration of project p.
func outboundInput(p *switchyard.Project) switchyard.IntegrationCreate {
	url := fmt.Sprintf("https://hooks.example.com/%d", integrationSeq.Add(1))
	return switchyard.IntegrationCreate{ProjectID: p.ID, Name: "Fulfilment", Provider: switchyard.ProviderGeneric,
		Direction: switchyard.DirectionOutbound, EventTypes: []string{switchyard.EventOrderCreated}, EndpointURL: &url}
}

// mustIntegration creates an OUTBOUND integration in p as p's owner.
func (f *integrationFixture) mustIntegration(t testing.TB, p *switchyard.Project) *switchyard.IntegrationWithSecret {
	t.Helper()
	owner := &switchyard.User{ID: p.OwnerID, Role: switchyard.RoleMember}
	got, err := f.Integrations.CreateIntegration(userCtx(context.Background(), owner), outboundInput(p))
	if err != nil {
		t.Fatalf("create integration: %v", err)
	}
	return got
}

// insertDelivery writes a delivery row as the webhook machinery would.
type deliveryRow struct {
	Direction       switchyard.DeliveryDirection
	Status          switchyard.DeliveryStatus
	Attempt         int
	EventID         *int64
	ProviderEventID *string
	Payload         *string
	Age             time.Duration
}

func (f *integrationFixture) insertDelivery(t testing.TB, integrationID string, d deliveryRow) string {
	t.Helper()
	if d.Direction == "" {
		d.Direction = switchyard.DeliveryOutbound
	}
	if d.Attempt == 0 {
		d.Attempt = 1
	}
	var id string
	err := f.DB.Pool().QueryRow(context.Background(), `INSERT INTO webhook_deliveries
			(integration_id, direction, event_type, event_id, provider_event_id, attempt, status, payload, created_at)
		VALUES ($1, $2, 'order.created', $3, $4, $5, $6, $7::jsonb, now() - make_interval(secs => $8)) RETURNING id::text`,
		integrationID, d.Direction, d.EventID, d.ProviderEventID, d.Attempt, d.Status, d.Payload, d.Age.Seconds()).Scan(&id)
	if err != nil {
		t.Fatalf("insert delivery: %v", err)
	}
	return id
}

func (f *integrationFixture) count(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := f.DB.Pool().QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

var generatedSecret = regexp.MustCompile(`^whsec_[A-Za-z0-9_-]{43}$`)

func TestCreateIntegration(t *testing.T) {
	t.Parallel()
	f := newIntegrationFixture(t)
	ctx := context.Background()
	given := "whsec_stripe_issued_this_0123456789"
	cases := []struct {
		name      string
		ctx       context.Context
		edit      func(*switchyard.IntegrationCreate)
		wantOwner string
	}{
		{"owner, outbound", userCtx(ctx, f.Owner), nil, f.Owner.ID},
		{"admin user", userCtx(ctx, f.Admin), nil, f.Admin.ID},
		// adminCtx's caller is no users row: the project's owner owns it.
		{"system admin", adminCtx(ctx), nil, f.Owner.ID},
		{"inbound, provider's secret", userCtx(ctx, f.Owner), func(in *switchyard.IntegrationCreate) {
			in.Direction, in.Provider, in.EndpointURL, in.EventTypes, in.Secret = switchyard.DirectionInbound, switchyard.ProviderStripe, nil, nil, &given
			in.Criticality = switchyard.CriticalityCritical
		}, f.Owner.ID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := outboundInput(f.Project)
			if c.edit != nil {
				c.edit(&in)
			}
			before := lastEventID(t, f.DB)
			got, err := f.Integrations.CreateIntegration(c.ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			i := got.Integration
			if i.ProjectID != f.Project.ID || i.Name != in.Name || i.Provider != in.Provider || i.Direction != in.Direction ||
				i.Status != switchyard.IntegrationActive || i.OwnerID != c.wantOwner || !validID(i.ID) {
				t.Fatalf("created %+v", i)
			}
			if in.Secret != nil {
				if got.Secret != given || i.Criticality != switchyard.CriticalityCritical || i.EndpointURL != nil || len(i.EventTypes) != 0 {
					t.Fatalf("inbound: %+v, secret %q", i, got.Secret)
				}
			} else if !generatedSecret.MatchString(got.Secret) || i.Criticality != switchyard.CriticalityMedium || *i.EndpointURL != *in.EndpointURL {
				t.Fatalf("outbound: %+v, secret %q", i, got.Secret)
			}
			if i.SecretHint != got.Secret[len(got.Secret)-4:] {
				t.Fatalf("hint %q for secret ending %q", i.SecretHint, got.Secret[len(got.Secret)-4:])
			}
			secrets, err := f.Integrations.SigningSecrets(ctx, i.ID)
			if err != nil || len(secrets) != 1 || secrets[0].Value != got.Secret || !secrets[0].ValidUntil.IsZero() {
				t.Fatalf("signing secrets %+v, %v", secrets, err)
			}
			events := eventsAfter(t, f.DB, before)
			if len(events) != 1 || events[0].Type != switchyard.EventIntegrationCreated || events[0].SubjectType != "integration" ||
				events[0].SubjectID != i.ID || events[0].ProjectID == nil || *events[0].ProjectID != f.Project.ID {
				t.Fatalf("events %+v", events)
			}
			if bytes.Contains(events[0].Data, []byte(got.Secret)) {
				t.Fatalf("the event holds the secret: %s", events[0].Data)
			}
		})
	}
}

func TestCreateIntegrationRefusesBadInput(t *testing.T) {
	t.Parallel()
	f := newIntegrationFixture(t)
	ctx := userCtx(context.Background(), f.Owner)
	archived := mustCreateProject(t, f.Projects, "Old", f.Owner)
	if _, err := f.Projects.ArchiveProject(adminCtx(context.Background()), archived.ID); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		edit  func(*switchyard.IntegrationCreate)
		code  string
		field string
	}{
		{"empty name", func(in *switchyard.IntegrationCreate) { in.Name = " " }, switchyard.EINVALID, "input.name"},
		{"unknown provider", func(in *switchyard.IntegrationCreate) { in.Provider = "SQUARE" }, switchyard.EINVALID, "input.provider"},
		{"unknown event type", func(in *switchyard.IntegrationCreate) {
			in.EventTypes = []string{switchyard.EventOrderCreated, switchyard.EventOrderShipmentSet, "order.teleported"}
		}, switchyard.EINVALID, "input.eventTypes[2]"},
		{"not a URL", func(in *switchyard.IntegrationCreate) { u := "hooks dot example"; in.EndpointURL = &u }, switchyard.EINVALID, "input.endpointUrl"},
		{"plain http", func(in *switchyard.IntegrationCreate) { u := "http://hooks.example.com/x"; in.EndpointURL = &u }, switchyard.EINVALID, "input.endpointUrl"},
		{"loopback", func(in *switchyard.IntegrationCreate) { u := "https://127.0.0.1:9/x"; in.EndpointURL = &u }, switchyard.EINVALID, "input.endpointUrl"},
		{"metadata service", func(in *switchyard.IntegrationCreate) { u := "https://169.254.169.254/"; in.EndpointURL = &u }, switchyard.EINVALID, "input.endpointUrl"},
		{"outbound without endpoint", func(in *switchyard.IntegrationCreate) { in.EndpointURL = nil }, switchyard.EINVALID, "input.endpointUrl"},
		{"short secret", func(in *switchyard.IntegrationCreate) { s := "abc"; in.Secret = &s }, switchyard.EINVALID, "input.secret"},
		{"unknown project", func(in *switchyard.IntegrationCreate) { in.ProjectID = "00000000-0000-4000-8000-000000000000" }, switchyard.ENOTFOUND, "input.projectId"},
		{"malformed project", func(in *switchyard.IntegrationCreate) { in.ProjectID = "nope" }, switchyard.ENOTFOUND, "input.projectId"},
		{"another tenant's project", func(in *switchyard.IntegrationCreate) { in.ProjectID = f.OtherProject.ID }, switchyard.ENOTFOUND, "input.projectId"},
		{"archived project", func(in *switchyard.IntegrationCreate) { in.ProjectID = archived.ID }, switchyard.EINVALID, "input.projectId"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := lastEventID(t, f.DB)
			in := outboundInput(f.Project)
			c.edit(&in)
			_, err := f.Integrations.CreateIntegration(ctx, in)
			wantCode(t, err, c.code)
			if switchyard.ErrorField(err) != c.field {
				t.Fatalf("field %q, want %q (%v)", switchyard.ErrorField(err), c.field, err)
			}
			if n := f.count(t, `SELECT count(*) FROM integrations`) + f.count(t, `SELECT count(*) FROM integration_secrets`); n != 0 {
				t.Fatalf("%d rows written", n)
			}
			if ev := eventsAfter(t, f.DB, before); len(ev) != 0 {
				t.Fatalf("events written: %+v", ev)
			}
		})
	}

	t.Run("private endpoints when allowed", func(t *testing.T) {
		s, err := NewIntegrationService(f.DB, IntegrationOptions{SecretKey: testSecretKey, AllowPrivateEndpoints: true})
		if err != nil {
			t.Fatal(err)
		}
		in := outboundInput(f.Project)
		u := "http://127.0.0.1:9999/hook"
		in.EndpointURL = &u
		got, err := s.CreateIntegration(ctx, in)
		if err != nil || *got.Integration.EndpointURL != u {
			t.Fatalf("%+v, %v", got, err)
		}
	})
}

// TestSecretsAreWriteOnly: the secret and the API key are answered once and
// never again: no read returns them, no event or row holds them in the clear.
func TestSecretsAreWriteOnly(t *testing.T) {
	t.Parallel()
	f := newIntegrationFixture(t)
	ctx := userCtx(context.Background(), f.Owner)
	created := f.mustIntegration(t, f.Project)
	i := created.Integration
	rotated, err := f.Integrations.RotateIntegrationSecret(ctx, i.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := f.Integrations.CreateAPIKey(ctx, i.ID, []switchyard.APIKeyScope{switchyard.ScopeOrdersRead})
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{created.Secret, rotated.Secret, key.Key}

	// Every read the API offers.
	var reads []any
	one, err := f.Integrations.FindIntegrationByID(ctx, i.ID)
	reads = append(reads, one, err)
	list, err := f.Integrations.FindIntegrations(ctx, switchyard.IntegrationFilter{}, switchyard.PageArgs{})
	reads = append(reads, list, err)
	byProject, err := f.Integrations.FindIntegrationsByProjects(ctx, []string{f.Project.ID}, switchyard.PageArgs{})
	reads = append(reads, byProject, err)
	keys, err := f.Integrations.FindAPIKeys(ctx, []string{i.ID})
	reads = append(reads, keys, err)
	health, err := f.Integrations.IntegrationHealth(ctx, []string{i.ID})
	reads = append(reads, health, err)
	looked, err := f.Integrations.LookupIntegration(ctx, i.ID)
	reads = append(reads, looked, err, rotated.Integration, key.APIKey)
	blob, err := json.Marshal(reads)
	if err != nil {
		t.Fatal(err)
	}
	if list == nil || len(list.Edges) != 1 || len(keys[i.ID]) != 1 {
		t.Fatalf("reads missed the integration: %s", blob)
	}
	for _, s := range secrets {
		if strings.Contains(string(blob), s) || strings.Contains(string(blob), s[6:]) {
			t.Fatalf("a read returns a secret: %s", blob)
		}
	}

	// The database holds ciphertext and a digest, not the secrets.
	var dump string
	err = f.DB.Pool().QueryRow(context.Background(), `SELECT concat_ws(' ',
			(SELECT string_agg(row_to_json(x)::text, ' ') FROM integrations x),
			(SELECT string_agg(row_to_json(x)::text || encode(x.ciphertext, 'escape'), ' ') FROM integration_secrets x),
			(SELECT string_agg(row_to_json(x)::text || encode(x.key_hash, 'escape'), ' ') FROM api_keys x),
			(SELECT string_agg(row_to_json(x)::text, ' ') FROM events x))`).Scan(&dump)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(dump, s) || strings.Contains(dump, s[8:]) {
			t.Fatalf("the database holds a secret in the clear")
		}
	}
	sum := sha256.Sum256([]byte(key.Key))
	if n := f.count(t, `SELECT count(*) FROM api_keys WHERE key_hash = $1 AND prefix = $2`, sum[:], key.Key[:12]); n != 1 {
		t.Fatal("the key's SHA-256 and prefix are not what is stored")
	}
	if n := f.count(t, `SELECT count(*) FROM integration_secrets WHERE length(nonce) = 12 AND length(ciphertext) > 16 AND key_id = $1`, f.Integrations.box.keyID); n != 2 {
		t.Fatalf("%d sealed secrets, want 2", n)
	}

	// Under another SWITCHYARD_SECRET_KEY the secrets do not open, and the
	// error says why without showing them.
	other, err := NewIntegrationService(f.DB, IntegrationOptions{SecretKey: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.SigningSecrets(context.Background(), i.ID)
	if err == nil || switchyard.ErrorCode(err) != switchyard.EINTERNAL || !strings.Contains(err.Error(), "another SWITCHYARD_SECRET_KEY") {
		t.Fatalf("opening under another key: %v", err)
	}
	// A ciphertext moved to another integration's row does not open either.
	moved := f.mustIntegration(t, f.Project).Integration
	_, err = f.DB.Pool().Exec(context.Background(), `UPDATE integration_secrets t SET ciphertext = s.ciphertext, nonce = s.nonce
		FROM integration_secrets s WHERE t.integration_id = $1 AND s.integration_id = $2 AND s.valid_until IS NULL`, moved.ID, i.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Integrations.SigningSecrets(context.Background(), moved.ID); err == nil || strings.Contains(err.Error(), rotated.Secret) {
		t.Fatalf("a moved ciphertext opened, or the error shows it: %v", err)
	}
}

func TestRotateIntegrationSecret(t *testing.T) {
	t.Parallel()
	const grace = time.Hour
	f := newIntegrationFixture(t, func(o *IntegrationOptions) { o.SecretGracePeriod = grace })
	ctx := userCtx(context.Background(), f.Owner)
	first := f.mustIntegration(t, f.Project)
	id := first.Integration.ID

	values := func(t *testing.T) ([]string, []switchyard.Secret) {
		t.Helper()
		s, err := f.Integrations.SigningSecrets(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(s))
		for i, x := range s {
			out[i] = x.Value
		}
		return out, s
	}
	closeTo := func(got, want time.Time) bool { d := got.Sub(want); return d > -time.Minute && d < time.Minute }

	before := lastEventID(t, f.DB)
	second, err := f.Integrations.RotateIntegrationSecret(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.Secret == first.Secret || !generatedSecret.MatchString(second.Secret) || second.Integration.SecretHint != second.Secret[len(second.Secret)-4:] {
		t.Fatalf("rotated: %+v", second)
	}
	if ev := eventsAfter(t, f.DB, before); len(ev) != 1 || ev[0].Type != switchyard.EventIntegrationUpdated || bytes.Contains(ev[0].Data, []byte(second.Secret)) {
		t.Fatalf("events %+v", ev)
	}
	got, secrets := values(t)
	if strings.Join(got, ",") != second.Secret+","+first.Secret || !secrets[0].ValidUntil.IsZero() || !closeTo(secrets[1].ValidUntil, time.Now().Add(grace)) {
		t.Fatalf("after one rotation: %v %+v", got, secrets)
	}
	firstUntil := secrets[1].ValidUntil

	// A provider-issued secret; the first keeps its own end, the second's
	// grace starts now.
	third := "whsec_provider_rotated_0123456789"
	if _, err := f.Integrations.RotateIntegrationSecret(ctx, id, &third); err != nil {
		t.Fatal(err)
	}
	got, secrets = values(t)
	if strings.Join(got, ",") != third+","+second.Secret+","+first.Secret || !secrets[2].ValidUntil.Equal(firstUntil) {
		t.Fatalf("after two rotations: %v %+v", got, secrets)
	}

	// The grace period ends: only the current secret verifies, and the next
	// rotation removes the expired rows.
	if _, err := f.DB.Pool().Exec(context.Background(), `UPDATE integration_secrets SET valid_until = now() - interval '1 second'
		WHERE integration_id = $1 AND valid_until IS NOT NULL`, id); err != nil {
		t.Fatal(err)
	}
	if got, _ = values(t); strings.Join(got, ",") != third {
		t.Fatalf("after the grace period: %v", got)
	}
	if _, err := f.Integrations.RotateIntegrationSecret(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if n := f.count(t, `SELECT count(*) FROM integration_secrets WHERE integration_id = $1`, id); n != 2 {
		t.Fatalf("%d secret rows, want the current and the one in grace", n)
	}

	// Bad input and other callers change nothing.
	hint := func() string {
		i, err := f.Integrations.LookupIntegration(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return i.SecretHint
	}
	h0 := hint()
	short := "short"
	_, err = f.Integrations.RotateIntegrationSecret(ctx, id, &short)
	wantCode(t, err, switchyard.EINVALID)
	_, err = f.Integrations.RotateIntegrationSecret(userCtx(context.Background(), f.Member), id, nil)
	wantCode(t, err, switchyard.EFORBIDDEN)
	if hint() != h0 || f.count(t, `SELECT count(*) FROM integration_secrets WHERE integration_id = $1`, id) != 2 {
		t.Fatal("a refused rotation changed the secrets")
	}

	// Without a grace period the old secret stops at once.
	now, err := NewIntegrationService(f.DB, IntegrationOptions{SecretKey: testSecretKey, SecretGracePeriod: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	rot, err := now.RotateIntegrationSecret(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ = values(t); strings.Join(got, ",") != rot.Secret {
		t.Fatalf("with no grace: %v", got)
	}
}

func TestUpdatePauseResumeDeleteIntegration(t *testing.T) {
	t.Parallel()
	f := newIntegrationFixture(t)
	ctx := userCtx(context.Background(), f.Owner)
	i := f.mustIntegration(t, f.Project).Integration

	step := func(t *testing.T, wantEvent string, run func() (*switchyard.Integration, error)) *switchyard.Integration {
		t.Helper()
		before := lastEventID(t, f.DB)
		got, err := run()
		if err != nil {
			t.Fatal(err)
		}
		ev := eventsAfter(t, f.DB, before)
		switch {
		case wantEvent == "" && len(ev) != 0:
			t.Fatalf("a no-op wrote %+v", ev)
		case wantEvent != "" && (len(ev) != 1 || ev[0].Type != wantEvent || ev[0].SubjectID != i.ID):
			t.Fatalf("events %+v, want one %s", ev, wantEvent)
		}
		return got
	}

	name, crit := "  Warehouse  ", switchyard.CriticalityHigh
	u := step(t, switchyard.EventIntegrationUpdated, func() (*switchyard.Integration, error) {
		return f.Integrations.UpdateIntegration(ctx, i.ID, switchyard.IntegrationUpdate{Name: &name, Criticality: &crit,
			EventTypes: []string{switchyard.EventOrderStatusChanged, switchyard.EventOrderShipmentSet}})
	})
	if u.Name != "Warehouse" || u.Criticality != crit || strings.Join(u.EventTypes, ",") != "order.status_changed,order.shipment_set" ||
		*u.EndpointURL != *i.EndpointURL || !u.UpdatedAt.After(i.UpdatedAt) {
		t.Fatalf("updated %+v", u)
	}
	step(t, "", func() (*switchyard.Integration, error) {
		return f.Integrations.UpdateIntegration(ctx, i.ID, switchyard.IntegrationUpdate{Name: &name})
	})

	empty := ""
	for _, bad := range []struct {
		in    switchyard.IntegrationUpdate
		field string
	}{
		{switchyard.IntegrationUpdate{EndpointURL: &empty}, "input.endpointUrl"},
		{switchyard.IntegrationUpdate{EventTypes: []string{}}, "input.eventTypes"},
		{switchyard.IntegrationUpdate{EventTypes: []string{"order.created", "nope"}}, "input.eventTypes[1]"},
		{switchyard.IntegrationUpdate{Name: &empty}, "input.name"},
	} {
		before := lastEventID(t, f.DB)
		_, err := f.Integrations.UpdateIntegration(ctx, i.ID, bad.in)
		wantCode(t, err, switchyard.EINVALID)
		if switchyard.ErrorField(err) != bad.field || len(eventsAfter(t, f.DB, before)) != 0 {
			t.Fatalf("%+v: field %q, want %q", bad.in, switchyard.ErrorField(err), bad.field)
		}
	}
	in := switchyard.DirectionInbound
	u = step(t, switchyard.EventIntegrationUpdated, func() (*switchyard.Integration, error) {
		return f.Integrations.UpdateIntegration(ctx, i.ID, switchyard.IntegrationUpdate{Direction: &in, EndpointURL: &empty})
	})
	if u.Direction != in || u.EndpointURL != nil {
		t.Fatalf("to inbound: %+v", u)
	}

	p := step(t, switchyard.EventIntegrationUpdated, func() (*switchyard.Integration, error) { return f.Integrations.PauseIntegration(ctx, i.ID) })
	if p.Status != switchyard.IntegrationPaused {
		t.Fatalf("paused: %+v", p)
	}
	step(t, "", func() (*switchyard.Integration, error) { return f.Integrations.PauseIntegration(ctx, i.ID) })
	r := step(t, switchyard.EventIntegrationUpdated, func() (*switchyard.Integration, error) { return f.Integrations.ResumeIntegration(ctx, i.ID) })
	if r.Status != switchyard.IntegrationActive {
		t.Fatalf("resumed: %+v", r)
	}
	step(t, "", func() (*switchyard.Integration, error) { return f.Integrations.ResumeIntegration(ctx, i.ID) })

	// The breaker opened: resuming closes it and clears the failure run.
	if _, err := f.DB.Pool().Exec(context.Background(), `UPDATE integrations SET status = 'FAILING', consecutive_failures = 9 WHERE id = $1`, i.ID); err != nil {
		t.Fatal(err)
	}
	step(t, switchyard.EventIntegrationUpdated, func() (*switchyard.Integration, error) { return f.Integrations.ResumeIntegration(ctx, i.ID) })
	if h, err := f.Integrations.IntegrationHealth(ctx, []string{i.ID}); err != nil || h[i.ID].ConsecutiveFailures != 0 {
		t.Fatalf("health after resume %+v, %v", h[i.ID], err)
	}

	if _, err := f.Integrations.CreateAPIKey(ctx, i.ID, []switchyard.APIKeyScope{switchyard.ScopeOrdersRead}); err != nil {
		t.Fatal(err)
	}
	f.insertDelivery(t, i.ID, deliveryRow{Status: switchyard.DeliverySucceeded})
	d := step(t, switchyard.EventIntegrationDeleted, func() (*switchyard.Integration, error) { return f.Integrations.DeleteIntegration(ctx, i.ID) })
	if d.ID != i.ID {
		t.Fatalf("deleted %+v", d)
	}
	for _, table := range []string{"integrations", "integration_secrets", "api_keys", "webhook_deliveries"} {
		if n := f.count(t, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%d rows left in %s", n, table)
		}
	}
	_, err := f.Integrations.FindIntegrationByID(ctx, i.ID)
	wantCode(t, err, switchyard.ENOTFOUND)
	_, err = f.Integrations.DeleteIntegration(ctx, i.ID)
	wantCode(t, err, switchyard.ENOTFOUND)
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	f := newIntegrationFixture(t)
	ctx := userCtx(context.Background(), f.Owner)
	i := f.mustIntegration(t, f.Project).Integration

	for _, bad := range []struct {
		scopes []switchyard.APIKeyScope
		field  string
	}{
		{nil, "scopes"},
		{[]switchyard.APIKeyScope{switchyard.ScopeOrdersRead, "EVERYTHING"}, "scopes[1]"},
	} {
		_, err := f.Integrations.CreateAPIKey(ctx, i.ID, bad.scopes)
		wantCode(t, err, switchyard.EINVALID)
		if switchyard.ErrorField(err) != bad.field || f.count(t, `SELECT count(*) FROM api_keys`) != 0 {
			t.Fatalf("%v: %v", bad.scopes, err)
		}
	}

	made, err := f.Integrations.CreateAPIKey(ctx, i.ID, []switchyard.APIKeyScope{switchyard.ScopeOrdersRead, switchyard.ScopeProjectsRead, switchyard.ScopeOrdersRead})
	if err != nil {
		t.Fatal(err)
	}
	k := made.APIKey
	if !regexp.MustCompile(`^sy_live_[A-Za-z0-9_-]{43}$`).MatchString(made.Key) || k.Prefix != made.Key[:12] || k.IntegrationID != i.ID ||
		fmt.Sprint(k.Scopes) != "[ORDERS_READ PROJECTS_READ]" || k.LastUsedAt != nil || k.RevokedAt != nil {
		t.Fatalf("made %+v key %q", k, made.Key)
	}

	resolve := func(key string) (*switchyard.Caller, error) {
		return f.Integrations.ResolveAPIKey(context.Background(), key)
	}
	c, err := resolve(made.Key)
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID != "" || c.Role != "" || c.IsAdmin() || c.Partner == nil || c.Partner.APIKeyID != k.ID || c.Partner.IntegrationID != i.ID ||
		c.Partner.ProjectID != f.Project.ID || fmt.Sprint(c.Partner.Scopes) != "[ORDERS_READ PROJECTS_READ]" {
		t.Fatalf("caller %+v partner %+v", c, c.Partner)
	}
	keys, err := f.Integrations.FindAPIKeys(ctx, []string{i.ID})
	if err != nil || len(keys[i.ID]) != 1 || keys[i.ID][0].LastUsedAt == nil {
		t.Fatalf("keys %+v, %v: last use not recorded", keys, err)
	}

	refused := func(t *testing.T, key string) {
		t.Helper()
		c, err := resolve(key)
		wantCode(t, err, switchyard.EUNAUTHENTICATED)
		if c != nil || (key != "" && strings.Contains(err.Error(), key)) {
			t.Fatalf("refusal %v", err)
		}
	}
	refused(t, made.Key+"x")
	// One character changed: the last one, to something it is not.
	last := "A"
	if strings.HasSuffix(made.Key, last) {
		last = "B"
	}
	refused(t, made.Key[:len(made.Key)-1]+last)
	refused(t, strings.TrimPrefix(made.Key, "sy_live_"))
	refused(t, "")
	refused(t, "sy_live_"+strings.Repeat("a", 500))

	// Pausing the integration stops its keys; resuming restores them.
	if _, err := f.Integrations.PauseIntegration(ctx, i.ID); err != nil {
		t.Fatal(err)
	}
	refused(t, made.Key)
	if _, err := f.Integrations.ResumeIntegration(ctx, i.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := resolve(made.Key); err != nil {
		t.Fatalf("after resume: %v", err)
	}
	// A FAILING integration's partner still works: failing is about its
	// endpoint, not the partner.
	if _, err := f.DB.Pool().Exec(context.Background(), `UPDATE integrations SET status = 'FAILING' WHERE id = $1`, i.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := resolve(made.Key); err != nil {
		t.Fatalf("failing: %v", err)
	}

	// Revoking: only managers, then at once.
	_, err = f.Integrations.RevokeAPIKey(userCtx(context.Background(), f.Member), k.ID)
	wantCode(t, err, switchyard.EFORBIDDEN)
	_, err = f.Integrations.RevokeAPIKey(userCtx(context.Background(), f.Other), k.ID)
	wantCode(t, err, switchyard.ENOTFOUND)
	rev, err := f.Integrations.RevokeAPIKey(ctx, k.ID)
	if err != nil || rev.RevokedAt == nil {
		t.Fatalf("revoke %+v, %v", rev, err)
	}
	again, err := f.Integrations.RevokeAPIKey(ctx, k.ID)
	if err != nil || !again.RevokedAt.Equal(*rev.RevokedAt) {
		t.Fatalf("revoking twice moved the time: %+v, %v", again, err)
	}
	refused(t, made.Key)

	// A deleted project's keys stop; so do a deleted integration's.
	other, err := f.Integrations.CreateAPIKey(ctx, i.ID, []switchyard.APIKeyScope{switchyard.ScopeOrdersRead})
	if err != nil {
		t.Fatal(err)
	}
	p2 := mustCreateProject(t, f.Projects, "Doomed", f.Owner)
	i2 := f.mustIntegration(t, p2).Integration
	k2, err := f.Integrations.CreateAPIKey(ctx, i2.ID, []switchyard.APIKeyScope{switchyard.ScopeOrdersRead})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Projects.DeleteProject(ctx, p2.ID); err != nil {
		t.Fatal(err)
	}
	refused(t, k2.Key)
	if _, err := f.Integrations.DeleteIntegration(ctx, i.ID); err != nil {
		t.Fatal(err)
	}
	refused(t, other.Key)
}

// TestIntegrationAuthorizationMatrix runs every method as every kind of
// caller. Reads answer "" when the integration is visible and NOT_FOUND when
// it is not; writes their error code.
func TestIntegrationAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	f := newIntegrationFixture(t)
	svc := f.Integrations
	bg := context.Background()
	// The partners' own integration; each case works on a fresh one.
	partnerOwn := f.mustIntegration(t, f.Project).Integration
	visible := func(ok bool) error {
		if ok {
			return nil
		}
		return switchyard.Errorf(switchyard.ENOTFOUND, "not visible")
	}
	const (
		ok     = ""
		nf     = switchyard.ENOTFOUND
		unauth = switchyard.EUNAUTHENTICATED
		forb   = switchyard.EFORBIDDEN
	)
	all := switchyard.APIKeyScopes
	noIntegrations := []switchyard.APIKeyScope{switchyard.ScopeOrdersWrite, switchyard.ScopeProjectsRead, switchyard.ScopeAnalyticsRead}
	callers := []struct {
		name string
		// ctx builds the caller for the integration under test.
		ctx func(i *switchyard.Integration) context.Context
	}{
		{"anonymous", func(*switchyard.Integration) context.Context { return anonCtx(bg) }},
		{"owner", func(*switchyard.Integration) context.Context { return userCtx(bg, f.Owner) }},
		{"member", func(*switchyard.Integration) context.Context { return userCtx(bg, f.Member) }},
		{"other tenant", func(*switchyard.Integration) context.Context { return userCtx(bg, f.Other) }},
		{"other member", func(*switchyard.Integration) context.Context { return userCtx(bg, f.OtherMate) }},
		{"no project", func(*switchyard.Integration) context.Context { return userCtx(bg, f.Loner) }},
		{"admin", func(*switchyard.Integration) context.Context { return userCtx(bg, f.Admin) }},
		{"system admin", func(*switchyard.Integration) context.Context { return adminCtx(bg) }},
		{"partner, INTEGRATIONS_READ", func(i *switchyard.Integration) context.Context {
			return partnerCtx(bg, i.ProjectID, i.ID, switchyard.ScopeIntegrationsRead)
		}},
		{"partner, every scope", func(i *switchyard.Integration) context.Context { return partnerCtx(bg, i.ProjectID, i.ID, all...) }},
		{"partner, no INTEGRATIONS_READ", func(i *switchyard.Integration) context.Context {
			return partnerCtx(bg, i.ProjectID, i.ID, noIntegrations...)
		}},
		{"partner of a sibling integration", func(i *switchyard.Integration) context.Context {
			return partnerCtx(bg, i.ProjectID, partnerOwn.ID, all...)
		}},
		{"partner of another project", func(i *switchyard.Integration) context.Context {
			return partnerCtx(bg, f.OtherProject.ID, partnerOwn.ID, all...)
		}},
	}
	//                     anon    owner member other  mate  loner admin sys  p-read p-all p-none sibling p-other
	readable := []string{nf, ok, ok, nf, nf, nf, ok, ok, ok, ok, nf, nf, nf}
	listed := []string{unauth, ok, ok, nf, nf, nf, ok, ok, ok, ok, nf, nf, nf}
	manage := []string{unauth, ok, forb, nf, nf, nf, ok, ok, forb, forb, nf, nf, nf}

	type op struct {
		name     string
		want     []string
		mutation bool
		run      func(ctx context.Context, i *switchyard.Integration, delivery string) error
	}
	ops := []op{
		{"FindIntegrationByID", readable, false, func(ctx context.Context, i *switchyard.Integration, _ string) error {
			_, err := svc.FindIntegrationByID(ctx, i.ID)
			return err
		}},
		{"FindIntegrationsByIDs", readable, false, func(ctx context.Context, i *switchyard.Integration, _ string) error {
			got, err := svc.FindIntegrationsByIDs(ctx, []string{i.ID})
			if err != nil {
				return err
			}
			return visible(len(got) == 1 && got[0].ID == i.ID)
		}},
		{"FindIntegrations", listed, false, func(ctx context.Context, i *switchyard.Integration, _ string) error {
			conn, err := svc.FindIntegrations(ctx, switchyard.IntegrationFilter{ProjectID: &i.ProjectID}, switchyard.PageArgs{First: ptr(100)})
			if err != nil {
				return err
			}
			return visible(integrationConnHas(conn, i.ID))
		}},
		{"FindIntegrations unfiltered", listed, false, func(ctx context.Context, i *switchyard.Integration, _ string) error {
			conn, err := svc.FindIntegrations(ctx, switchyard.IntegrationFilter{}, switchyard.PageArgs{First: ptr(100)})
			if err != nil {
				return err
			}
			return visible(integrationConnHas(conn, i.ID))
		}},
		// The sibling's partner counts its own integration in the project.
		{"CountIntegrations", []string{unauth, ok, ok, nf, nf, nf, ok, ok, ok, ok, nf, ok, nf}, false, func(ctx context.Context, i *switchyard.Integration, _ string) error {
			n, err := svc.CountIntegrations(ctx, switchyard.IntegrationFilter{ProjectID: &i.ProjectID})
			if err != nil {
				return err
			}
			return visible(n > 0)
		}},
		{"FindIntegrationsByProjects", listed, false, func(ctx context.Context, i *switchyard.Integration, _ string) error {
			m, err := svc.FindIntegrationsByProjects(ctx, []string{i.ProjectID}, switchyard.PageArgs{First: ptr(100)})
			if err != nil {
				return err
			}
			return visible(integrationConnHas(m[i.ProjectID], i.ID))
		}},
		{"IntegrationHealth", listed, false, func(ctx context.Context, i *switchyard.Integration, _ string) error {
			m, err := svc.IntegrationHealth(ctx, []string{i.ID})
			if err != nil {
				return err
			}
			return visible(m[i.ID] != nil)
		}},
		{"FindAPIKeys", listed, false, func(ctx context.Context, i *switchyard.Integration, _ string) error {
			m, err := svc.FindAPIKeys(ctx, []string{i.ID})
			if err != nil {
				return err
			}
			return visible(len(m[i.ID]) == 1)
		}},
		{"FindDeliveries", listed, false, func(ctx context.Context, i *switchyard.Integration, d string) error {
			m, err := svc.FindDeliveries(ctx, []string{i.ID}, switchyard.DeliveryFilter{}, switchyard.PageArgs{})
			if err != nil {
				return err
			}
			return visible(m[i.ID] != nil && len(m[i.ID].Edges) == 1 && m[i.ID].Edges[0].Node.ID == d)
		}},
		{"CountDeliveries", listed, false, func(ctx context.Context, i *switchyard.Integration, _ string) error {
			n, err := svc.CountDeliveries(ctx, i.ID, switchyard.DeliveryFilter{})
			if err != nil {
				return err
			}
			return visible(n == 1)
		}},
		{"FindDeliveryByID", readable, false, func(ctx context.Context, i *switchyard.Integration, d string) error {
			_, err := svc.FindDeliveryByID(ctx, d)
			return err
		}},
		{"UpdateIntegration", manage, true, func(ctx context.Context, i *switchyard.Integration, _ string) error {
			_, err := svc.UpdateIntegration(ctx, i.ID, switchyard.IntegrationUpdate{Name: ptr("Renamed")})
			return err
		}},
		{"RotateIntegrationSecret", manage, true, func(ctx context.Context, i *switchyard.Integration, _ string) error {
			_, err := svc.RotateIntegrationSecret(ctx, i.ID, nil)
			return err
		}},
		{"PauseIntegration", manage, true, func(ctx context.Context, i *switchyard.Integration, _ string) error {
			_, err := svc.PauseIntegration(ctx, i.ID)
			return err
		}},
		{"ResumeIntegration", manage, true, func(ctx context.Context, i *switchyard.Integration, _ string) error {
			if _, err := f.DB.Pool().Exec(bg, `UPDATE integrations SET status = 'PAUSED' WHERE id = $1`, i.ID); err != nil {
				return err
			}
			_, err := svc.ResumeIntegration(ctx, i.ID)
			return err
		}},
		{"DeleteIntegration", manage, true, func(ctx context.Context, i *switchyard.Integration, _ string) error {
			_, err := svc.DeleteIntegration(ctx, i.ID)
			return err
		}},
		{"CreateAPIKey", manage, false, func(ctx context.Context, i *switchyard.Integration, _ string) error {
			_, err := svc.CreateAPIKey(ctx, i.ID, []switchyard.APIKeyScope{switchyard.ScopeOrdersRead})
			return err
		}},
		{"RevokeAPIKey", manage, false, func(ctx context.Context, i *switchyard.Integration, _ string) error {
			keys, err := svc.FindAPIKeys(adminCtx(bg), []string{i.ID})
			if err != nil {
				return err
			}
			_, err = svc.RevokeAPIKey(ctx, keys[i.ID][0].ID)
			return err
		}},
		{"RedeliverWebhook", manage, false, func(ctx context.Context, i *switchyard.Integration, d string) error {
			_, err := svc.RedeliverWebhook(ctx, d)
			return err
		}},
	}
	for _, o := range ops {
		for ci, c := range callers {
			t.Run(o.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				i := f.mustIntegration(t, f.Project).Integration
				if _, err := svc.CreateAPIKey(userCtx(bg, f.Owner), i.ID, []switchyard.APIKeyScope{switchyard.ScopeOrdersRead}); err != nil {
					t.Fatal(err)
				}
				payload := `{"id":"1","type":"order.created"}`
				d := f.insertDelivery(t, i.ID, deliveryRow{Status: switchyard.DeliveryFailed, EventID: ptr(int64(1)), Payload: &payload})
				rows := func() int {
					return f.count(t, `SELECT (SELECT count(*) FROM integrations WHERE id = $1 AND name = 'Fulfilment')
						+ (SELECT count(*) FROM integration_secrets WHERE integration_id = $1)
						+ (SELECT count(*) FROM api_keys WHERE integration_id = $1 AND revoked_at IS NULL)
						+ (SELECT count(*) FROM webhook_deliveries WHERE integration_id = $1)`, i.ID)
				}
				rows0 := rows()
				before := lastEventID(t, f.DB)
				err := o.run(c.ctx(i), i, d)
				wantCode(t, err, o.want[ci])
				// Other cases run alongside: only this integration's events.
				var events []storedEvent
				for _, e := range eventsAfter(t, f.DB, before) {
					if e.SubjectID == i.ID {
						events = append(events, e)
					}
				}
				if err != nil || !o.mutation {
					if len(events) != 0 {
						t.Fatalf("wrote events: %+v", events)
					}
				} else if len(events) != 1 || events[0].SubjectID != i.ID {
					t.Fatalf("events %+v", events)
				}
				if err != nil && rows() != rows0 {
					t.Fatal("a refused call changed rows")
				}
			})
		}
	}

	// CreateIntegration, in Project.
	// A partner without PROJECTS_READ cannot read the project at all.
	wantCreate := []string{unauth, ok, forb, nf, nf, nf, ok, ok, nf, forb, forb, forb, nf}
	for ci, c := range callers {
		t.Run("CreateIntegration/"+c.name, func(t *testing.T) {
			t.Parallel()
			in := outboundInput(f.Project)
			_, err := svc.CreateIntegration(c.ctx(partnerOwn), in)
			wantCode(t, err, wantCreate[ci])
			if n := f.count(t, `SELECT count(*) FROM integrations WHERE endpoint_url = $1`, *in.EndpointURL); (err == nil) != (n == 1) {
				t.Fatalf("err %v, %d written", err, n)
			}
		})
	}
}

func integrationConnHas(c *switchyard.IntegrationConnection, id string) bool {
	if c == nil {
		return false
	}
	for _, e := range c.Edges {
		if e.Node.ID == id {
			return true
		}
	}
	return false
}

// TestPartnerAccess is the matrix of the other services for partner callers:
// each scope opens its part of its own project only, and nothing else.
func TestPartnerAccess(t *testing.T) {
	t.Parallel()
	f := newIntegrationFixture(t)
	bg := context.Background()
	i := f.mustIntegration(t, f.Project).Integration
	customer := f.Loner
	order, err := f.Orders.CreateOrder(userCtx(bg, f.Owner), switchyard.OrderCreate{ProjectID: f.Project.ID, CustomerID: &customer.ID,
		Currency: "USD", Items: []switchyard.OrderItemInput{{SKU: "S", Name: "N", Quantity: 1, UnitPrice: "5.00"}}})
	if err != nil {
		t.Fatal(err)
	}
	otherOrder, err := f.Orders.CreateOrder(userCtx(bg, f.Other), switchyard.OrderCreate{ProjectID: f.OtherProject.ID, CustomerID: &f.OtherMate.ID,
		Currency: "USD", Items: []switchyard.OrderItemInput{{SKU: "S", Name: "N", Quantity: 1, UnitPrice: "5.00"}}})
	if err != nil {
		t.Fatal(err)
	}
	visible := func(ok bool) error {
		if ok {
			return nil
		}
		return switchyard.Errorf(switchyard.ENOTFOUND, "not visible")
	}
	users := f.Users
	projects := f.Projects
	notifications := NewNotificationService(f.DB)
	tickets := NewTicketService(f.DB)
	ops := []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"FindProjectByID", func(ctx context.Context) error { _, err := projects.FindProjectByID(ctx, f.Project.ID); return err }},
		{"FindProjectByID other", func(ctx context.Context) error {
			_, err := projects.FindProjectByID(ctx, f.OtherProject.ID)
			return err
		}},
		{"FindProjects", func(ctx context.Context) error {
			c, err := projects.FindProjects(ctx, switchyard.ProjectFilter{}, switchyard.PageArgs{First: ptr(100)}, switchyard.ProjectOrder{})
			if err != nil {
				return err
			}
			return visible(len(c.Edges) == 1 && c.Edges[0].Node.ID == f.Project.ID)
		}},
		{"CountProjects", func(ctx context.Context) error {
			n, err := projects.CountProjects(ctx, switchyard.ProjectFilter{})
			if err != nil {
				return err
			}
			return visible(n == 1)
		}},
		{"FindProjectMembers", func(ctx context.Context) error {
			m, err := projects.FindProjectMembers(ctx, []string{f.Project.ID, f.OtherProject.ID}, switchyard.PageArgs{})
			if err != nil {
				return err
			}
			if m[f.OtherProject.ID] != nil {
				return fmt.Errorf("another project's members")
			}
			return visible(m[f.Project.ID] != nil && len(m[f.Project.ID].Edges) == 1)
		}},
		{"FindUserByID owner", func(ctx context.Context) error { _, err := users.FindUserByID(ctx, f.Owner.ID); return err }},
		{"FindUserByID customer", func(ctx context.Context) error { _, err := users.FindUserByID(ctx, customer.ID); return err }},
		{"FindUserByID other", func(ctx context.Context) error { _, err := users.FindUserByID(ctx, f.Other.ID); return err }},
		{"CountUsers", func(ctx context.Context) error {
			n, err := users.CountUsers(ctx, switchyard.UserFilter{})
			if err != nil {
				return err
			}
			return visible(n > 0)
		}},
		{"FindOrderByID", func(ctx context.Context) error { _, err := f.Orders.FindOrderByID(ctx, order.ID); return err }},
		{"FindOrderByID other", func(ctx context.Context) error { _, err := f.Orders.FindOrderByID(ctx, otherOrder.ID); return err }},
		{"CountOrders", func(ctx context.Context) error {
			n, err := f.Orders.CountOrders(ctx, switchyard.OrderFilter{})
			if err != nil {
				return err
			}
			return visible(n == 1)
		}},
		{"UpdateProject", func(ctx context.Context) error {
			_, err := projects.UpdateProject(ctx, f.Project.ID, switchyard.ProjectUpdate{Name: ptr("Mine now")})
			return err
		}},
		{"CreateProject", func(ctx context.Context) error {
			_, err := projects.CreateProject(ctx, switchyard.ProjectCreate{Name: "Partner's"})
			return err
		}},
		{"UpdateUser", func(ctx context.Context) error {
			_, err := users.UpdateUser(ctx, customer.ID, switchyard.UserUpdate{Name: ptr("Renamed")})
			return err
		}},
		{"CreateUser", func(ctx context.Context) error {
			_, err := users.CreateUser(ctx, switchyard.UserCreate{Email: "p@example.com", Name: "P"})
			return err
		}},
		{"FindNotifications", func(ctx context.Context) error {
			c, err := notifications.FindNotifications(ctx, false, switchyard.PageArgs{})
			if err != nil {
				return err
			}
			return visible(len(c.Edges) > 0)
		}},
		{"CreateEventStreamTicket", func(ctx context.Context) error {
			_, err := tickets.CreateEventStreamTicket(ctx, nil)
			return err
		}},
	}
	const (
		ok   = ""
		nf   = switchyard.ENOTFOUND
		forb = switchyard.EFORBIDDEN
	)
	scopes := []struct {
		name   string
		scopes []switchyard.APIKeyScope
	}{
		{"none", nil},
		{"PROJECTS_READ", []switchyard.APIKeyScope{switchyard.ScopeProjectsRead}},
		{"ORDERS_READ", []switchyard.APIKeyScope{switchyard.ScopeOrdersRead}},
		{"ORDERS_WRITE", []switchyard.APIKeyScope{switchyard.ScopeOrdersWrite}},
		{"INTEGRATIONS_READ", []switchyard.APIKeyScope{switchyard.ScopeIntegrationsRead}},
		{"all", switchyard.APIKeyScopes},
	}
	// want[op] per scope set above.
	want := map[string][]string{
		"FindProjectByID":         {nf, ok, nf, nf, nf, ok},
		"FindProjectByID other":   {nf, nf, nf, nf, nf, nf},
		"FindProjects":            {nf, ok, nf, nf, nf, ok},
		"CountProjects":           {nf, ok, nf, nf, nf, ok},
		"FindProjectMembers":      {nf, ok, nf, nf, nf, ok},
		"FindUserByID owner":      {nf, ok, nf, nf, nf, ok},
		"FindUserByID customer":   {nf, nf, ok, ok, nf, ok},
		"FindUserByID other":      {nf, nf, nf, nf, nf, nf},
		"CountUsers":              {nf, ok, ok, ok, nf, ok},
		"FindOrderByID":           {nf, nf, ok, ok, nf, ok},
		"FindOrderByID other":     {nf, nf, nf, nf, nf, nf},
		"CountOrders":             {nf, nf, ok, ok, nf, ok},
		"UpdateProject":           {nf, forb, nf, nf, nf, forb},
		"CreateProject":           {forb, forb, forb, forb, forb, forb},
		"UpdateUser":              {nf, nf, forb, forb, nf, forb},
		"CreateUser":              {forb, forb, forb, forb, forb, forb},
		"FindNotifications":       {nf, nf, nf, nf, nf, nf},
		"CreateEventStreamTicket": {forb, forb, forb, forb, forb, forb},
	}
	for _, o := range ops {
		for si, s := range scopes {
			t.Run(o.name+"/"+s.name, func(t *testing.T) {
				ctx := partnerCtx(bg, f.Project.ID, i.ID, s.scopes...)
				before := lastEventID(t, f.DB)
				wantCode(t, o.run(ctx), want[o.name][si])
				if ev := eventsAfter(t, f.DB, before); len(ev) != 0 {
					t.Fatalf("wrote %+v", ev)
				}
			})
		}
	}
}

func TestDeliveriesAndHealth(t *testing.T) {
	t.Parallel()
	f := newIntegrationFixture(t)
	ctx := userCtx(context.Background(), f.Owner)
	a := f.mustIntegration(t, f.Project).Integration
	b := f.mustIntegration(t, f.Project).Integration
	quiet := f.mustIntegration(t, f.Project).Integration

	payload := `{"id":"7","type":"order.created","data":{}}`
	var aIDs []string // newest first
	for n, d := range []deliveryRow{
		{Status: switchyard.DeliveryFailed, Age: 48 * time.Hour}, // outside the 24h window
		{Status: switchyard.DeliverySucceeded, Age: 5 * time.Hour},
		{Direction: switchyard.DeliveryInbound, Status: switchyard.DeliveryIgnored, ProviderEventID: ptr("evt_1"), Age: 4 * time.Hour},
		{Direction: switchyard.DeliveryInbound, Status: switchyard.DeliveryRejected, Age: 3 * time.Hour},
		{Status: switchyard.DeliveryFailed, EventID: ptr(int64(7)), Payload: &payload, Age: 2 * time.Hour},
		{Status: switchyard.DeliveryPending, EventID: ptr(int64(7)), Attempt: 2, Payload: &payload, Age: time.Hour},
	} {
		_ = n
		aIDs = append([]string{f.insertDelivery(t, a.ID, d)}, aIDs...)
	}
	f.insertDelivery(t, b.ID, deliveryRow{Status: switchyard.DeliverySucceeded, Age: time.Minute})
	if _, err := f.DB.Pool().Exec(context.Background(), `UPDATE integrations SET consecutive_failures = 3 WHERE id = $1`, a.ID); err != nil {
		t.Fatal(err)
	}

	t.Run("health", func(t *testing.T) {
		h, err := f.Integrations.IntegrationHealth(ctx, []string{a.ID, b.ID, quiet.ID, "nope"})
		if err != nil {
			t.Fatal(err)
		}
		ha := h[a.ID]
		// Within 24h: SUCCEEDED, IGNORED ok; REJECTED, FAILED not; PENDING
		// has not happened.
		if ha == nil || ha.SuccessRate24h == nil || *ha.SuccessRate24h != 0.5 || ha.ConsecutiveFailures != 3 || ha.LastDeliveryAt == nil ||
			time.Since(*ha.LastDeliveryAt) < 2*time.Hour-time.Minute || time.Since(*ha.LastDeliveryAt) > 2*time.Hour+time.Minute {
			t.Fatalf("a: %+v", ha)
		}
		if hb := h[b.ID]; hb == nil || *hb.SuccessRate24h != 1 {
			t.Fatalf("b: %+v", hb)
		}
		if hq := h[quiet.ID]; hq == nil || hq.SuccessRate24h != nil || hq.LastDeliveryAt != nil || hq.ConsecutiveFailures != 0 {
			t.Fatalf("quiet: %+v", hq)
		}
		if len(h) != 3 {
			t.Fatalf("%d answers", len(h))
		}
	})

	t.Run("pages and filters", func(t *testing.T) {
		fetch := func(filter switchyard.DeliveryFilter) func(switchyard.PageArgs) (pageOf, error) {
			return func(p switchyard.PageArgs) (pageOf, error) {
				m, err := f.Integrations.FindDeliveries(ctx, []string{a.ID, b.ID, quiet.ID}, filter, p)
				if err != nil {
					return pageOf{}, err
				}
				if len(m) != 3 || m[quiet.ID] == nil || len(m[quiet.ID].Edges) != 0 {
					return pageOf{}, fmt.Errorf("parents: %+v", m)
				}
				var out pageOf
				out.Info = m[a.ID].PageInfo
				for _, e := range m[a.ID].Edges {
					out.IDs = append(out.IDs, e.Node.ID)
				}
				return out, nil
			}
		}
		if got := walkForward(t, 2, fetch(switchyard.DeliveryFilter{}), nil); strings.Join(got, ",") != strings.Join(aIDs, ",") {
			t.Fatalf("walk %v, want %v", got, aIDs)
		}
		failed := walkForward(t, 1, fetch(switchyard.DeliveryFilter{Status: []switchyard.DeliveryStatus{switchyard.DeliveryFailed}}), nil)
		if strings.Join(failed, ",") != aIDs[1]+","+aIDs[5] {
			t.Fatalf("failed %v", failed)
		}
		in := switchyard.DeliveryInbound
		inbound := walkForward(t, 5, fetch(switchyard.DeliveryFilter{Direction: &in}), nil)
		if strings.Join(inbound, ",") != aIDs[2]+","+aIDs[3] {
			t.Fatalf("inbound %v", inbound)
		}
		n, err := f.Integrations.CountDeliveries(ctx, a.ID, switchyard.DeliveryFilter{Status: []switchyard.DeliveryStatus{switchyard.DeliveryFailed, switchyard.DeliveryPending}})
		if err != nil || n != 3 {
			t.Fatalf("count %d, %v", n, err)
		}
		_, err = f.Integrations.FindDeliveries(ctx, []string{a.ID}, switchyard.DeliveryFilter{Status: []switchyard.DeliveryStatus{"LOST"}}, switchyard.PageArgs{})
		wantCode(t, err, switchyard.EINVALID)
		_, err = f.Integrations.FindDeliveries(ctx, []string{a.ID}, switchyard.DeliveryFilter{}, switchyard.PageArgs{After: ptr("garbage")})
		wantCode(t, err, switchyard.EINVALID)

		d, err := f.Integrations.FindDeliveryByID(ctx, aIDs[3])
		if err != nil || d.Direction != switchyard.DeliveryInbound || d.Status != switchyard.DeliveryIgnored || d.EventID == nil || *d.EventID != "evt_1" {
			t.Fatalf("delivery %+v, %v", d, err)
		}
	})

	t.Run("redeliver", func(t *testing.T) {
		failed := aIDs[1] // FAILED attempt 1 of event 7; attempt 2 is pending
		d, err := f.Integrations.RedeliverWebhook(ctx, failed)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != switchyard.DeliveryPending || d.Direction != switchyard.DeliveryOutbound || d.Attempt != 3 || d.RedeliveryOf == nil ||
			*d.RedeliveryOf != failed || d.EventID == nil || *d.EventID != "7" || d.NextAttemptAt == nil || time.Since(*d.NextAttemptAt) > time.Minute {
			t.Fatalf("redelivery %+v", d)
		}
		if n := f.count(t, `SELECT count(*) FROM webhook_deliveries WHERE id = $1 AND payload = $2::jsonb`, d.ID, payload); n != 1 {
			t.Fatal("the payload was not copied")
		}
		d2, err := f.Integrations.RedeliverWebhook(ctx, failed)
		if err != nil || d2.Attempt != 4 {
			t.Fatalf("second redelivery %+v, %v", d2, err)
		}
		for _, bad := range []string{aIDs[3], aIDs[4]} { // inbound; outbound without payload
			_, err := f.Integrations.RedeliverWebhook(ctx, bad)
			wantCode(t, err, switchyard.EINVALID)
		}
		_, err = f.Integrations.RedeliverWebhook(ctx, "00000000-0000-4000-8000-000000000000")
		wantCode(t, err, switchyard.ENOTFOUND)
	})
}

// TestIntegrationBatchesAreOneStatement: the loaders' batch reads cost one
// statement whatever the number of parents.
func TestIntegrationBatchesAreOneStatement(t *testing.T) {
	t.Parallel()
	f := newIntegrationFixture(t)
	counter := &statementCounter{}
	db, err := Open(context.Background(), f.DB.Pool().Config().ConnString(), WithQueryTracer(counter))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	svc, err := NewIntegrationService(db, IntegrationOptions{SecretKey: testSecretKey})
	if err != nil {
		t.Fatal(err)
	}
	var projectIDs, ids []string
	for n := range 3 {
		p := mustCreateProject(t, f.Projects, fmt.Sprintf("P%d", n), f.Owner, f.Member)
		projectIDs = append(projectIDs, p.ID)
		for range 3 {
			ids = append(ids, f.mustIntegration(t, p).Integration.ID)
		}
	}
	ctx := userCtx(context.Background(), f.Member)
	for name, run := range map[string]func() (int, error){
		"FindIntegrationsByProjects": func() (int, error) {
			m, err := svc.FindIntegrationsByProjects(ctx, projectIDs, switchyard.PageArgs{First: ptr(2)})
			n := 0
			for _, c := range m {
				n += len(c.Edges)
				if !c.PageInfo.HasNextPage {
					return 0, fmt.Errorf("page info %+v", c.PageInfo)
				}
			}
			return n, err
		},
		"IntegrationHealth": func() (int, error) { m, err := svc.IntegrationHealth(ctx, ids); return len(m), err },
		"FindAPIKeys":       func() (int, error) { m, err := svc.FindAPIKeys(ctx, ids); return len(m), err },
		"FindDeliveries": func() (int, error) {
			m, err := svc.FindDeliveries(ctx, ids, switchyard.DeliveryFilter{}, switchyard.PageArgs{})
			return len(m), err
		},
		"FindIntegrationsByIDs": func() (int, error) {
			l, err := svc.FindIntegrationsByIDs(ctx, ids)
			return len(l), err
		},
	} {
		before := counter.Count()
		n, err := run()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := len(ids)
		if name == "FindIntegrationsByProjects" {
			want = 6
		}
		if n != want || counter.Count()-before != 1 {
			t.Errorf("%s: %d answers in %d statements, want %d in 1", name, n, counter.Count()-before, want)
		}
	}
}

func TestFindIntegrationsPages(t *testing.T) {
	t.Parallel()
	f := newIntegrationFixture(t)
	ctx := userCtx(context.Background(), f.Member)
	var want []string
	for range 5 {
		want = append([]string{f.mustIntegration(t, f.Project).Integration.ID}, want...)
	}
	f.mustIntegration(t, f.OtherProject)
	fetch := func(p switchyard.PageArgs) (pageOf, error) {
		c, err := f.Integrations.FindIntegrations(ctx, switchyard.IntegrationFilter{}, p)
		if err != nil {
			return pageOf{}, err
		}
		out := pageOf{Info: c.PageInfo}
		for _, e := range c.Edges {
			out.IDs = append(out.IDs, e.Node.ID)
		}
		return out, nil
	}
	if got := walkForward(t, 2, fetch, nil); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("forward %v, want newest first %v", got, want)
	}
	n, err := f.Integrations.CountIntegrations(ctx, switchyard.IntegrationFilter{})
	if err != nil || n != 5 {
		t.Fatalf("count %d, %v", n, err)
	}
	_, err = f.Integrations.FindIntegrations(ctx, switchyard.IntegrationFilter{}, switchyard.PageArgs{First: ptr(101)})
	wantCode(t, err, switchyard.EINVALID)
	_, err = f.Integrations.FindIntegrations(anonCtx(context.Background()), switchyard.IntegrationFilter{}, switchyard.PageArgs{})
	wantCode(t, err, switchyard.EUNAUTHENTICATED)
}
