package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func TestLoadIntegrationConfig(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0xab}, 32)
	b64 := base64.StdEncoding.EncodeToString(raw)
	hx := hex.EncodeToString(raw)
	jwt := strings.Repeat("j", 32)
	prod := func(kv ...string) map[string]string {
		m := map[string]string{"SWITCHYARD_ENV": "production", "SWITCHYARD_JWT_SECRET": jwt}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c config)
	}{
		{name: "development defaults", check: func(t *testing.T, c config) {
			if !c.DevSecretKey || c.SecretKeyBytes != nil || len(c.secretKey()) != 32 {
				t.Fatalf("dev key: %+v", c.integrationConfig)
			}
			if c.PublicURL != "http://localhost:8080" || c.WebhookAllowPrivate || c.SecretGracePeriod != 0 {
				t.Fatalf("%+v", c.integrationConfig)
			}
		}},
		{name: "base64 key", env: map[string]string{"SWITCHYARD_SECRET_KEY": b64}, check: func(t *testing.T, c config) {
			if !bytes.Equal(c.SecretKeyBytes, raw) || c.DevSecretKey {
				t.Fatalf("key = %x", c.SecretKeyBytes)
			}
		}},
		{name: "hex key", env: map[string]string{"SWITCHYARD_SECRET_KEY": hx}, check: func(t *testing.T, c config) {
			if !bytes.Equal(c.SecretKeyBytes, raw) {
				t.Fatalf("key = %x", c.SecretKeyBytes)
			}
		}},
		{name: "passphrase", env: map[string]string{"SWITCHYARD_SECRET_KEY": "correct horse"}, check: func(t *testing.T, c config) {
			if sum := sha256.Sum256([]byte("correct horse")); !bytes.Equal(c.SecretKeyBytes, sum[:]) {
				t.Fatalf("key = %x", c.SecretKeyBytes)
			}
		}},
		{name: "other settings", env: map[string]string{"SWITCHYARD_PUBLIC_URL": "https://api.example.com/", "SWITCHYARD_WEBHOOK_ALLOW_PRIVATE": "true", "SWITCHYARD_SECRET_GRACE_PERIOD": "90m"},
			check: func(t *testing.T, c config) {
				if c.PublicURL != "https://api.example.com" || !c.WebhookAllowPrivate || c.SecretGracePeriod != 90*time.Minute {
					t.Fatalf("%+v", c.integrationConfig)
				}
				o := c.integrationOptions()
				if !o.AllowPrivateEndpoints || o.SecretGracePeriod != 90*time.Minute || len(o.SecretKey) != 32 {
					t.Fatalf("%+v", o)
				}
			}},
		{name: "bad public URL", env: map[string]string{"SWITCHYARD_PUBLIC_URL": "api.example.com"}, wantErr: "SWITCHYARD_PUBLIC_URL"},
		{name: "bad allow-private", env: map[string]string{"SWITCHYARD_WEBHOOK_ALLOW_PRIVATE": "yes please"}, wantErr: "SWITCHYARD_WEBHOOK_ALLOW_PRIVATE"},
		{name: "bad grace", env: map[string]string{"SWITCHYARD_SECRET_GRACE_PERIOD": "a day"}, wantErr: "SWITCHYARD_SECRET_GRACE_PERIOD"},
		{name: "production without a key", env: prod(), wantErr: "needs SWITCHYARD_SECRET_KEY"},
		{name: "production with the dev key", env: prod("SWITCHYARD_SECRET_KEY", devSecretKey), wantErr: "refusing the public development key"},
		{name: "production with a short passphrase", env: prod("SWITCHYARD_SECRET_KEY", "hunter2"), wantErr: "at least 32 characters"},
		{name: "production with a base64 key", env: prod("SWITCHYARD_SECRET_KEY", b64), check: func(t *testing.T, c config) {
			if !bytes.Equal(c.SecretKeyBytes, raw) {
				t.Fatalf("key = %x", c.SecretKeyBytes)
			}
		}},
		{name: "production with a long passphrase", env: prod("SWITCHYARD_SECRET_KEY", strings.Repeat("p", 40)), check: func(t *testing.T, c config) {
			if len(c.SecretKeyBytes) != 32 {
				t.Fatal("no key")
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadConfig(func(k string) string { return c.env[k] })
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, cfg)
		})
	}
}
