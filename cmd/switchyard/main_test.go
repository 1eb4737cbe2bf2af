package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/postgres/postgrestest"
	"github.com/switchyard/switchyard/server"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 32)
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c config)
	}{
		{name: "defaults", check: func(t *testing.T, c config) {
			if c.DatabaseURL != devDatabaseURL || c.Addr != ":8080" || c.RedisURL != "" || !c.DevJWTSecret || c.Production {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "from the environment", env: map[string]string{
			"DATABASE_URL": "postgres://db/x", "REDIS_URL": "redis://r:1/0", "SWITCHYARD_ADDR": ":9000",
			"SWITCHYARD_JWT_SECRET": " spaced secret ", "SWITCHYARD_SECRET_KEY": "sk",
		}, check: func(t *testing.T, c config) {
			if c.DatabaseURL != "postgres://db/x" || c.RedisURL != "redis://r:1/0" || c.Addr != ":9000" || c.SecretKey != "sk" {
				t.Fatalf("%+v", c)
			}
			if string(c.JWTSecret) != " spaced secret " || c.DevJWTSecret {
				t.Fatalf("the secret must be used byte for byte: %q", c.JWTSecret)
			}
		}},
		{name: "production with a real secret", env: map[string]string{"SWITCHYARD_ENV": "production", "SWITCHYARD_JWT_SECRET": long, "SWITCHYARD_SECRET_KEY": long},
			check: func(t *testing.T, c config) {
				if !c.Production {
					t.Fatal("not production")
				}
			}},
		{name: "production without a secret", env: map[string]string{"SWITCHYARD_ENV": "production"}, wantErr: "refusing the public development secret"},
		{name: "production with the dev secret", env: map[string]string{"SWITCHYARD_ENV": "production", "SWITCHYARD_JWT_SECRET": devJWTSecret},
			wantErr: "refusing the public development secret"},
		{name: "production with a short secret", env: map[string]string{"SWITCHYARD_ENV": "production", "SWITCHYARD_JWT_SECRET": long[:31]},
			wantErr: "at least 32 bytes"},
		{name: "JWKS is not supported yet", env: map[string]string{"SWITCHYARD_JWKS_URL": "https://idp/jwks"}, wantErr: "SWITCHYARD_JWKS_URL is not supported"},
		{name: "unknown mode", env: map[string]string{"SWITCHYARD_ENV": "prod"}, wantErr: "use development or production"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadConfig(func(k string) string { return c.env[k] })
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want error %q, got %v", c.wantErr, err)
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

func TestHelp(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args    []string
		want    []string
		wantErr bool
	}{
		{args: []string{"--help"}, want: []string{"serve", "migrate", "seed", "token", "SWITCHYARD_JWT_SECRET"}},
		{args: []string{"help"}, want: []string{"Commands:"}},
		{args: []string{"serve", "--help"}, want: []string{"Usage: switchyard serve", "-addr", "-migrate"}},
		{args: []string{"migrate", "--help"}, want: []string{"Usage: switchyard migrate up|status"}},
		{args: []string{"seed", "--help"}, want: []string{"Usage: switchyard seed [--scale N]"}},
		{args: []string{"token", "-h"}, want: []string{"Usage: switchyard token --email E [--ttl 24h]", "-ttl"}},
		{args: nil, wantErr: true},
		{args: []string{"nope"}, wantErr: true},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), c.args, &stdout, &stderr)
		if (err != nil) != c.wantErr {
			t.Errorf("%v: err = %v", c.args, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("%v: stdout lacks %q:\n%s", c.args, w, stdout.String())
			}
		}
		if c.wantErr && !strings.Contains(stderr.String(), "Usage: switchyard") {
			t.Errorf("%v: a mistake should print the usage to stderr:\n%s", c.args, stderr.String())
		}
	}
}

func testConfig(t *testing.T) config {
	return config{DatabaseURL: postgrestest.NewDatabaseURL(t), Addr: "127.0.0.1:0", JWTSecret: []byte("cmd-test-secret-cmd-test-secret-xx"), SearchDir: t.TempDir()}
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	ctx := context.Background()
	var out bytes.Buffer
	if err := migrateCommand(ctx, cfg, []string{"up"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "up to date") {
		t.Fatalf("up on a migrated database: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := migrateCommand(ctx, cfg, []string{"status"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "0001") || !strings.Contains(out.String(), "0 pending") {
		t.Fatalf("status: %v\n%s", err, out.String())
	}
	if err := migrateCommand(ctx, cfg, []string{"down"}, io.Discard, io.Discard); err == nil {
		t.Fatal("migrate down accepted")
	}
}

func TestTokenCommand(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	admin := switchyard.NewContextWithCaller(ctx, &switchyard.Caller{UserID: "00000000-0000-4000-8000-0000000000ad", Role: switchyard.RoleAdmin})
	u, err := postgres.NewUserService(db).CreateUser(admin, switchyard.UserCreate{Email: "tok@example.com", Name: "Tok", Role: switchyard.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	if err := tokenCommand(ctx, cfg, []string{"--email", "TOK@example.com", "--ttl", "2h"}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	tok := strings.TrimSpace(stdout.String())
	var claims server.Claims
	if _, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return cfg.JWTSecret, nil }); err != nil {
		t.Fatalf("stdout is not just a valid token: %q: %v", stdout.String(), err)
	}
	if claims.Subject != u.ID || claims.Role != switchyard.RoleAdmin || time.Until(claims.ExpiresAt.Time) > 2*time.Hour {
		t.Fatalf("claims %+v", claims)
	}
	if !strings.Contains(stderr.String(), "curl") || !strings.Contains(stderr.String(), "Authorization: Bearer "+tok) {
		t.Fatalf("no curl hint:\n%s", stderr.String())
	}

	if err := tokenCommand(ctx, cfg, []string{"--email", "nobody@example.com"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Fatalf("unknown email: %v", err)
	}
	if err := tokenCommand(ctx, cfg, nil, io.Discard, io.Discard); err == nil {
		t.Fatal("token without --email accepted")
	}
}

// TestServeShutsDownGracefully serves, answers a request, and returns nil
// once its context ends, as it does on SIGINT or SIGTERM.
func TestServeShutsDownGracefully(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs, logw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serveCommand(ctx, cfg, nil, io.Discard, logw)
		logw.Close()
	}()

	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`msg=serving addr=(\S+)`)
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("serve ended early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not log its address within 10s")
	}

	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatal("serve did not shut down")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}
