package embedded_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/search/embedded"
)

// The benchmark corpus has the shape of `seed --scale`: 200,000 orders plus
// users and projects. It is built once per run, timed (indexing throughput),
// and kept for the query benchmarks.
// SEARCH_BENCH_ORDERS scales the corpus down while iterating.
var (
	benchOrders   = envInt("SEARCH_BENCH_ORDERS", 200_000)
	benchUsers    = benchOrders / 10
	benchProjects = benchOrders / 100
)

var benchBatch = envInt("SEARCH_BENCH_BATCH", 5_000) // as search.Rebuild writes

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n >= 1000 {
		return n
	}
	return def
}

var (
	firstNames = strings.Fields(`Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy
		Rupert Sybil Trent Victor Walter Xavier Yolanda Zoe Aaron Bianca Carlos Diana Elena Felix Gina Hugo
		Irene Jonas Karla Liam Marta Nora Oscar Paula Quinn Rosa Samir Tina Ursula Vera Wanda Yusuf`)
	lastNames = strings.Fields(`Martin Stone Walsh Ordway Smith Jones Brown Garcia Miller Davis Lopez Wilson
		Anderson Thomas Taylor Moore Jackson White Harris Clark Lewis Young Allen King Wright Scott Green
		Baker Adams Nelson Hill Campbell Mitchell Roberts Carter Phillips Evans Turner Torres Parker`)
	products = strings.Fields(`rocket fuel nose cone pallet widget gadget sprocket bracket valve pump hose
		filter sensor cable relay switch battery charger panel frame bolt washer gasket spring`)
	projectWords = strings.Fields(`Acme Globex Initech Umbrella Hooli Stark Wayne Wonka Cyberdyne Soylent
		Tyrell Aperture Black Mesa Vandelay Monarch Gringotts Oscorp Duff Sirius`)
	orderStatuses   = []string{"PENDING", "PAID", "FULFILLED", "SHIPPED", "DELIVERED", "CANCELLED", "REFUNDED"}
	projectStatuses = []string{"ACTIVE", "ACTIVE", "ACTIVE", "ARCHIVED"}
)

// benchEmail is one user's email, for the exact-email query.
var benchEmail string

type benchCorpus struct {
	dir      string
	path     string // of the index
	idx      *embedded.Index
	indexing time.Duration
	// indexingCPU is the CPU the build took, merges included: on a shared
	// machine it says more about the cost than the wall clock.
	indexingCPU time.Duration
	docs        int
	member      *switchyard.Viewer // a member of five projects
	err         error
}

var (
	benchOnce sync.Once
	bench     benchCorpus
)

func benchDocs() []switchyard.SearchDocument {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	type user struct{ id, name, email string }
	users := make([]user, benchUsers)
	docs := make([]switchyard.SearchDocument, 0, benchUsers+benchProjects+benchOrders)
	userProjects := make([][]string, benchUsers)
	projectNames := make([]string, benchProjects)
	for p := range benchProjects {
		projectNames[p] = fmt.Sprintf("%s %s %d", projectWords[rng.IntN(len(projectWords))], projectWords[rng.IntN(len(projectWords))], p)
		owner := rng.IntN(benchUsers)
		userProjects[owner] = append(userProjects[owner], fmt.Sprintf("p-%05d", p))
		for range 4 {
			m := rng.IntN(benchUsers)
			userProjects[m] = append(userProjects[m], fmt.Sprintf("p-%05d", p))
		}
	}
	for u := range users {
		first, last := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
		users[u] = user{fmt.Sprintf("u-%05d", u), first + " " + last, fmt.Sprintf("%s.%s%d@example.com", strings.ToLower(first), strings.ToLower(last), u)}
	}
	for p := range benchProjects {
		id := fmt.Sprintf("p-%05d", p)
		docs = append(docs, switchyard.SearchDocument{
			Type: switchyard.SearchProject, ID: id, Version: 1, Name: projectNames[p],
			Description: "Supplies " + products[rng.IntN(len(products))] + " and " + products[rng.IntN(len(products))],
			Status:      projectStatuses[rng.IntN(len(projectStatuses))], ProjectID: id,
			CreatedAt: base.Add(time.Duration(rng.IntN(365*24)) * time.Hour), ProjectIDs: []string{id},
		})
	}
	for o := range benchOrders {
		c := rng.IntN(benchUsers)
		p := rng.IntN(benchProjects)
		pid := fmt.Sprintf("p-%05d", p)
		userProjects[c] = append(userProjects[c], pid)
		items := make([]string, 1+rng.IntN(3))
		for i := range items {
			items[i] = products[rng.IntN(len(products))]
		}
		docs = append(docs, switchyard.SearchDocument{
			Type: switchyard.SearchOrder, ID: fmt.Sprintf("o-%06d", o), Version: 1,
			Number: fmt.Sprintf("SO-%06d", o+1), Description: strings.Join(items, "; "),
			CustomerName: users[c].name, CustomerEmail: users[c].email, ProjectName: projectNames[p],
			Status: orderStatuses[rng.IntN(len(orderStatuses))], ProjectID: pid,
			CreatedAt: base.Add(time.Duration(rng.IntN(365*24*60)) * time.Minute),
			Total:     switchyard.Decimal(fmt.Sprintf("%d.%02d", rng.IntN(2000), rng.IntN(100))), Currency: "USD",
			ProjectIDs: []string{pid}, UserIDs: []string{users[c].id},
		})
	}
	benchEmail = users[1234%len(users)].email
	for u, usr := range users {
		ps := slices.Compact(slices.Sorted(slices.Values(userProjects[u])))
		docs = append(docs, switchyard.SearchDocument{
			Type: switchyard.SearchUser, ID: usr.id, Version: 1, Name: usr.name, Email: usr.email,
			CreatedAt: base, ProjectIDs: ps, UserIDs: []string{usr.id},
		})
	}
	return docs
}

