package main

import (
	"strings"
	"testing"
	"time"
)

func TestLoadWebhookConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		env     map[string]string
		want    webhookConfig
		wantErr string
	}{
		{name: "defaults", want: webhookConfig{}},
		{name: "all set", env: map[string]string{
			"SWITCHYARD_WEBHOOK_TIMEOUT": "5s", "SWITCHYARD_WEBHOOK_RETRY_LIMIT": "36h",
			"SWITCHYARD_WEBHOOK_FAILURE_THRESHOLD": "3", "SWITCHYARD_WEBHOOK_PROBE_INTERVAL": "30s",
		}, want: webhookConfig{WebhookTimeout: 5 * time.Second, WebhookRetryLimit: 36 * time.Hour, WebhookFailureThreshold: 3, WebhookProbeInterval: 30 * time.Second}},
		{name: "bad duration", env: map[string]string{"SWITCHYARD_WEBHOOK_RETRY_LIMIT": "a day"}, wantErr: "SWITCHYARD_WEBHOOK_RETRY_LIMIT"},
		{name: "zero duration", env: map[string]string{"SWITCHYARD_WEBHOOK_TIMEOUT": "0s"}, wantErr: "SWITCHYARD_WEBHOOK_TIMEOUT"},
		{name: "bad threshold", env: map[string]string{"SWITCHYARD_WEBHOOK_FAILURE_THRESHOLD": "0"}, wantErr: "SWITCHYARD_WEBHOOK_FAILURE_THRESHOLD"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var cfg config
			err := loadWebhookConfig(&cfg, func(k string) string { return c.env[k] })
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want an error naming %s, got %v", c.wantErr, err)
				}
				return
			}
			if err != nil || cfg.webhookConfig != c.want {
				t.Fatalf("got %+v, %v; want %+v", cfg.webhookConfig, err, c.want)
			}
		})
	}
}
