package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/switchyard/switchyard/server"
)

// devJWTSecret signs development tokens when SWITCHYARD_JWT_SECRET is unset.
// It is public, so production refuses it.
const devJWTSecret = "switchyard-development-secret-not-for-production"

// devDatabaseURL is the project's own PostgreSQL from scripts/services.sh.
const devDatabaseURL = "postgres://switchyard:switchyard@127.0.0.1:54329/switchyard?sslmode=disable"

// minJWTSecretBytes matches server.MinSecretBytes: an HS256 key shorter than
// the hash is guessable offline from any token.
const minJWTSecretBytes = 32

const envHelp = `Environment:
  DATABASE_URL           PostgreSQL URL (default: the project's dev database,
                         ` + devDatabaseURL + `)
  REDIS_URL              Redis URL: live updates fan out across instances
                         through it, and /readyz checks it (unset: in-process,
                         one instance only)
  ELASTICSEARCH_URL      Elasticsearch URL for search (unset: the embedded
                         index in SWITCHYARD_SEARCH_DIR)
  SWITCHYARD_SEARCH_DIR  directory of the embedded search index (default
                         .data/search)
  SWITCHYARD_ADDR        listen address (default :8080)
  SWITCHYARD_ALLOWED_ORIGINS
                         comma-separated browser origins, besides the server's
                         own, that may open websockets, like
                         https://app.example.com,http://localhost:* ("*": any;
                         default: localhost and 127.0.0.1 on any port)
  SWITCHYARD_JWT_SECRET  HS256 secret for bearer tokens (a public development
                         default when unset; at least 32 bytes in production)
  SWITCHYARD_JWKS_URL    not supported yet; setting it is an error
  SWITCHYARD_SECRET_KEY  key that encrypts stored secrets (integration signing
                         secrets): 32 bytes as base64 or hex (openssl rand
                         -base64 32), or a passphrase hashed with SHA-256;
                         required in production (a public development default
                         otherwise)
  SWITCHYARD_SECRET_GRACE_PERIOD
                         how long a rotated signing secret keeps verifying
                         (default 24h)
  SWITCHYARD_PUBLIC_URL  the server's public base URL, for the webhook URLs
                         integrations show (default http://localhost:8080)
  SWITCHYARD_WEBHOOK_ALLOW_PRIVATE
                         true admits webhook endpoints on loopback, private
                         and link-local addresses (default false)` + webhookEnvHelp + `
  SWITCHYARD_ENV         development (default) or production`

// config is the process configuration, read once from the environment.
type config struct {
	DatabaseURL      string
	RedisURL         string
	ElasticsearchURL string
	// SearchDir is the embedded index's directory; "" is defaultSearchDir.
	SearchDir string
	Addr      string
	JWTSecret []byte
	// DevJWTSecret is set when JWTSecret is the public development default.
	DevJWTSecret bool
	SecretKey    string
	Production   bool
	// Integrations: see integrations.go.
	integrationConfig
	// Outbound webhooks: see webhooks.go.
	webhookConfig
	// AllowedOrigins is nil for the server's default.
	AllowedOrigins []string
}

func loadConfig(getenv func(string) string) (config, error) {
	env := func(key, def string) string {
		if v := strings.TrimSpace(getenv(key)); v != "" {
			return v
		}
		return def
	}
	cfg := config{
		DatabaseURL:      env("DATABASE_URL", devDatabaseURL),
		RedisURL:         env("REDIS_URL", ""),
		ElasticsearchURL: env("ELASTICSEARCH_URL", ""),
		SearchDir:        env("SWITCHYARD_SEARCH_DIR", ""),
		Addr:             env("SWITCHYARD_ADDR", ":8080"),
		SecretKey:        getenv("SWITCHYARD_SECRET_KEY"),
		AllowedOrigins:   server.ParseAllowedOrigins(getenv("SWITCHYARD_ALLOWED_ORIGINS")),
	}
	switch mode := env("SWITCHYARD_ENV", "development"); mode {
	case "development":
	case "production":
		cfg.Production = true
	default:
		return config{}, fmt.Errorf("SWITCHYARD_ENV=%q: use development or production", mode)
	}
	if getenv("SWITCHYARD_JWKS_URL") != "" {
		return config{}, errors.New("SWITCHYARD_JWKS_URL is not supported yet; unset it and set SWITCHYARD_JWT_SECRET (HS256) instead")
	}
	// The secret is used byte for byte: trimming would silently change a key.
	if secret := getenv("SWITCHYARD_JWT_SECRET"); secret != "" {
		cfg.JWTSecret = []byte(secret)
	} else {
		cfg.JWTSecret = []byte(devJWTSecret)
		cfg.DevJWTSecret = true
	}
	if cfg.Production {
		switch {
		case cfg.DevJWTSecret || string(cfg.JWTSecret) == devJWTSecret:
			return config{}, errors.New("SWITCHYARD_ENV=production needs SWITCHYARD_JWT_SECRET: refusing the public development secret")
		case len(cfg.JWTSecret) < minJWTSecretBytes:
			return config{}, fmt.Errorf("SWITCHYARD_ENV=production needs a SWITCHYARD_JWT_SECRET of at least %d bytes, got %d (try: openssl rand -base64 48)", minJWTSecretBytes, len(cfg.JWTSecret))
		}
	}
	if err := loadIntegrationConfig(&cfg, getenv); err != nil {
		return config{}, err
	}
	if err := loadWebhookConfig(&cfg, getenv); err != nil {
		return config{}, err
	}
	return cfg, nil
}

// devSecretWarning is printed by every command that signs or verifies tokens
// with the development secret.
const devSecretWarning = `
*** WARNING: SWITCHYARD_JWT_SECRET is not set. Tokens are signed with a PUBLIC
*** development secret, so anyone can mint an admin token. Set
*** SWITCHYARD_JWT_SECRET (32+ random bytes) anywhere but your own machine.

`