// benchIndex builds the corpus index once per process.
func benchIndex(b *testing.B) *benchCorpus {
	benchOnce.Do(func() {
		bench.member = &switchyard.Viewer{UserID: "u-00042", ProjectIDs: map[string]bool{}}
		for _, p := range []int{1, 17, 230, 999, 1500} {
			bench.member.ProjectIDs[fmt.Sprintf("p-%05d", p%benchProjects)] = true
		}
		docs := benchDocs()
		// SEARCH_BENCH_DIR keeps the built index between runs while tuning
		// queries; an index already there is reused, not rebuilt.
		dir := os.Getenv("SEARCH_BENCH_DIR")
		if dir == "" {
			var err error
			if dir, err = os.MkdirTemp("", "switchyard-search-bench-"); err != nil {
				bench.err = err
				return
			}
			bench.dir = dir
		}
		bench.path = filepath.Join(dir, "index")
		_, statErr := os.Stat(filepath.Join(bench.path, "CURRENT"))
		idx, err := embedded.Open(bench.path)
		if err != nil {
			bench.err = err
			return
		}
		bench.idx = idx
		if statErr == nil {
			bench.docs = len(docs)
			return
		}
		start, cpu := time.Now(), cpuTime()
		for chunk := range slices.Chunk(docs, benchBatch) {
			if err := idx.Index(context.Background(), chunk); err != nil {
				bench.err = err
				return
			}
		}
		bench.indexing = time.Since(start)
		bench.indexingCPU = cpuTime() - cpu
		bench.docs = len(docs)
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return &bench
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.idx != nil {
		_ = bench.idx.Close()
	}
	if bench.dir != "" {
		_ = os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

// BenchmarkIndexing reports the throughput of building the corpus index from
// empty, in batches of 5,000 documents as search.Rebuild writes them.
func BenchmarkIndexing(b *testing.B) {
	c := benchIndex(b)
	for b.Loop() {
	}
	if c.indexing == 0 {
		b.Skip("index reused from SEARCH_BENCH_DIR: nothing was timed")
	}
	b.ReportMetric(float64(c.docs)/c.indexing.Seconds(), "docs/s")
	b.ReportMetric(c.indexing.Seconds(), "build-s")
	b.ReportMetric(c.indexingCPU.Seconds(), "build-cpu-s")
	b.ReportMetric(float64(c.docs), "docs")
}

// BenchmarkOpen reports how long opening the corpus index takes: a server
// start, which reads every document's facet and range values into memory.
// Like BenchmarkIndexing it times one open, whatever -benchtime says.
func BenchmarkOpen(b *testing.B) {
	c := benchIndex(b)
	if err := c.idx.Close(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	idx, err := embedded.Open(c.path)
	took := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	c.idx = idx
	for b.Loop() {
	}
	b.ReportMetric(took.Seconds(), "open-s")
}

// BenchmarkSearch reports latency percentiles per query shape on the corpus.
func BenchmarkSearch(b *testing.B) {
	c := benchIndex(b)
	admin := &switchyard.Viewer{UserID: "u-admin", Admin: true}
	cases := []struct {
		name string
		q    switchyard.SearchQuery
	}{
		{"fuzzy2words+facets/admin", switchyard.SearchQuery{Text: "alise ordr", Facets: switchyard.SearchFacets, Viewer: admin}},
		{"fuzzy2words+facets/member", switchyard.SearchQuery{Text: "alise ordr", Facets: switchyard.SearchFacets, Viewer: c.member}},
		{"fuzzy2words+facets/broad", switchyard.SearchQuery{Text: "sprockt valv", Facets: switchyard.SearchFacets, Viewer: admin}},
		{"ordernumber", switchyard.SearchQuery{Text: "ordr 1432", Facets: switchyard.SearchFacets, Viewer: admin}},
		{"exactemail", switchyard.SearchQuery{Text: benchEmail, Viewer: admin}},
		{"oneword+facets/matchesmost", switchyard.SearchQuery{Text: "ordr", Facets: switchyard.SearchFacets, Viewer: admin}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			var lat []time.Duration
			var cpu time.Duration
			total := 0
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for b.Loop() {
				start, startCPU := time.Now(), threadCPU()
				res, err := c.idx.Search(ctx, tc.q)
				lat = append(lat, time.Since(start))
				cpu += threadCPU() - startCPU
				if err != nil {
					b.Fatal(err)
				}
				total = res.TotalCount
			}
			reportPercentiles(b, lat)
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(lat)), "cpu-ms/op")
			b.ReportMetric(float64(total), "hits")
		})
	}
	b.Run("suggest", func(b *testing.B) {
		ctx := context.Background()
		var lat []time.Duration
		for b.Loop() {
			start := time.Now()
			if _, err := c.idx.Suggest(ctx, switchyard.SuggestQuery{Prefix: "alice ma", Viewer: admin}); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		reportPercentiles(b, lat)
	})
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
