package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/realtime"
	"github.com/switchyard/switchyard/search"
)

var testAdmin = switchyard.NewContextWithCaller(context.Background(), &switchyard.Caller{UserID: "00000000-0000-4000-8000-0000000000ad", Role: switchyard.RoleAdmin})

// TestReindexInterruptedAndResumed interrupts a rebuild of the demo data
// half-way through the orders, checks that searches still read the old
// (empty) index, changes a row the interrupted run had already indexed, and
// resumes with `switchyard reindex`: it carries on from the checkpoint,
// catches up with the change, swaps the new index in and rewinds the
// indexer's cursor to where the new index caught up.
func TestReindexInterruptedAndResumed(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := postgres.Seed(ctx, db, postgres.SeedOptions{Scale: 1}); err != nil {
		t.Fatal(err)
	}
	source, log, cursors := postgres.NewSearchSource(db), postgres.NewEventLog(db), postgres.NewConsumerCursors(db)
	relayCtx, stopRelay := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = postgres.NewRelay(db, realtime.NewMemoryBroker(), nil, postgres.WithRelayPollInterval(20*time.Millisecond)).Run(relayCtx)
	})
	defer func() { stopRelay(); wg.Wait() }()

	backend, err := searchBackendFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := backend.open()
	if err != nil {
		t.Fatal(err)
	}
	runCtx, interrupt := context.WithCancel(ctx)
	_, err = search.Rebuild(runCtx, idx, source, log, cursors, search.RebuildOptions{
		Cursor: backend.Cursor, BatchSize: 500, CheckpointEvery: time.Nanosecond,
		Progress: func(p search.RebuildProgress) {
			if p.Type == switchyard.SearchOrder && p.Done > 1000 {
				interrupt()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted rebuild: %v", err)
	}
	counts, err := search.IndexCounts(ctx, idx)
	if err != nil || len(counts) != 0 {
		t.Fatalf("an unfinished rebuild reached the live index: %v %v", counts, err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}

	// Users were done before orders: this change reaches the new index only
	// through the catch-up.
	alice, err := postgres.NewUserService(db).FindUserByEmail(testAdmin, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	renamed := "Alicia Quixote"
	if _, err := postgres.NewUserService(db).UpdateUser(testAdmin, alice.ID, switchyard.UserUpdate{Name: &renamed}); err != nil {
		t.Fatal(err)
	}
	latest := waitSequenced(t, db)

	var stdout, stderr bytes.Buffer
	if err := reindexCommand(ctx, cfg, nil, &stdout, &stderr); err != nil {
		t.Fatalf("resume: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "rebuilt and swapped in") || !strings.Contains(stdout.String(), "resuming an interrupted run") {
		t.Fatalf("stdout: %s", stdout.String())
	}
	// Not a terminal: whole progress lines, the first already past the
	// interrupted run's work, with a rate.
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	m := regexp.MustCompile(`\] +\d+% ([\d,]+)/([\d,]+) `).FindStringSubmatch(lines[1])
	if m == nil {
		t.Fatalf("progress lines:\n%s", stderr.String())
	}
	if done, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", "")); done < 1000 {
		t.Fatalf("the resumed run started from %d documents, not from the checkpoint:\n%s", done, stderr.String())
	}
	if !strings.Contains(stderr.String(), "/s") || !strings.Contains(stderr.String(), "done") {
		t.Fatalf("progress lacks a rate or the end:\n%s", stderr.String())
	}

	idx, err = backend.open()
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	counts, err = search.IndexCounts(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range switchyard.SearchTypes {
		n, err := source.CountSearchDocuments(ctx, typ)
		if err != nil || counts[typ] != n {
			t.Fatalf("%s: index %d, tables %d (%v)", typ, counts[typ], n, err)
		}
	}
	res, err := idx.Search(ctx, switchyard.SearchQuery{Text: "quixote", Types: []switchyard.SearchType{switchyard.SearchUser}, Viewer: &switchyard.Viewer{Admin: true}})
	if err != nil || res.TotalCount != 1 || res.Hits[0].ID != alice.ID {
		t.Fatalf("the change made while interrupted is missing: %+v %v", res, err)
	}
	c, err := cursors.ReadConsumerCursor(ctx, backend.Cursor)
	if err != nil || c == nil || c.Epoch < 1 || c.Seq != latest {
		t.Fatalf("indexer cursor after the swap: %+v %v (want seq %d)", c, err, latest)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}

	// In place, one type.
	stdout.Reset()
	if err := reindexCommand(ctx, cfg, []string{"--types", "orders"}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "2000 documents re-indexed in place") {
		t.Fatalf("--types orders: %s", stdout.String())
	}
}

// waitSequenced waits for the relay to sequence every event and returns the
// latest seq.
func waitSequenced(t *testing.T, db *postgres.DB) int64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var unsequenced, last int64
		if err := db.Pool().QueryRow(context.Background(), `SELECT (SELECT count(*) FROM events WHERE seq IS NULL), last_seq FROM relay_state`).Scan(&unsequenced, &last); err != nil {
			t.Fatal(err)
		}
		if unsequenced == 0 {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events not sequenced", unsequenced)
		}
		time.Sleep(10 * time.Millisecond) // polling the database, with a deadline
	}
}

// TestReindexRefusesAnIndexInUse: the embedded index is open in one process
// at a time; reindex says what to do about it.
func TestReindexRefusesAnIndexInUse(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	backend, err := searchBackendFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := backend.open()
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	err = reindexCommand(context.Background(), cfg, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "Is 'switchyard serve' running?") {
		t.Fatalf("reindex of an index in use: %v", err)
	}
}

func TestReindexArguments(t *testing.T) {
	t.Parallel()
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"reindex", "--help"}, &stdout, io.Discard); err != nil ||
		!strings.Contains(stdout.String(), "Usage: switchyard reindex [--types") || !strings.Contains(stdout.String(), "-restart") {
		t.Fatalf("help: %v\n%s", err, stdout.String())
	}
	for _, args := range [][]string{{"--types", "shipment"}, {"extra"}, {"--types", "order,"}} {
		if err := reindexCommand(context.Background(), config{}, args, io.Discard, io.Discard); err == nil {
			t.Errorf("reindex %v: no error", args)
		}
	}
	types, err := parseSearchTypes("Order, users ,PROJECT,integrations")
	if err != nil || len(types) != 4 || types[0] != switchyard.SearchOrder || types[1] != switchyard.SearchUser {
		t.Fatalf("parseSearchTypes: %v %v", types, err)
	}
}

func TestProgressLine(t *testing.T) {
	t.Parallel()
	got := progressLine(search.RebuildProgress{Phase: "scan", Type: switchyard.SearchOrder, Done: 125_000, Total: 205_013, ResumedFrom: 25_000, Elapsed: 10 * time.Second})
	for _, want := range []string{"61%", "125,000/205,013 orders", "10,000/s", "0:08 left", "[##############.........."} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}
