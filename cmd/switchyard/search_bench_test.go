package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/migrations"
	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/postgres/postgrestest"
	"github.com/switchyard/switchyard/realtime"
	"github.com/switchyard/switchyard/search"
	"github.com/switchyard/switchyard/search/embedded"
)

// The search benchmarks run on `seed --scale 100` (200,000 orders, 5,000
// users, 13 projects) in a database kept between runs:
// SWITCHYARD_BENCH_SEARCH_DB, by default switchyard_bench_search, on the
// server of DATABASE_URL. The first run creates, migrates and seeds it.
//
//	make bench-search
//	go test -run '^$' -bench 'BenchmarkReindex|BenchmarkIndexLatency' -benchtime 1x ./cmd/switchyard/
//
// BenchmarkReindex times a full rebuild from PostgreSQL into an empty
// embedded index, as `switchyard reindex` runs it; BenchmarkIndexLatency then
// measures, on that index, how long a committed change takes to become
// searchable with the indexer wired as serve wires it.

type searchBench struct {
	db      *postgres.DB
	dir     string
	index   *embedded.Index
	result  *search.RebuildResult
	cpu     time.Duration
	elapsed time.Duration
	err     error
}

var (
	searchBenchOnce sync.Once
	searchBenchData searchBench
)

func benchSearch(b *testing.B) *searchBench {
	b.Helper()
	searchBenchOnce.Do(func() {
		s := &searchBenchData
		s.db, s.err = benchSearchDB(b)
		if s.err != nil {
			return
		}
		if s.dir, s.err = os.MkdirTemp("", "switchyard-search-rebuild-"); s.err != nil {
			return
		}
		if s.index, s.err = embedded.Open(s.dir); s.err != nil {
			return
		}
		start, cpu := time.Now(), processCPU()
		s.result, s.err = search.Rebuild(context.Background(), s.index, postgres.NewSearchSource(s.db), postgres.NewEventLog(s.db),
			postgres.NewConsumerCursors(s.db), search.RebuildOptions{Cursor: "search:bench"})
		s.elapsed, s.cpu = time.Since(start), processCPU()-cpu
	})
	if searchBenchData.err != nil {
		b.Fatal(searchBenchData.err)
	}
	return &searchBenchData
}

func TestMain(m *testing.M) {
	code := m.Run()
	if s := &searchBenchData; s.index != nil {
		_ = s.index.Close()
		_ = os.RemoveAll(s.dir)
		s.db.Close()
	}
	os.Exit(code)
}

func benchSearchDB(b *testing.B) (*postgres.DB, error) {
	ctx := context.Background()
	name := os.Getenv("SWITCHYARD_BENCH_SEARCH_DB")
	if name == "" {
		name = "switchyard_bench_search"
	}
	admin := postgrestest.AdminURL(b)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return nil, err
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return nil, err
		}
	}
	conn.Close(ctx)
	u, err := url.Parse(admin)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	db, err := postgres.Open(ctx, u.String())
	if err != nil {
		return nil, err
	}
	if _, err := migrations.Up(ctx, db.Pool()); err != nil {
		return nil, err
	}
	began := time.Now()
	res, err := postgres.Seed(ctx, db, postgres.SeedOptions{Scale: 100})
	if err != nil {
		return nil, err
	}
	if res.Changed() {
		fmt.Fprintf(os.Stderr, "seeded %s at scale 100 in %v\n", name, time.Since(began).Round(time.Second))
	}
	if res.Total.Orders < 200_000 {
		return nil, fmt.Errorf("%s holds %d orders, want 200,000", name, res.Total.Orders)
	}
	return db, nil
}

// BenchmarkReindex reports a full rebuild of the scale-100 data set: wall
// clock, documents per second, and the CPU the process spent (PostgreSQL's
// share is not included).
func BenchmarkReindex(b *testing.B) {
	s := benchSearch(b)
	for b.Loop() {
	}
	b.ReportMetric(s.elapsed.Seconds(), "rebuild-s")
	b.ReportMetric(float64(s.result.Documents)/s.elapsed.Seconds(), "docs/s")
	b.ReportMetric(s.cpu.Seconds(), "cpu-s")
	b.ReportMetric(float64(s.result.Documents), "docs")
}

// BenchmarkIndexLatency reports how long a committed order takes to become
// searchable: the relay's sequencing, the indexer's poll (200ms, as serve),
// reloading the document and writing it. Each of 50 orders is created, then
// searched for every 5ms until found.
func BenchmarkIndexLatency(b *testing.B) {
	s := benchSearch(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	indexer := search.NewIndexer(s.index, postgres.NewEventLog(s.db), postgres.NewSearchSource(s.db), postgres.NewConsumerCursors(s.db),
		search.IndexerOptions{Cursor: "search:bench", AutoRebuild: false})
	relay := postgres.NewRelay(s.db, realtime.NewMemoryBroker(), nil)
	wg.Go(func() { _ = relay.Run(ctx) })
	wg.Go(func() { _ = indexer.Run(ctx) })

	admin := switchyard.NewContextWithCaller(ctx, &switchyard.Caller{UserID: "00000000-0000-4000-8000-0000000000ad", Role: switchyard.RoleAdmin})
	var projectID, customerID string
	if err := s.db.Pool().QueryRow(ctx, `SELECT p.id::text, u.id::text FROM projects p, users u
		WHERE p.name = 'Northwind Outfitters' AND u.email = 'dave@example.com'`).Scan(&projectID, &customerID); err != nil {
		b.Fatal(err)
	}
	orders := postgres.NewOrderService(s.db)
	viewer := &switchyard.Viewer{Admin: true}
	var lat []time.Duration
	for b.Loop() {
		lat = lat[:0]
		for i := range 50 {
			word := fmt.Sprintf("benchlatency%dx%d", time.Now().UnixNano(), i)
			o, err := orders.CreateOrder(admin, switchyard.OrderCreate{ProjectID: projectID, CustomerID: &customerID, Currency: "USD",
				Items: []switchyard.OrderItemInput{{SKU: "BL-1", Name: word, Quantity: 1, UnitPrice: "1.00"}}})
			if err != nil {
				b.Fatal(err)
			}
			committed := time.Now()
			deadline := committed.Add(30 * time.Second)
			for {
				res, err := s.index.Search(ctx, switchyard.SearchQuery{Text: word, Types: []switchyard.SearchType{switchyard.SearchOrder}, Viewer: viewer})
				if err != nil {
					b.Fatal(err)
				}
				if res.TotalCount == 1 && res.Hits[0].ID == o.ID {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("order %s not searchable after 30s", o.Number)
				}
				time.Sleep(5 * time.Millisecond)
			}
			lat = append(lat, time.Since(committed))
			// Spread the orders over the poll interval.
			time.Sleep(time.Duration(37*i%200) * time.Millisecond)
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
