package integrations

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
)

const (
	secretNew = "whsec_new_0123456789abcdefghij"
	secretOld = "whsec_old_0123456789abcdefghij"
	secretBad = "whsec_bad_0123456789abcdefghij"
)

func TestSignatureTable(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_750_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"payment.completed","data":{"orderId":"x"}}`)
	current := []switchyard.Secret{{Value: secretNew}}
	rotating := []switchyard.Secret{{Value: secretNew}, {Value: secretOld, ValidUntil: now.Add(time.Hour)}}
	expiredOld := []switchyard.Secret{{Value: secretNew}, {Value: secretOld, ValidUntil: now.Add(-time.Second)}}
	ts := strconv.FormatInt(now.Unix(), 10)

	type tc struct {
		name     string
		provider switchyard.IntegrationProvider
		header   http.Header
		body     []byte
		secrets  []switchyard.Secret
		wantErr  string // "" verifies
	}
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	var cases []tc
	// The timestamped scheme is the same for Stripe and Switchyard's own
	// header; each runs the whole table.
	for _, s := range []struct {
		provider switchyard.IntegrationProvider
		header   string
	}{
		{switchyard.ProviderStripe, HeaderStripeSignature},
		{switchyard.ProviderGeneric, HeaderSignature},
		{switchyard.ProviderPayPal, HeaderSignature},
		{switchyard.ProviderN8N, HeaderSignature},
	} {
		p, name := s.provider, s.header
		cases = append(cases,
			tc{string(p) + "/valid", p, h(name, Sign(now, body, secretNew)), body, current, ""},
			tc{string(p) + "/wrong secret", p, h(name, Sign(now, body, secretBad)), body, current, "does not match"},
			tc{string(p) + "/tampered body", p, h(name, Sign(now, body, secretNew)), append([]byte(" "), body...), current, "does not match"},
			tc{string(p) + "/stale timestamp", p, h(name, Sign(now.Add(-SignatureTolerance-time.Second), body, secretNew)), body, current, "from now"},
			tc{string(p) + "/future timestamp", p, h(name, Sign(now.Add(SignatureTolerance+time.Second), body, secretNew)), body, current, "from now"},
			tc{string(p) + "/edge of tolerance", p, h(name, Sign(now.Add(-SignatureTolerance), body, secretNew)), body, current, ""},
			tc{string(p) + "/missing header", p, h(), body, current, "missing"},
			tc{string(p) + "/other provider's header", p, h(HeaderShopifyHmac, SignShopify(secretNew, body)), body, current, "missing"},
			tc{string(p) + "/no timestamp", p, h(name, "v1="+strings.Repeat("ab", 32)), body, current, "malformed"},
			tc{string(p) + "/timestamp not a number", p, h(name, "t=soon,v1="+strings.Repeat("ab", 32)), body, current, "malformed"},
			tc{string(p) + "/two timestamps", p, h(name, "t="+ts+",t="+ts+",v1="+strings.Repeat("ab", 32)), body, current, "malformed"},
			tc{string(p) + "/no v1", p, h(name, "t="+ts+",v0="+strings.Repeat("ab", 32)), body, current, "malformed"},
			tc{string(p) + "/v1 not hex", p, h(name, "t="+ts+",v1=zz"), body, current, "does not match"},
			tc{string(p) + "/v1 too long", p, h(name, strings.Replace(Sign(now, body, secretNew), "v1=", "v1=00", 1)), body, current, "does not match"},
			tc{string(p) + "/garbage", p, h(name, "sha256=deadbeef"), body, current, "malformed"},
			tc{string(p) + "/signed timestamp changed", p, h(name, strings.Replace(Sign(now, body, secretNew), "t="+ts, "t="+strconv.FormatInt(now.Unix()+1, 10), 1)), body, current, "does not match"},
			// Rotation: the new secret and the old one in its grace period
			// both verify; several v1 are accepted, any matching.
			tc{string(p) + "/rotation: new secret", p, h(name, Sign(now, body, secretNew)), body, rotating, ""},
			tc{string(p) + "/rotation: old secret", p, h(name, Sign(now, body, secretOld)), body, rotating, ""},
			tc{string(p) + "/rotation: several v1", p, h(name, Sign(now, body, secretBad, secretOld)), body, rotating, ""},
			tc{string(p) + "/old secret after its grace", p, h(name, Sign(now, body, secretOld)), body, expiredOld, "does not match"},
			tc{string(p) + "/spaces around parts", p, h(name, strings.ReplaceAll(Sign(now, body, secretNew), ",", ", ")), body, current, ""},
		)
	}
	shop := switchyard.ProviderShopify
	cases = append(cases,
		tc{"SHOPIFY/valid", shop, h(HeaderShopifyHmac, SignShopify(secretNew, body)), body, current, ""},
		tc{"SHOPIFY/wrong secret", shop, h(HeaderShopifyHmac, SignShopify(secretBad, body)), body, current, "does not match"},
		tc{"SHOPIFY/tampered body", shop, h(HeaderShopifyHmac, SignShopify(secretNew, body)), body[1:], current, "does not match"},
		tc{"SHOPIFY/missing header", shop, h(), body, current, "missing"},
		tc{"SHOPIFY/switchyard header instead", shop, h(HeaderSignature, Sign(now, body, secretNew)), body, current, "missing"},
		tc{"SHOPIFY/not base64", shop, h(HeaderShopifyHmac, "not*base64"), body, current, "malformed"},
		tc{"SHOPIFY/short digest", shop, h(HeaderShopifyHmac, "c2hvcnQ="), body, current, "malformed"},
		tc{"SHOPIFY/rotation: new secret", shop, h(HeaderShopifyHmac, SignShopify(secretNew, body)), body, rotating, ""},
		tc{"SHOPIFY/rotation: old secret", shop, h(HeaderShopifyHmac, SignShopify(secretOld, body)), body, rotating, ""},
		tc{"SHOPIFY/old secret after its grace", shop, h(HeaderShopifyHmac, SignShopify(secretOld, body)), body, expiredOld, "does not match"},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := verify(c.provider, c.header.Get, c.body, c.secrets, now)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("want verified, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want refused (%s), got verified", c.wantErr)
			}
			if switchyard.ErrorCode(err) != switchyard.EUNAUTHENTICATED || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("want UNAUTHENTICATED containing %q, got %v", c.wantErr, err)
			}
			for _, s := range []string{secretNew, secretOld, secretBad} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error names a secret: %v", err)
				}
			}
		})
	}
}

// Sign is the format receivers verify: t, then one v1 per secret, the HMAC
// of "<t>.<body>" in hex.
func TestSignFormat(t *testing.T) {
	t.Parallel()
	// The vector is computed independently: printf '1700000000.{}' |
	// openssl dgst -sha256 -hmac whsec_test_secret_0123456789
	got := Sign(time.Unix(1_700_000_000, 0), []byte("{}"), "whsec_test_secret_0123456789")
	want := "t=1700000000,v1=3cd786d75e63491193133ea204b65d54d4c3f7e90d74136bc4479e38abf21574"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if n := strings.Count(Sign(time.Now(), []byte("{}"), "a", "b", "c"), "v1="); n != 3 {
		t.Fatalf("want one v1 per secret, got %d", n)
	}
}

func TestBlockedAddresses(t *testing.T) {
	t.Parallel()
	for addr, blocked := range map[string]bool{
		"127.0.0.1": true, "127.8.9.10": true, "::1": true,
		"10.1.2.3": true, "172.16.0.1": true, "172.31.255.255": true, "192.168.1.1": true, "fd00::1": true,
		"169.254.169.254": true, "fe80::1": true, "fe80::1%eth0": true,
		"0.0.0.0": true, "::": true, "0.1.2.3": true,
		"224.0.0.1": true, "239.255.255.250": true, "ff02::1": true, "ff0e::1": true,
		"100.64.0.1": true, "100.100.100.200": true, "198.18.0.1": true, "240.0.0.1": true, "255.255.255.255": true,
		"::ffff:127.0.0.1": true, "::ffff:10.0.0.1": true, "::ffff:169.254.169.254": true,
		"8.8.8.8": false, "1.1.1.1": false, "172.32.0.1": false, "100.128.0.1": false,
		"2606:4700:4700::1111": false, "::ffff:8.8.8.8": false,
	} {
		if got := blockedAddr(netip.MustParseAddr(addr)); got != blocked {
			t.Errorf("blockedAddr(%s) = %v, want %v", addr, got, blocked)
		}
	}
	control := guardControl(false)
	if err := control("tcp4", "127.0.0.1:443", nil); err == nil {
		t.Error("guard let 127.0.0.1 through")
	}
	if err := control("tcp4", "93.184.216.34:443", nil); err != nil {
		t.Errorf("guard refused a public address: %v", err)
	}
	if err := guardControl(true)("tcp4", "127.0.0.1:443", nil); err != nil {
		t.Errorf("guard with AllowPrivate refused loopback: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"0":                             0,
		"7":                             7 * time.Second,
		"Wed, 01 Jan 2025 12:00:30 GMT": 30 * time.Second,
		"Wed, 01 Jan 2025 11:00:00 GMT": 0,
	} {
		got := parseRetryAfter(v, now)
		if got == nil || *got != want {
			t.Errorf("Retry-After %q = %v, want %v", v, got, want)
		}
	}
	for _, v := range []string{"", "-3", "soon", "1.5"} {
		if got := parseRetryAfter(v, now); got != nil {
			t.Errorf("Retry-After %q = %v, want none", v, *got)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	w := NewWorker(nil, nil, WorkerOptions{MinBackoff: time.Second, MaxBackoff: time.Minute, RetryLimit: time.Hour})
	for attempt, full := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 7: time.Minute, 1000: time.Minute} {
		for range 50 {
			d := w.backoff(attempt)
			if d < full/2 || d > full {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, d, full/2, full)
			}
		}
	}
	first := time.Now().Add(-59 * time.Minute)
	d := &switchyard.OutboundWebhook{Attempt: 10, FirstAttemptAt: first}
	now := time.Now()
	if at := w.retryAt(d, now, nil); at == nil || at.After(first.Add(time.Hour)) {
		t.Fatalf("retry past the limit: %v", at)
	}
	later := 2 * time.Minute
	if at := w.retryAt(d, now, &later); at != nil {
		t.Fatalf("Retry-After beyond the limit should give up, got %v", at)
	}
	if at := w.retryAt(&switchyard.OutboundWebhook{Attempt: 1, FirstAttemptAt: now.Add(-2 * time.Hour)}, now, nil); at != nil {
		t.Fatalf("a delivery past its limit should give up, got %v", at)
	}
	soon := 3 * time.Second
	if at := w.retryAt(&switchyard.OutboundWebhook{Attempt: 1, FirstAttemptAt: now}, now, &soon); at == nil || !at.Equal(now.Add(soon)) {
		t.Fatalf("Retry-After not honoured: %v", at)
	}
}
