package migrations_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard/switchyard/migrations"
	"github.com/switchyard/switchyard/postgres/postgrestest"
)

// emptyDatabase creates a brand-new database (from template0, so nothing of
// the migrated test template leaks in) and drops it when t ends.
func emptyDatabase(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	admin := postgrestest.AdminURL(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "migrate_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect: %v; start the project's services first: make services && eval \"$(make -s env)\"", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestUpFromEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := emptyDatabase(t)
	all, err := migrations.All()
	if err != nil || len(all) == 0 {
		t.Fatalf("All() = %d migrations, %v", len(all), err)
	}

	status, err := migrations.Status(ctx, pool)
	if err != nil {
		t.Fatalf("status of an empty database: %v", err)
	}
	for _, m := range status {
		if m.AppliedAt != nil {
			t.Fatalf("%04d_%s applied in an empty database", m.Version, m.Name)
		}
	}

	applied, err := migrations.Up(ctx, pool)
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	if len(applied) != len(all) {
		t.Fatalf("up applied %d migrations, want %d", len(applied), len(all))
	}
	for i, m := range applied {
		if m.Version != all[i].Version || m.AppliedAt == nil {
			t.Errorf("applied[%d] = %04d_%s (at %v), want %04d", i, m.Version, m.Name, m.AppliedAt, all[i].Version)
		}
	}

	status, err = migrations.Status(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(status) != len(all) {
		t.Fatalf("status lists %d migrations, want %d", len(status), len(all))
	}
	for _, m := range status {
		if m.AppliedAt == nil {
			t.Errorf("%04d_%s not applied after up", m.Version, m.Name)
		}
	}

	again, err := migrations.Up(ctx, pool)
	if err != nil || len(again) != 0 {
		t.Fatalf("second up applied %d migrations, %v; want none", len(again), err)
	}

	// The schema is really there: every table the services use answers.
	for _, table := range []string{"users", "projects", "project_members", "orders", "order_items", "order_status_changes", "events"} {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
}

// TestConcurrentUp: migrators starting at once apply each migration once.
func TestConcurrentUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := emptyDatabase(t)
	all, err := migrations.All()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int
		err error
	}
	results := make(chan result, 3)
	for range 3 {
		go func() {
			done, err := migrations.Up(ctx, pool)
			results <- result{len(done), err}
		}()
	}
	total := 0
	for range 3 {
		r := <-results
		if r.err != nil {
			t.Fatalf("up: %v", r.err)
		}
		total += r.n
	}
	if total != len(all) {
		t.Fatalf("concurrent ups applied %d migrations in all, want %d", total, len(all))
	}
}
