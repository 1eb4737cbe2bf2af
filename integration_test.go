package switchyard

import (
	"strings"
	"testing"
)

func TestValidateEndpointURL(t *testing.T) {
	t.Parallel()
	public := EndpointPolicy{}
	private := EndpointPolicy{AllowPrivate: true}
	cases := []struct {
		url     string
		policy  EndpointPolicy
		wantErr string // "" accepts
	}{
		{"https://hooks.example.com/switchyard", public, ""},
		{"https://hooks.example.com:8443/a/b?token=x", public, ""},
		{"https://93.184.216.34/hook", public, ""},
		{"http://hooks.example.com/x", public, "https"},
		{"http://hooks.example.com/x", private, "https"},
		{"ftp://hooks.example.com/x", public, "https"},
		{"hooks.example.com/x", public, "absolute"},
		{"/relative", public, "absolute"},
		{"https://", public, "absolute"},
		{"mailto:ops@example.com", public, "absolute"},
		{"https://user:pass@hooks.example.com/", public, "credentials"},
		{"https://hooks.example.com/#frag", public, "fragment"},
		{"https://localhost/x", public, "loopback"},
		{"https://api.localhost/x", public, "loopback"},
		{"https://127.0.0.1/x", public, "loopback"},
		{"https://[::1]/x", public, "loopback"},
		{"https://10.1.2.3/x", public, "private"},
		{"https://192.168.0.10/x", public, "private"},
		{"https://169.254.169.254/latest/meta-data", public, "link-local"},
		{"https://0.0.0.0/x", public, "private"},
		{"http://127.0.0.1:9999/hook", private, ""},
		{"http://localhost:9999/hook", private, ""},
		{"http://[::1]:9999/hook", private, ""},
		{"https://10.1.2.3/x", private, ""},
		{"http://10.1.2.3/x", private, "https"},
		{"https://hooks.example.com/" + strings.Repeat("a", MaxEndpointURLLength), public, "at most"},
	}
	for _, c := range cases {
		err := ValidateEndpointURL("input.endpointUrl", c.url, c.policy)
		if c.wantErr == "" {
			if err != nil {
				t.Errorf("%q (private %v): %v", c.url, c.policy.AllowPrivate, err)
			}
			continue
		}
		if ErrorCode(err) != EINVALID || ErrorField(err) != "input.endpointUrl" || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%q (private %v): err = %v, want BAD_USER_INPUT on input.endpointUrl mentioning %q", c.url, c.policy.AllowPrivate, err, c.wantErr)
		}
	}
}

func TestIntegrationCreateValidate(t *testing.T) {
	t.Parallel()
	url := "https://hooks.example.com/x"
	valid := func() IntegrationCreate {
		return IntegrationCreate{ProjectID: "p", Name: "  Stripe  ", Provider: ProviderStripe, Direction: DirectionOutbound,
			EventTypes: []string{EventOrderCreated, " " + EventOrderCreated + " ", EventOrderStatusChanged}, EndpointURL: &url}
	}
	in := valid()
	if err := in.Validate(EndpointPolicy{}); err != nil {
		t.Fatal(err)
	}
	if in.Name != "Stripe" || in.Criticality != CriticalityMedium || strings.Join(in.EventTypes, ",") != "order.created,order.status_changed" {
		t.Fatalf("not normalized: %+v", in)
	}

	cases := []struct {
		name  string
		edit  func(*IntegrationCreate)
		field string
	}{
		{"empty name", func(in *IntegrationCreate) { in.Name = "   " }, "input.name"},
		{"long name", func(in *IntegrationCreate) { in.Name = strings.Repeat("n", 201) }, "input.name"},
		{"provider", func(in *IntegrationCreate) { in.Provider = "SQUARE" }, "input.provider"},
		{"direction", func(in *IntegrationCreate) { in.Direction = "SIDEWAYS" }, "input.direction"},
		{"criticality", func(in *IntegrationCreate) { in.Criticality = "URGENT" }, "input.criticality"},
		{"unknown event type", func(in *IntegrationCreate) { in.EventTypes = []string{EventOrderCreated, "order.exploded"} }, "input.eventTypes[1]"},
		{"user events are not a project's", func(in *IntegrationCreate) { in.EventTypes = []string{EventUserCreated} }, "input.eventTypes[0]"},
		{"outbound without types", func(in *IntegrationCreate) { in.EventTypes = nil }, "input.eventTypes"},
		{"outbound without endpoint", func(in *IntegrationCreate) { in.EndpointURL = nil }, "input.endpointUrl"},
		{"outbound with blank endpoint", func(in *IntegrationCreate) { in.EndpointURL = new(string) }, "input.endpointUrl"},
		{"bad endpoint", func(in *IntegrationCreate) { u := "http://hooks.example.com"; in.EndpointURL = &u }, "input.endpointUrl"},
		{"short secret", func(in *IntegrationCreate) { s := "short"; in.Secret = &s }, "input.secret"},
		{"secret with a space", func(in *IntegrationCreate) { s := "whsec_ abcdefghijklmnop"; in.Secret = &s }, "input.secret"},
	}
	for _, c := range cases {
		in := valid()
		c.edit(&in)
		err := in.Validate(EndpointPolicy{})
		if ErrorCode(err) != EINVALID || ErrorField(err) != c.field {
			t.Errorf("%s: err = %v, want BAD_USER_INPUT on %s", c.name, err, c.field)
		}
	}

	inbound := IntegrationCreate{Name: "Shop", Provider: ProviderShopify, Direction: DirectionInbound}
	if err := inbound.Validate(EndpointPolicy{}); err != nil {
		t.Fatalf("an inbound integration needs no endpoint or types: %v", err)
	}
}

