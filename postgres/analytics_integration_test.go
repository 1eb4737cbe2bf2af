package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// Analytics.IntegrationHealth against a ground truth in plain SQL: a LEFT
// JOIN of the integrations to their deliveries in the range, grouped per
// integration, with the percentiles taken in Go by nearest rank from every
// latency and the order from the criticality's rank, the name and the id.

// mustInsertIntegrations writes n integrations spread over projects straight
// into the table, with random names (some equal, so the id decides),
// criticalities, statuses and failure runs, and returns their ids.
func mustInsertIntegrations(t *testing.T, db *DB, rng *rand.Rand, n int, projects []string, owner string) []string {
	t.Helper()
	criticalities := []string{"LOW", "MEDIUM", "HIGH", "CRITICAL"}
	statuses := []string{"ACTIVE", "PAUSED", "FAILING"}
	var ids []string
	for i := 0; i < n; i++ {
		var id string
		err := db.Pool().QueryRow(context.Background(), `INSERT INTO integrations
				(project_id, name, provider, direction, status, criticality, owner_id, secret_hint, consecutive_failures)
			VALUES ($1, $2, 'GENERIC', 'BIDIRECTIONAL', $3, $4, $5, 'abcd', $6) RETURNING id::text`,
			projects[i%len(projects)], fmt.Sprintf("Integration %c", 'A'+rng.IntN(5)), statuses[rng.IntN(len(statuses))],
			criticalities[rng.IntN(len(criticalities))], owner, rng.IntN(12)).Scan(&id)
		if err != nil {
			t.Fatalf("insert integration: %v", err)
		}
		ids = append(ids, id)
	}
	return ids
}

// mustInsertDeliveries writes n attempts to random integrations of ids, both
// ways, in every status, at times drawn by at, most with a latency.
func mustInsertDeliveries(t *testing.T, db *DB, rng *rand.Rand, n int, ids []string, at func() time.Time) {
	t.Helper()
	statuses := []string{"PENDING", "SUCCEEDED", "FAILED", "REJECTED", "IGNORED"}
	var (
		integrations, directions, sts []string
		latencies                     []*int32
		times                         []time.Time
	)
	for i := 0; i < n; i++ {
		// Leave one integration without deliveries: it is listed all the
		// same.
		integrations = append(integrations, ids[1+rng.IntN(len(ids)-1)])
		directions = append(directions, []string{"INBOUND", "OUTBOUND"}[rng.IntN(2)])
		sts = append(sts, statuses[rng.IntN(len(statuses))])
		var latency *int32
		if rng.IntN(5) > 0 {
			// Spread over the histogram: some on a bound, a few past a
			// minute.
			v := int32(rng.IntN(2000))
			switch rng.IntN(10) {
			case 0:
				v = latencyBounds[rng.IntN(len(latencyBounds)-1)]
			case 1:
				v = int32(rng.IntN(120_000))
			}
			latency = &v
		}
		latencies = append(latencies, latency)
		times = append(times, at())
	}
	if _, err := db.Pool().Exec(context.Background(), `INSERT INTO webhook_deliveries
			(integration_id, direction, event_type, status, latency_ms, created_at, finished_at)
		SELECT i, d, 'order.created', s, l, at, CASE WHEN s <> 'PENDING' THEN at END
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::timestamptz[]) AS x(i, d, s, l, at)`,
		integrations, directions, sts, latencies, times); err != nil {
		t.Fatalf("insert deliveries: %v", err)
	}
}

