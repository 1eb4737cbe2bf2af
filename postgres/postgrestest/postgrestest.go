// Package postgrestest gives each test its own PostgreSQL database, cloned from a
// template that is migrated once per set of migrations, so test packages run in
// parallel against a real server without seeing each other's rows.
package postgrestest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard/switchyard/migrations"
)

const howToStart = `start the project's services first: make services && eval "$(make -s env)"`

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// AdminURL returns the URL tests connect to in order to create databases:
// SWITCHYARD_TEST_DATABASE_URL, else DATABASE_URL.
func AdminURL(t testing.TB) string {
	t.Helper()
	for _, key := range []string{"SWITCHYARD_TEST_DATABASE_URL", "DATABASE_URL"} {
		if v := os.Getenv(key); v != "" {
			return v
		}
	}
	t.Fatalf("postgrestest: DATABASE_URL is not set; %s", howToStart)
	return ""
}

// NewDatabaseURL creates a fresh, migrated database for t and returns its URL.
// The database is dropped when t ends. A missing server fails the test: it never
// skips.
func NewDatabaseURL(t testing.TB) string {
	t.Helper()
	admin := AdminURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(ctx, admin) })
	if templateErr != nil {
		t.Fatalf("postgrestest: %v; %s", templateErr, howToStart)
	}

	name := "test_" + randomSuffix()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("postgrestest: connect: %v; %s", err, howToStart)
	}
	defer conn.Close(ctx)
	// Cloning takes a lock on the template; concurrent clones of one template
	// queue behind each other, so retry the rare "being accessed" race.
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", pgx.Identifier{name}.Sanitize(), pgx.Identifier{templateName}.Sanitize()))
		if err == nil || attempt == 20 {
			break
		}
		time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("postgrestest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("postgrestest: drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", pgx.Identifier{name}.Sanitize())); err != nil {
			t.Logf("postgrestest: drop %s: %v", name, err)
		}
	})
	return withDatabase(admin, name)
}

// NewPool returns a pool on a fresh database for t, closed when t ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), NewDatabaseURL(t))
	if err != nil {
		t.Fatalf("postgrestest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// ensureTemplate builds the template database for the current migrations once
// per cluster. An advisory lock makes concurrent test binaries wait for the one
// that builds it; a template is marked IS_TEMPLATE only once fully migrated, so
// one left half-built by a crash is rebuilt.
func ensureTemplate(ctx context.Context, admin string) (string, error) {
	sum, err := migrations.Checksum()
	if err != nil {
		return "", err
	}
	name := "switchyard_template_" + sum
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7320114002)"); err != nil {
		return "", err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7320114002)") //nolint:errcheck

	var isTemplate *bool
	err = conn.QueryRow(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", name).Scan(&isTemplate)
	if err != nil && err != pgx.ErrNoRows {
		return "", err
	}
	if isTemplate != nil && *isTemplate {
		return name, nil
	}
	ident := pgx.Identifier{name}.Sanitize()
	if isTemplate != nil {
		if _, err := conn.Exec(ctx, "DROP DATABASE "+ident+" WITH (FORCE)"); err != nil {
			return "", err
		}
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	pool, err := pgxpool.New(ctx, withDatabase(admin, name))
	if err != nil {
		return "", err
	}
	_, err = migrations.Up(ctx, pool)
	pool.Close()
	if err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident+" IS_TEMPLATE true"); err != nil {
		return "", err
	}
	return name, nil
}

func withDatabase(rawURL, name string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(fmt.Sprintf("postgrestest: bad database URL: %v", err))
	}
	u.Path = "/" + name
	return u.String()
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