func TestIntegrationUpdateApply(t *testing.T) {
	t.Parallel()
	url := "https://hooks.example.com/x"
	cur := Integration{Name: "A", Direction: DirectionOutbound, Criticality: CriticalityLow, EventTypes: []string{EventOrderCreated}, EndpointURL: &url}

	empty := ""
	up := IntegrationUpdate{EndpointURL: &empty}
	if err := up.Validate(EndpointPolicy{}); err != nil {
		t.Fatal(err)
	}
	next := up.Apply(cur)
	if next.EndpointURL != nil || CheckIntegration(&next) == nil || ErrorField(CheckIntegration(&next)) != "input.endpointUrl" {
		t.Fatalf("removing the endpoint of an outbound integration: %+v, %v", next, CheckIntegration(&next))
	}

	in := DirectionInbound
	up = IntegrationUpdate{Direction: &in, EndpointURL: &empty, EventTypes: []string{}}
	if err := up.Validate(EndpointPolicy{}); err != nil {
		t.Fatal(err)
	}
	next = up.Apply(cur)
	if err := CheckIntegration(&next); err != nil || next.EndpointURL != nil || len(next.EventTypes) != 0 || next.Name != "A" {
		t.Fatalf("switching to inbound: %+v, %v", next, err)
	}

	up = IntegrationUpdate{EventTypes: []string{"nope"}}
	if err := up.Validate(EndpointPolicy{}); ErrorField(err) != "input.eventTypes[0]" {
		t.Fatalf("unknown type: %v", err)
	}
	up = IntegrationUpdate{}
	if err := up.Validate(EndpointPolicy{}); err != nil || up.EventTypesSet {
		t.Fatalf("absent event types must stay: %v %+v", err, up)
	}
	if next := up.Apply(cur); len(next.EventTypes) != 1 {
		t.Fatalf("absent event types changed: %+v", next)
	}
}

func TestPartnerScopes(t *testing.T) {
	t.Parallel()
	p := &PartnerCaller{ProjectID: "00000000-0000-4000-8000-0000000000aa", Scopes: []APIKeyScope{ScopeOrdersWrite}}
	if !p.Can(ScopeOrdersWrite) || !p.Can(ScopeOrdersRead) || p.Can(ScopeProjectsRead) {
		t.Fatal("ORDERS_WRITE implies ORDERS_READ and nothing else")
	}
	c := &Caller{Partner: p}
	if !c.IsPartner() || c.IsAdmin() || !c.PartnerCan(ScopeOrdersRead, strings.ToUpper(p.ProjectID)) || c.PartnerCan(ScopeOrdersRead, "other") {
		t.Fatal("PartnerCan")
	}
	var nobody *Caller
	if nobody.IsPartner() || (&Caller{UserID: "u"}).IsPartner() {
		t.Fatal("only API keys make partners")
	}
	if !IsAPIKey("sy_live_abc") || IsAPIKey("eyJhbGciOi") || SecretHint("whsec_abcd1234") != "1234" || SecretHint("abc") != "" {
		t.Fatal("helpers")
	}
	for _, s := range APIKeyScopes {
		if !s.Valid() {
			t.Fatal(s)
		}
	}
	if APIKeyScope("ADMIN").Valid() {
		t.Fatal("unknown scope valid")
	}
}
