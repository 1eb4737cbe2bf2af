package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard"
	webhooks "github.com/switchyard/switchyard/integrations"
	"github.com/switchyard/switchyard/postgres"
)

// webhookConfig tunes outbound webhook delivery; zero values are the
// worker's defaults.
type webhookConfig struct {
	// WebhookTimeout bounds one delivery attempt.
	WebhookTimeout time.Duration
	// WebhookRetryLimit is how long a failing delivery is retried.
	WebhookRetryLimit time.Duration
	// WebhookFailureThreshold is the run of failures that turns an
	// integration FAILING.
	WebhookFailureThreshold int
	// WebhookProbeInterval is how often a FAILING integration is probed.
	WebhookProbeInterval time.Duration
}

// webhookEnvHelp documents webhookConfig for `switchyard help`.
const webhookEnvHelp = `
  SWITCHYARD_WEBHOOK_TIMEOUT
                         bound on one outbound delivery attempt (default 10s)
  SWITCHYARD_WEBHOOK_RETRY_LIMIT
                         how long a failing outbound delivery is retried, with
                         exponential backoff (default 24h)
  SWITCHYARD_WEBHOOK_FAILURE_THRESHOLD
                         failed attempts in a row that turn an integration
                         FAILING and notify its owner (default 10)
  SWITCHYARD_WEBHOOK_PROBE_INTERVAL
                         how often a FAILING integration's endpoint is tried
                         again (default 1m)`

func loadWebhookConfig(cfg *config, getenv func(string) string) error {
	durations := []struct {
		key string
		dst *time.Duration
	}{
		{"SWITCHYARD_WEBHOOK_TIMEOUT", &cfg.WebhookTimeout},
		{"SWITCHYARD_WEBHOOK_RETRY_LIMIT", &cfg.WebhookRetryLimit},
		{"SWITCHYARD_WEBHOOK_PROBE_INTERVAL", &cfg.WebhookProbeInterval},
	}
	for _, d := range durations {
		v := strings.TrimSpace(getenv(d.key))
		if v == "" {
			continue
		}
		parsed, err := time.ParseDuration(v)
		if err != nil || parsed <= 0 {
			return fmt.Errorf("%s=%q: want a positive duration like 30s or 24h", d.key, v)
		}
		*d.dst = parsed
	}
	if v := strings.TrimSpace(getenv("SWITCHYARD_WEBHOOK_FAILURE_THRESHOLD")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("SWITCHYARD_WEBHOOK_FAILURE_THRESHOLD=%q: want a whole number of at least 1", v)
		}
		cfg.WebhookFailureThreshold = n
	}
	return nil
}

// webhookMachinery is inbound and outbound webhooks as serve runs them.
type webhookMachinery struct {
	receiver switchyard.WebhookReceiver
	worker   *webhooks.Worker
}

// newWebhooks builds the inbound receiver and the outbound worker over db.
// The worker runs on every instance and sends only while it leads.
func newWebhooks(cfg config, db *postgres.DB, integrations *postgres.IntegrationService, log *slog.Logger) *webhookMachinery {
	store := postgres.NewWebhookStore(db)
	return &webhookMachinery{
		receiver: webhooks.NewReceiver(integrations, store, postgres.NewOrderService(db), webhooks.ReceiverOptions{Logger: log}),
		worker: webhooks.NewWorker(store, integrations, webhooks.WorkerOptions{
			Leadership:       postgres.NewLeadership(db, 0, log),
			Logger:           log,
			AllowPrivate:     cfg.WebhookAllowPrivate,
			Timeout:          cfg.WebhookTimeout,
			RetryLimit:       cfg.WebhookRetryLimit,
			FailureThreshold: cfg.WebhookFailureThreshold,
			ProbeInterval:    cfg.WebhookProbeInterval,
		}),
	}
}

func (m *webhookMachinery) run(ctx context.Context, log *slog.Logger) {
	if err := m.worker.Run(ctx); err != nil {
		log.Error("webhook worker stopped", "err", err)
	}
}
