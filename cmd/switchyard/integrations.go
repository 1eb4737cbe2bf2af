package main

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/resolvers"
)

// devSecretKey encrypts stored secrets when SWITCHYARD_SECRET_KEY is unset.
// It is public, so production refuses it.
const devSecretKey = "switchyard-development-secret-key-not-for-production"

// minSecretPassphrase is the shortest SWITCHYARD_SECRET_KEY passphrase
// production accepts; a base64 or hex key is 32 bytes by construction.
const minSecretPassphrase = 32

// integrationConfig is what integrations read from the environment.
type integrationConfig struct {
	// SecretKeyBytes is the AES-256 key from SWITCHYARD_SECRET_KEY (see
	// postgres.ParseSecretKey); nil means the development key.
	SecretKeyBytes []byte
	// DevSecretKey is set when the public development key is in use.
	DevSecretKey bool
	// SecretGracePeriod is how long a rotated signing secret verifies; zero
	// means the default.
	SecretGracePeriod time.Duration
	// PublicURL is the server's public base URL, without a trailing slash.
	PublicURL string
	// WebhookAllowPrivate admits endpoints on private addresses.
	WebhookAllowPrivate bool
}

func loadIntegrationConfig(cfg *config, getenv func(string) string) error {
	// The key is used as given, like the JWT secret: trimming would silently
	// change a passphrase.
	if raw := getenv("SWITCHYARD_SECRET_KEY"); raw != "" && raw != devSecretKey {
		key, derived, err := postgres.ParseSecretKey(raw)
		if err != nil {
			return fmt.Errorf("SWITCHYARD_SECRET_KEY: %w", err)
		}
		if cfg.Production && derived && len(raw) < minSecretPassphrase {
			return fmt.Errorf("SWITCHYARD_ENV=production needs a SWITCHYARD_SECRET_KEY of 32 bytes in base64 or hex, or a passphrase of at least %d characters (try: openssl rand -base64 32)", minSecretPassphrase)
		}
		cfg.SecretKeyBytes = key
	} else {
		if cfg.Production {
			return errors.New("SWITCHYARD_ENV=production needs SWITCHYARD_SECRET_KEY (try: openssl rand -base64 32): refusing the public development key")
		}
		cfg.DevSecretKey = true
	}
	if v := strings.TrimSpace(getenv("SWITCHYARD_SECRET_GRACE_PERIOD")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("SWITCHYARD_SECRET_GRACE_PERIOD=%q: want a duration like 24h or 30m", v)
		}
		cfg.SecretGracePeriod = d
	}
	cfg.PublicURL = resolvers.DefaultPublicURL
	if v := strings.TrimSpace(getenv("SWITCHYARD_PUBLIC_URL")); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("SWITCHYARD_PUBLIC_URL=%q: want an absolute http(s) URL like https://api.example.com", v)
		}
		cfg.PublicURL = strings.TrimRight(v, "/")
	}
	if v := strings.TrimSpace(getenv("SWITCHYARD_WEBHOOK_ALLOW_PRIVATE")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("SWITCHYARD_WEBHOOK_ALLOW_PRIVATE=%q: want true or false", v)
		}
		cfg.WebhookAllowPrivate = b
	}
	return nil
}

// secretKey returns the key that encrypts stored secrets: the configured
// one, or the public development key.
func (c config) secretKey() []byte {
	if c.SecretKeyBytes != nil {
		return c.SecretKeyBytes
	}
	key, _, _ := postgres.ParseSecretKey(devSecretKey)
	return key
}

// integrationOptions are the integration service's options from c.
func (c config) integrationOptions() postgres.IntegrationOptions {
	return postgres.IntegrationOptions{
		SecretKey:             c.secretKey(),
		SecretGracePeriod:     c.SecretGracePeriod,
		AllowPrivateEndpoints: c.WebhookAllowPrivate,
	}
}

// devSecretKeyWarning is printed by serve when stored secrets are encrypted
// with the development key.
const devSecretKeyWarning = `
*** WARNING: SWITCHYARD_SECRET_KEY is not set. Integration signing secrets are
*** encrypted with a PUBLIC development key. Set SWITCHYARD_SECRET_KEY
*** (openssl rand -base64 32) anywhere but your own machine.

`