// integrationHealthTruth computes the health of the integrations of projects
// (and, when only is set, of that one integration only) in r.
func integrationHealthTruth(t *testing.T, db *DB, projects []string, only *string, r switchyard.AnalyticsRange) []switchyard.IntegrationDeliveryHealth {
	t.Helper()
	type row struct {
		ID          string
		Status      string
		Failures    int
		Criticality string
		Name        string
		Succeeded   int
		Failed      int
		Pending     int
		Latencies   []int32
		Last        *time.Time
	}
	rows, err := queryAll(context.Background(), db.Pool(), `SELECT i.id::text, i.status, i.consecutive_failures, i.criticality, i.name,
			(count(d.id) FILTER (WHERE d.status IN ('SUCCEEDED', 'IGNORED')))::int,
			(count(d.id) FILTER (WHERE d.status IN ('FAILED', 'REJECTED')))::int,
			(count(d.id) FILTER (WHERE d.status = 'PENDING'))::int,
			coalesce(array_agg(d.latency_ms) FILTER (WHERE d.status <> 'PENDING' AND d.latency_ms IS NOT NULL), '{}'),
			max(d.created_at) FILTER (WHERE d.status <> 'PENDING')
		FROM integrations i
		LEFT JOIN webhook_deliveries d ON d.integration_id = i.id AND d.created_at >= $2 AND d.created_at < $3
		WHERE i.project_id = ANY($1::uuid[]) AND ($4::uuid IS NULL OR i.id = $4::uuid)
		GROUP BY i.id`, []any{projects, r.From, r.To, only}, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatalf("truth: %v", err)
	}
	rank := map[string]int{"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3}
	slices.SortFunc(rows, func(a, b row) int {
		if a.Criticality != b.Criticality {
			return rank[a.Criticality] - rank[b.Criticality]
		}
		if a.Name != b.Name {
			return strings.Compare(a.Name, b.Name)
		}
		return strings.Compare(a.ID, b.ID)
	})
	// Nearest rank: the smallest value with at least pct% of them at or
	// below it, told as the upper bound of its histogram bucket.
	percentile := func(sorted []int32, pct int) *int {
		if len(sorted) == 0 {
			return nil
		}
		v := sorted[max(1, (pct*len(sorted)+99)/100)-1]
		b := int(latencyBounds[sort.Search(len(latencyBounds), func(i int) bool { return latencyBounds[i] >= v })])
		return &b
	}
	out := []switchyard.IntegrationDeliveryHealth{}
	for _, x := range rows {
		slices.Sort(x.Latencies)
		h := switchyard.IntegrationDeliveryHealth{IntegrationID: x.ID, Status: switchyard.IntegrationStatus(x.Status), ConsecutiveFailures: x.Failures,
			Attempted: x.Succeeded + x.Failed, Succeeded: x.Succeeded, Failed: x.Failed, Pending: x.Pending,
			LatencyP50Ms: percentile(x.Latencies, 50), LatencyP95Ms: percentile(x.Latencies, 95), LastDeliveryAt: x.Last}
		if h.Attempted > 0 {
			rate := float64(x.Succeeded) / float64(h.Attempted)
			h.SuccessRate = &rate
		}
		out = append(out, h)
	}
	return out
}

func compareIntegrationHealth(t *testing.T, label string, got, want []switchyard.IntegrationDeliveryHealth) {
	t.Helper()
	show := func(list []switchyard.IntegrationDeliveryHealth) string {
		var b strings.Builder
		for _, h := range list {
			fmt.Fprintf(&b, "\n  %s %s f=%d a=%d s=%d x=%d p=%d rate=%v p50=%v p95=%v last=%v", h.IntegrationID, h.Status, h.ConsecutiveFailures,
				h.Attempted, h.Succeeded, h.Failed, h.Pending, deref(h.SuccessRate), deref(h.LatencyP50Ms), deref(h.LatencyP95Ms), deref(h.LastDeliveryAt))
		}
		return b.String()
	}
	if got == nil {
		t.Fatalf("%s: integration health is nil, want a list", label)
	}
	if show(got) != show(want) {
		t.Fatalf("%s: integration health%s\nwant%s", label, show(got), show(want))
	}
}

// deref shows a pointer's value, or <nil>.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestAnalyticsIntegrationHealth(t *testing.T) {
	t.Parallel()
	w := newAnalyticsWorld(t)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 13))
	integrations, err := NewIntegrationService(w.DB, IntegrationOptions{SecretKey: testSecretKey})
	if err != nil {
		t.Fatal(err)
	}
	start := mustParse(t, "2026-05-01T00:00:00Z")
	ids := mustInsertIntegrations(t, w.DB, rng, 14, w.allProjects, w.Admin.ID)
	mustInsertDeliveries(t, w.DB, rng, 3000, ids, func() time.Time {
		switch rng.IntN(8) {
		case 0:
			// On a range edge below.
			return start.AddDate(0, 0, 7*rng.IntN(5))
		case 1:
			// On a whole hour, or within minutes of one: the rollups'
			// edges.
			return start.Add(time.Duration(rng.IntN(40*24))*time.Hour + time.Duration(rng.IntN(3)-1)*time.Duration(rng.Int64N(int64(2*time.Minute))))
		}
		return start.Add(time.Duration(rng.Int64N(int64(40 * 24 * time.Hour))))
	})
	// Attempts finish, move and go; one integration goes with its
	// deliveries. The rollups follow.
	ctx := context.Background()
	for _, sql := range []string{
		`UPDATE webhook_deliveries SET status = 'SUCCEEDED', latency_ms = 42, finished_at = created_at WHERE status = 'PENDING' AND random() < 0.3`,
		`UPDATE webhook_deliveries SET created_at = created_at + interval '50 minutes' WHERE random() < 0.05`,
		`UPDATE webhook_deliveries SET error = 'noted' WHERE random() < 0.1`,
		`DELETE FROM webhook_deliveries WHERE random() < 0.02`,
	} {
		if _, err := w.DB.Pool().Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	gone := mustInsertIntegrations(t, w.DB, rng, 1, []string{w.Project.ID}, w.Admin.ID)[0]
	mustInsertDeliveries(t, w.DB, rng, 50, []string{ids[0], gone}, func() time.Time { return start.Add(time.Hour) })
	if _, err := w.DB.Pool().Exec(ctx, `DELETE FROM integrations WHERE id = $1`, gone); err != nil {
		t.Fatalf("delete an integration with deliveries: %v", err)
	}
	checkDeliveryRollups(t, w.DB)
	// The integration in Project whose partners are tested below.
	var own string
	if err := w.DB.Pool().QueryRow(context.Background(), `SELECT id::text FROM integrations WHERE project_id = $1 ORDER BY id LIMIT 1`, w.Project.ID).Scan(&own); err != nil {
		t.Fatal(err)
	}

	bg := context.Background()
	partner := func(scopes ...switchyard.APIKeyScope) context.Context {
		return partnerCtx(bg, w.Project.ID, own, scopes...)
	}
	callers := []struct {
		name     string
		ctx      context.Context
		project  *string
		projects []string // whose integrations the caller sees; nil: an error
		only     *string  // and of those only this one
		code     string
	}{
		{name: "admin, all", ctx: adminCtx(bg), projects: w.allProjects},
		{name: "admin, deleted project", ctx: userCtx(bg, w.Admin), project: &w.Deleted.ID, projects: []string{w.Deleted.ID}},
		{name: "owner, all", ctx: userCtx(bg, w.Owner), projects: w.ownerSees},
		{name: "owner, project", ctx: userCtx(bg, w.Owner), project: &w.Project2.ID, projects: []string{w.Project2.ID}},
		{name: "member, all", ctx: userCtx(bg, w.Member), projects: []string{w.Project.ID}},
		{name: "other tenant, all", ctx: userCtx(bg, w.Other), projects: []string{w.OtherProject.ID}},
		{name: "other tenant, first tenant's project", ctx: userCtx(bg, w.Other), project: &w.Project.ID, code: switchyard.ENOTFOUND},
		{name: "customer, all", ctx: userCtx(bg, w.Customer), projects: []string{}},
		{name: "partner ANALYTICS_READ", ctx: partner(switchyard.ScopeAnalyticsRead), projects: []string{}},
		{name: "partner ANALYTICS_READ, project", ctx: partner(switchyard.ScopeAnalyticsRead), project: &w.Project.ID, projects: []string{}},
		{name: "partner ANALYTICS_READ INTEGRATIONS_READ", ctx: partner(switchyard.ScopeAnalyticsRead, switchyard.ScopeIntegrationsRead), projects: []string{w.Project.ID}, only: &own},
		{name: "partner every scope, project", ctx: partner(switchyard.APIKeyScopes...), project: &w.Project.ID, projects: []string{w.Project.ID}, only: &own},
		{name: "partner INTEGRATIONS_READ, no numbers", ctx: partner(switchyard.ScopeIntegrationsRead), project: &w.Project.ID, code: switchyard.ENOTFOUND},
		{name: "partner PROJECTS_READ, no numbers", ctx: partner(switchyard.ScopeProjectsRead, switchyard.ScopeOrdersRead), project: &w.Project.ID, code: switchyard.ENOTFOUND},
		{name: "partner every scope, other project", ctx: partner(switchyard.APIKeyScopes...), project: &w.OtherProject.ID, code: switchyard.ENOTFOUND},
	}
	ranges := []switchyard.AnalyticsRange{
		{From: start, To: start.AddDate(0, 0, 40)},
		{From: start.AddDate(0, 0, 7), To: start.AddDate(0, 0, 14)},
		{From: start.Add(7*24*time.Hour + 1), To: start.AddDate(0, 0, 28)},
		{From: start.AddDate(0, 0, 10), To: start.AddDate(0, 0, 10)},
		{From: start.AddDate(-1, 0, 0), To: start},
		// Partial hours, whole hours and whole days at both ends.
		{From: start.Add(3*24*time.Hour + 10*time.Hour + 17*time.Minute + 3*time.Second), To: start.Add(20*24*time.Hour + 13*time.Hour + 45*time.Minute)},
		// Within a day; within an hour.
		{From: start.Add(5*24*time.Hour + 2*time.Hour + 30*time.Minute), To: start.Add(5*24*time.Hour + 7*time.Hour + 15*time.Minute)},
		{From: start.Add(5*24*time.Hour + 2*time.Hour + 10*time.Minute), To: start.Add(5*24*time.Hour + 2*time.Hour + 50*time.Minute)},
		// Whole hours only, across a midnight.
		{From: start.Add(5*24*time.Hour - 3*time.Hour), To: start.Add(5*24*time.Hour + 4*time.Hour)},
	}
	for _, c := range callers {
		for _, r := range ranges {
			label := fmt.Sprintf("%s %v–%v", c.name, r.From.Format(time.RFC3339Nano), r.To.Format(time.RFC3339Nano))
			got, err := w.Analytics.Analytics(c.ctx, switchyard.AnalyticsQuery{ProjectID: c.project, Range: r, TimeZone: "Europe/Berlin", SkipTopCustomers: true})
			if c.code != "" {
				wantCode(t, err, c.code)
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			want := integrationHealthTruth(t, w.DB, c.projects, c.only, r)
			compareIntegrationHealth(t, label, got.IntegrationHealth, want)
			if c.name == "admin, all" && r == ranges[0] {
				// The fixture covers every case: an integration without
				// deliveries, the others with attempts, pending ones and
				// latencies.
				for _, h := range want {
					if (h.IntegrationID == ids[0]) != (h.Attempted == 0 && h.Pending == 0 && h.LatencyP50Ms == nil && h.LastDeliveryAt == nil) {
						t.Fatalf("%s: the fixture does not cover every case: %+v", label, h)
					}
				}
				if len(want) != len(ids) {
					t.Fatalf("%s: %d integrations, want %d", label, len(want), len(ids))
				}
			}
			// Every integration listed is one the caller reads through the
			// integration service.
			listed := make([]string, len(got.IntegrationHealth))
			for i, h := range got.IntegrationHealth {
				listed[i] = h.IntegrationID
			}
			readable, err := integrations.FindIntegrationsByIDs(c.ctx, listed)
			if err != nil || len(readable) != len(listed) {
				t.Fatalf("%s: %d of %d listed integrations readable (%v)", label, len(readable), len(listed), err)
			}
		}
	}

	// Asked not to, the service leaves it empty.
	got, err := w.Analytics.Analytics(adminCtx(bg), switchyard.AnalyticsQuery{Range: ranges[0], SkipIntegrationHealth: true})
	if err != nil || got.IntegrationHealth == nil || len(got.IntegrationHealth) != 0 {
		t.Fatalf("skipped: %v %v", got.IntegrationHealth, err)
	}
}

// TestAnalyticsIntegrationHealthStatements: the health of many integrations
// costs as many statements as that of one.
func TestAnalyticsIntegrationHealthStatements(t *testing.T) {
	t.Parallel()
	counter := &statementCounter{}
	db := newTestDB(t, WithQueryTracer(counter))
	analytics := NewAnalyticsService(db)
	owner := mustCreateUser(t, NewUserService(db), "Olive Owner", switchyard.RoleMember)
	project := mustCreateProject(t, NewProjectService(db), "Apollo", owner)
	rng := rand.New(rand.NewPCG(5, 8))
	start := mustParse(t, "2026-05-01T00:00:00Z")
	q := switchyard.AnalyticsQuery{Range: switchyard.AnalyticsRange{From: start, To: start.AddDate(0, 0, 10)}}
	counts := map[int]int64{}
	var ids []string
	for _, n := range []int{2, 20} {
		ids = append(ids, mustInsertIntegrations(t, db, rng, n-len(ids), []string{project.ID}, owner.ID)...)
		mustInsertDeliveries(t, db, rng, 200, ids, func() time.Time { return start.Add(time.Duration(rng.Int64N(int64(10 * 24 * time.Hour)))) })
		before := counter.Count()
		got, err := analytics.Analytics(userCtx(context.Background(), owner), q)
		if err != nil {
			t.Fatal(err)
		}
		counts[n] = counter.Count() - before
		if len(got.IntegrationHealth) != n {
			t.Fatalf("%d integrations listed, want %d", len(got.IntegrationHealth), n)
		}
	}
	if counts[2] != counts[20] {
		t.Fatalf("statements by integrations: %v", counts)
	}
}

// checkDeliveryRollups compares the delivery rollups of migration 0010 with
// the deliveries they count.
func checkDeliveryRollups(t *testing.T, db *DB) {
	t.Helper()
	cols := []string{"succeeded", "failed", "pending"}
	counts := []string{"count(*) FILTER (WHERE status IN ('SUCCEEDED', 'IGNORED'))", "count(*) FILTER (WHERE status IN ('FAILED', 'REJECTED'))", "count(*) FILTER (WHERE status = 'PENDING')"}
	for k, bound := range latencyBounds {
		cols = append(cols, fmt.Sprintf("latency_%02d", k))
		lower := "TRUE"
		if k > 0 {
			lower = fmt.Sprintf("latency_ms > %d", latencyBounds[k-1])
		}
		counts = append(counts, fmt.Sprintf("count(*) FILTER (WHERE status <> 'PENDING' AND latency_ms <= %d AND %s)", bound, lower))
	}
	for _, rollup := range []struct{ table, key string }{
		{"webhook_delivery_daily_stats", "(created_at AT TIME ZONE 'UTC')::date"},
		{"webhook_delivery_hourly_stats", "date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"},
	} {
		fromDeliveries := `SELECT integration_id, ` + rollup.key + `, ` + strings.Join(counts, ", ") + ` FROM webhook_deliveries GROUP BY 1, 2`
		stored := `SELECT * FROM ` + rollup.table + ` WHERE (` + strings.Join(cols, ", ") + `) <> (` + strings.TrimSuffix(strings.Repeat("0, ", len(cols)), ", ") + `)`
		var diff, orphans int
		if err := db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM ((`+fromDeliveries+` EXCEPT `+stored+`) UNION ALL (`+stored+` EXCEPT `+fromDeliveries+`)) d`).Scan(&diff); err != nil {
			t.Fatal(err)
		}
		if err := db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM `+rollup.table+` s WHERE NOT EXISTS (SELECT 1 FROM integrations i WHERE i.id = s.integration_id)`).Scan(&orphans); err != nil {
			t.Fatal(err)
		}
		if diff != 0 || orphans != 0 {
			t.Fatalf("%s differs from the deliveries in %d rows (%d of deleted integrations)", rollup.table, diff, orphans)
		}
	}
}
