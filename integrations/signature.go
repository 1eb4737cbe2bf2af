// Package integrations is Switchyard's webhook machinery: inbound webhooks
// verified by their provider's signature scheme and mapped to order changes
// (Receiver), and outbound webhooks sent from the event log, signed, retried
// with backoff and held behind a circuit breaker (Worker). It meets the rest
// of Switchyard only through the root package's ports.
package integrations

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard"
)

// Signature headers.
const (
	// HeaderSignature signs Switchyard's outbound webhooks and the inbound
	// ones of PayPal, n8n and generic integrations: "t=<unix>,v1=<hex>", the
	// HMAC-SHA256 of "<t>.<body>", the scheme Stripe uses.
	HeaderSignature = "X-Switchyard-Signature"
	// HeaderStripeSignature is Stripe's, the same scheme.
	HeaderStripeSignature = "Stripe-Signature"
	// HeaderShopifyHmac is Shopify's: the base64 HMAC-SHA256 of the body.
	HeaderShopifyHmac = "X-Shopify-Hmac-Sha256"
	// HeaderShopifyTopic and HeaderShopifyWebhookID name a Shopify
	// webhook's type and id.
	HeaderShopifyTopic     = "X-Shopify-Topic"
	HeaderShopifyWebhookID = "X-Shopify-Webhook-Id"
)

// SignatureTolerance is how far a signed timestamp may be from now, either
// way: older is a replay, newer a forged or badly wrong clock.
const SignatureTolerance = 5 * time.Minute

// maxSignatures bounds the v1 entries one header may make us compute.
const maxSignatures = 8

func mac(secret string, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// Sign returns the "t=…,v1=…" signature of body at t: one v1 per secret, in
// the order given, so receivers that still hold a rotated secret keep
// verifying during its grace period.
func Sign(t time.Time, body []byte, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, []byte(ts), []byte("."), body)))
	}
	return b.String()
}

// SignShopify returns the X-Shopify-Hmac-Sha256 value of body.
func SignShopify(secret string, body []byte) string {
	return base64.StdEncoding.EncodeToString(mac(secret, body))
}

// signatureError is a refused signature; its message says why, for the
// sender's developer, and never holds a secret or an expected value.
func signatureError(format string, args ...any) error {
	return switchyard.Errorf(switchyard.EUNAUTHENTICATED, format, args...)
}

// verifyTimestamped checks a "t=…,v1=…" header: the timestamp within the
// tolerance of now, and some v1 the HMAC of "<t>.<body>" under some secret.
func verifyTimestamped(name, header string, body []byte, secrets []switchyard.Secret, now time.Time) error {
	header = strings.TrimSpace(header)
	if header == "" {
		return signatureError("missing %s header", name)
	}
	var (
		ts   string
		sigs [][]byte
		v1s  int
	)
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return signatureError("malformed %s header: want t=<timestamp>,v1=<signature>", name)
		}
		switch k {
		case "t":
			if ts != "" {
				return signatureError("malformed %s header: more than one timestamp", name)
			}
			ts = v
		case "v1":
			// A v1 that is not a hex SHA-256 cannot match; it is not worth
			// refusing the header for when another v1 may.
			v1s++
			if sig, err := hex.DecodeString(v); err == nil && len(sig) == sha256.Size && len(sigs) < maxSignatures {
				sigs = append(sigs, sig)
			}
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if ts == "" || err != nil {
		return signatureError("malformed %s header: want t=<unix seconds>", name)
	}
	if v1s == 0 {
		return signatureError("malformed %s header: no v1 signature", name)
	}
	if d := now.Sub(time.Unix(unix, 0)); d > SignatureTolerance || d < -SignatureTolerance {
		return signatureError("the %s timestamp is more than %v from now", name, SignatureTolerance)
	}
	for _, s := range secrets {
		if expired(s, now) {
			continue
		}
		want := mac(s.Value, []byte(ts), []byte("."), body)
		for _, sig := range sigs {
			if hmac.Equal(want, sig) {
				return nil
			}
		}
	}
	return signatureError("the %s signature does not match", name)
}

// verifyShopify checks X-Shopify-Hmac-Sha256. Shopify signs no timestamp;
// a replay is caught by its webhook id instead.
func verifyShopify(header string, body []byte, secrets []switchyard.Secret, now time.Time) error {
	header = strings.TrimSpace(header)
	if header == "" {
		return signatureError("missing %s header", HeaderShopifyHmac)
	}
	sig, err := base64.StdEncoding.DecodeString(header)
	if err != nil || len(sig) != sha256.Size {
		return signatureError("malformed %s header: want the base64 HMAC-SHA256 of the body", HeaderShopifyHmac)
	}
	for _, s := range secrets {
		if !expired(s, now) && hmac.Equal(mac(s.Value, body), sig) {
			return nil
		}
	}
	return signatureError("the %s signature does not match", HeaderShopifyHmac)
}

// verify checks a request's signature by the integration's provider.
func verify(p switchyard.IntegrationProvider, header func(string) string, body []byte, secrets []switchyard.Secret, now time.Time) error {
	switch p {
	case switchyard.ProviderStripe:
		return verifyTimestamped(HeaderStripeSignature, header(HeaderStripeSignature), body, secrets, now)
	case switchyard.ProviderShopify:
		return verifyShopify(header(HeaderShopifyHmac), body, secrets, now)
	}
	return verifyTimestamped(HeaderSignature, header(HeaderSignature), body, secrets, now)
}

// expired reports a rotated secret whose grace period is over; the store
// returns none, and this keeps a slow request from using one.
func expired(s switchyard.Secret, now time.Time) bool {
	return !s.ValidUntil.IsZero() && !now.Before(s.ValidUntil)
}
