package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// published is one successful Publish: which relay's broker took which event.
type published struct {
	Relay string
	Seq   int64
	ID    int64
	Type  string
}

// publishLog records the publishes of every recording broker of a test, in
// the order they happened, and wakes waiters on each one.
type publishLog struct {
	mu      sync.Mutex
	entries []published
	changed chan struct{}
}

func newPublishLog() *publishLog { return &publishLog{changed: make(chan struct{})} }

func (l *publishLog) add(p published) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, p)
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *publishLog) snapshot() ([]published, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries), l.changed
}

// waitFor waits until cond holds for the log, failing t after timeout.
func (l *publishLog) waitFor(t testing.TB, timeout time.Duration, what string, cond func([]published) bool) []published {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		entries, changed := l.snapshot()
		if cond(entries) {
			return entries
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s; published so far: %+v", timeout, what, entries)
		}
	}
}

// waitSeq waits until an event with seq has been published.
func (l *publishLog) waitSeq(t testing.TB, timeout time.Duration, seq int64) []published {
	t.Helper()
	return l.waitFor(t, timeout, fmt.Sprintf("seq %d", seq), func(es []published) bool {
		return slices.ContainsFunc(es, func(p published) bool { return p.Seq == seq })
	})
}

// recBroker is a switchyard.Broker test double for the relay's side: it
// records what it is given. While failing is set, Publish fails, and each
// failed attempt is counted and signalled.
type recBroker struct {
	name     string
	log      *publishLog
	failing  atomic.Bool
	failures atomic.Int64
	failed   chan int64
}

func newRecBroker(name string, log *publishLog) *recBroker {
	return &recBroker{name: name, log: log, failed: make(chan int64, 1024)}
}

func (b *recBroker) Publish(_ context.Context, e *switchyard.Event) error {
	if e.Seq <= 0 {
		return fmt.Errorf("published an event without a seq: %+v", e)
	}
	if b.failing.Load() {
		b.failures.Add(1)
		select {
		case b.failed <- e.Seq:
		default:
		}
		return errors.New("broker down")
	}
	b.log.add(published{Relay: b.name, Seq: e.Seq, ID: e.ID, Type: e.Type})
	return nil
}

func (b *recBroker) Subscribe(context.Context) (<-chan *switchyard.Event, error) {
	return nil, errors.New("recBroker: the relay never subscribes")
}

func (b *recBroker) Ping(context.Context) error { return nil }

// waitFailure waits for a failed publish attempt of seq.
func (b *recBroker) waitFailure(t testing.TB, timeout time.Duration, seq int64) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case s := <-b.failed:
			if s == seq {
				return
			}
		case <-deadline:
			t.Fatalf("timed out waiting for a failed publish of seq %d", seq)
		}
	}
}

// testLogger logs to stderr under -v, and nowhere otherwise.
func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// runningRelay is a relay running in its own goroutine until stopped.
type runningRelay struct {
	*Relay
	cancel context.CancelFunc
	done   chan error
}

// startRelay runs a relay over db until the test ends or stop is called.
// Tests that do not exercise timing use fast intervals.
func startRelay(t testing.TB, db *DB, b switchyard.Broker, opts ...RelayOption) *runningRelay {
	t.Helper()
	opts = append([]RelayOption{WithRelayLockRetry(50 * time.Millisecond), WithRelayPollInterval(200 * time.Millisecond), WithRelayMaxBackoff(200 * time.Millisecond)}, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningRelay{Relay: NewRelay(db, b, testLogger(), opts...), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- r.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends the relay and waits for Run to return; stopping twice is fine.
func (r *runningRelay) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
			if err != nil {
				t.Errorf("Run returned %v, want nil once its context ended", err)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("relay did not stop within 10s")
	}
}

// insertTestEvent commits one event outside any service and returns its id.
func insertTestEvent(t testing.TB, q querier, typ string) int64 {
	t.Helper()
	var id int64
	err := q.QueryRow(context.Background(), `INSERT INTO events (type, subject_type, subject_id) VALUES ($1, 'order', gen_random_uuid()) RETURNING id`, typ).Scan(&id)
	if err != nil {
		t.Fatalf("insert event: %v", err)
	}
	return id
}

// insertInOneTx commits n events in one transaction.
func insertInOneTx(t testing.TB, db *DB, n int, typ string) {
	t.Helper()
	err := db.inTx(context.Background(), func(tx pgx.Tx) error {
		for range n {
			insertTestEvent(t, tx, typ)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

type relayState struct{ Last, Published, Pruned int64 }

func readRelayState(t testing.TB, db *DB) relayState {
	t.Helper()
	var s relayState
	if err := db.Pool().QueryRow(context.Background(), `SELECT last_seq, published_seq, pruned_through FROM relay_state`).Scan(&s.Last, &s.Published, &s.Pruned); err != nil {
		t.Fatalf("relay state: %v", err)
	}
	return s
}

// eventually polls cond, a database condition nothing signals, until it holds
// or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// checkSequence fails t unless the successful publishes cover seqs 1..n, each
// seq always naming the same event and no event having two seqs, and the
// database agrees: the sequenced events are exactly 1..n.
func checkSequence(t testing.TB, db *DB, entries []published, n int64) {
	t.Helper()
	idOf := map[int64]int64{}
	seqOf := map[int64]int64{}
	for _, p := range entries {
		if id, ok := idOf[p.Seq]; ok && id != p.ID {
			t.Fatalf("seq %d published as event %d and as event %d", p.Seq, id, p.ID)
		}
		if s, ok := seqOf[p.ID]; ok && s != p.Seq {
			t.Fatalf("event %d published as seq %d and as seq %d", p.ID, s, p.Seq)
		}
		idOf[p.Seq], seqOf[p.ID] = p.ID, p.Seq
	}
	for s := int64(1); s <= n; s++ {
		if _, ok := idOf[s]; !ok {
			t.Fatalf("seq %d never published; published: %+v", s, entries)
		}
	}
	if int64(len(idOf)) != n {
		t.Fatalf("published %d distinct seqs, want %d", len(idOf), n)
	}
	var count, lo, hi int64
	if err := db.Pool().QueryRow(context.Background(), `SELECT count(seq), coalesce(min(seq), 0), coalesce(max(seq), 0) FROM events`).Scan(&count, &lo, &hi); err != nil {
		t.Fatal(err)
	}
	if count != n || (n > 0 && (lo != 1 || hi != n)) {
		t.Fatalf("database holds %d sequenced events, %d..%d; want 1..%d", count, lo, hi, n)
	}
}

// seqsInOrder returns the seqs of entries in publish order.
func seqsInOrder(entries []published) []int64 {
	out := make([]int64, len(entries))
	for i, p := range entries {
		out[i] = p.Seq
	}
	return out
}

func TestRelayPublishesInSequence(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	log := newPublishLog()
	// A small batch makes the relay take several transactions.
	startRelay(t, db, newRecBroker("a", log), WithRelayBatchSize(3))
	var ids []int64
	for i := range 10 {
		ids = append(ids, insertTestEvent(t, db.Pool(), fmt.Sprintf("test.%d", i)))
	}
	entries := log.waitSeq(t, 10*time.Second, 10)
	checkSequence(t, db, entries, 10)
	for i, p := range entries {
		if p.Seq != int64(i+1) || p.ID != ids[i] {
			t.Fatalf("publish %d = %+v, want seq %d of event %d", i, p, i+1, ids[i])
		}
	}
	eventually(t, 5*time.Second, "published_seq = 10", func() bool { return readRelayState(t, db) == relayState{Last: 10, Published: 10} })
}

// TestRelaySequencesInCommitOrder: an event whose transaction commits later
// gets a later seq even with a lower id, and nothing is published before its
// transaction commits or ever when it rolls back.
func TestRelaySequencesInCommitOrder(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	log := newPublishLog()
	r := startRelay(t, db, newRecBroker("a", log))
	ctx := context.Background()

	txA, err := db.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback(ctx) //nolint:errcheck
	idA := insertTestEvent(t, txA, "a")

	txR, err := db.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	insertTestEvent(t, txR, "rolled back")

	idB := insertTestEvent(t, db.Pool(), "b")
	if idB <= idA {
		t.Fatalf("ids %d, %d: B must have the higher id", idA, idB)
	}
	entries := log.waitSeq(t, 10*time.Second, 1)
	if len(entries) != 1 || entries[0].ID != idB {
		t.Fatalf("published %+v, want only B (event %d) as seq 1", entries, idB)
	}

	// The relay has seen B; A is still open and must stay unsequenced and
	// unpublished however often it looks. Another committed event proves it
	// went round again.
	idC := insertTestEvent(t, db.Pool(), "c")
	entries = log.waitSeq(t, 10*time.Second, 2)
	if entries[1].ID != idC || len(entries) != 2 {
		t.Fatalf("published %+v, want C as seq 2", entries)
	}
	if err := txR.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	entries = log.waitSeq(t, 10*time.Second, 3)
	if entries[2].ID != idA {
		t.Fatalf("published %+v, want A as seq 3, after B and C", entries)
	}
	idD := insertTestEvent(t, db.Pool(), "d")
	entries = log.waitSeq(t, 10*time.Second, 4)
	if got := seqsInOrder(entries); !slices.Equal(got, []int64{1, 2, 3, 4}) || entries[3].ID != idD {
		t.Fatalf("published %+v: the rolled-back event must leave no gap", entries)
	}
	checkSequence(t, db, entries, 4)
	if !r.IsLeader() {
		t.Errorf("the only relay is not the leader")
	}
}

// TestRelayWakesOnNotify: with polling effectively off, events still go out
// at once, woken by the trigger's notification at commit.
func TestRelayWakesOnNotify(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	log := newPublishLog()
	r := startRelay(t, db, newRecBroker("a", log), WithRelayPollInterval(time.Hour))
	eventually(t, 5*time.Second, "leadership", r.IsLeader)
	for i := int64(1); i <= 3; i++ {
		insertTestEvent(t, db.Pool(), "notified")
		log.waitSeq(t, 5*time.Second, i)
	}
}

// TestRelayBrokerFailsThenRecovers: a broker that fails is retried in order
// and nothing is lost or skipped.
func TestRelayBrokerFailsThenRecovers(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	log := newPublishLog()
	b := newRecBroker("a", log)
	b.failing.Store(true)
	r := startRelay(t, db, b, WithRelayMaxBackoff(100*time.Millisecond))
	// One transaction, so one batch: all five are sequenced before the
	// relay gets stuck on the first.
	insertInOneTx(t, db, 5, "while down")
	// Several attempts at seq 1 fail, and nothing after it is tried.
	for range 3 {
		b.waitFailure(t, 10*time.Second, 1)
	}
	if st := readRelayState(t, db); st.Last != 5 || st.Published != 0 {
		t.Fatalf("relay state %+v while the broker is down, want last 5, published 0", st)
	}
	// Sequencing goes on during the outage, so hubs reading the log keep
	// delivering: a later transaction gets seq 6 with the broker still down.
	insertTestEvent(t, db.Pool(), "during the outage")
	eventually(t, 10*time.Second, "last_seq = 6 while the broker is down", func() bool { return readRelayState(t, db).Last == 6 })
	if st := readRelayState(t, db); st.Published != 0 {
		t.Fatalf("relay state %+v: published past a refused event", st)
	}
	b.failing.Store(false)
	insertTestEvent(t, db.Pool(), "after recovery")
	entries := log.waitSeq(t, 10*time.Second, 7)
	if got := seqsInOrder(entries); !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("published seqs %v, want 1..7 once each, in order", got)
	}
	checkSequence(t, db, entries, 7)
	eventually(t, 5*time.Second, "published_seq = 7", func() bool { return readRelayState(t, db).Published == 7 })
	if !r.IsLeader() {
		t.Errorf("the relay gave up leadership over a broker outage")
	}
}

// TestRelayFailover: two instances' relays over one database, one leads. The
// leader dies after sequencing events it could not publish; the standby takes
// over within 5 seconds with the production lock interval, re-publishes what
// the dead leader left, and publishes what was written in between. No seq is
// assigned twice.
func TestRelayFailover(t *testing.T) {
	t.Parallel()
	app := newTestDB(t) // the application writing events
	url := app.Pool().Config().ConnString()
	open := func() *DB {
		db, err := Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		return db
	}
	db1, db2 := open(), open()
	log := newPublishLog()
	b1, b2 := newRecBroker("one", log), newRecBroker("two", log)
	fast := []RelayOption{WithRelayLockRetry(time.Second), WithRelayPollInterval(time.Second)}
	r1 := startRelay(t, db1, b1, fast...)
	r2 := startRelay(t, db2, b2, fast...)

	eventually(t, 5*time.Second, "a leader", func() bool { return r1.IsLeader() || r2.IsLeader() })
	leader, standby, leaderBroker, leaderDB := r1, r2, b1, db1
	if r2.IsLeader() {
		leader, standby, leaderBroker, leaderDB = r2, r1, b2, db2
	}
	if standby.IsLeader() {
		t.Fatal("both relays lead")
	}
	for range 3 {
		insertTestEvent(t, app.Pool(), "before")
	}
	log.waitSeq(t, 10*time.Second, 3)

	// The leader sequences 4 and 5 but its broker takes neither: it dies
	// between assigning and publishing.
	leaderBroker.failing.Store(true)
	insertInOneTx(t, app, 2, "orphan")
	leaderBroker.waitFailure(t, 10*time.Second, 4)
	if st := readRelayState(t, app); st.Last != 5 || st.Published != 3 {
		t.Fatalf("relay state %+v, want last 5, published 3", st)
	}
	killed := time.Now()
	leader.stop(t)
	leaderDB.Close()

	insertTestEvent(t, app.Pool(), "in the gap")
	entries := log.waitSeq(t, 5*time.Second, 6)
	if took := time.Since(killed); took > 5*time.Second {
		t.Fatalf("fail-over took %v", took)
	}
	if !standby.IsLeader() {
		t.Fatal("the standby published without leading")
	}
	var byStandby []int64
	for _, p := range entries {
		if p.Relay == b2.name && standby == r2 || p.Relay == b1.name && standby == r1 {
			byStandby = append(byStandby, p.Seq)
		}
	}
	if !slices.Equal(byStandby, []int64{4, 5, 6}) {
		t.Fatalf("the new leader published %v, want the orphans 4, 5 re-published, then 6", byStandby)
	}
	checkSequence(t, app, entries, 6)
}

// TestRelaySessionKilled: PostgreSQL ends the leader's session (its process
// hung, or the network cut) while the relay itself lives on. Leadership
// moves or comes back, and nothing is lost or sequenced twice.
func TestRelaySessionKilled(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	log := newPublishLog()
	r1 := startRelay(t, db, newRecBroker("one", log))
	r2 := startRelay(t, db, newRecBroker("two", log))
	ctx := context.Background()
	var n int64
	for round := range 3 {
		eventually(t, 5*time.Second, "a leader", func() bool { return r1.IsLeader() || r2.IsLeader() })
		insertTestEvent(t, db.Pool(), "before kill")
		n++
		log.waitSeq(t, 10*time.Second, n)
		var killed int
		err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(l.pid) FROM pg_locks l
			WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND (l.classid::bigint << 32 | l.objid::bigint) = $1) k`, int64(relayLockKey)).Scan(&killed)
		if err != nil || killed != 1 {
			t.Fatalf("round %d: terminated %d leader sessions, %v", round, killed, err)
		}
		insertTestEvent(t, db.Pool(), "after kill")
		n++
		entries := log.waitSeq(t, 10*time.Second, n)
		checkSequence(t, db, entries, n)
	}
}

func TestPruneEvents(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := context.Background()
	log := newPublishLog()
	insertAged := func(age string) {
		t.Helper()
		if _, err := db.Pool().Exec(ctx, `INSERT INTO events (type, subject_type, subject_id, occurred_at)
			VALUES ('aged', 'order', gen_random_uuid(), now() - $1::interval)`, age); err != nil {
			t.Fatal(err)
		}
	}
	// seqs 1-3 old, 4 young, 5 old (a long transaction that committed
	// late), 6 young.
	for _, age := range []string{"10 days", "9 days", "8 days", "1 hour", "30 days", "1 minute"} {
		insertAged(age)
	}
	r := startRelay(t, db, newRecBroker("a", log), WithEventRetention(0))
	log.waitSeq(t, 10*time.Second, 6)
	eventually(t, 5*time.Second, "published_seq = 6", func() bool { return readRelayState(t, db).Published == 6 })
	// Sequenced but not published: a leader died before publishing it.
	r.stop(t)
	insertAged("20 days")
	if _, err := db.Pool().Exec(ctx, `UPDATE events SET seq = 7 WHERE seq IS NULL; UPDATE relay_state SET last_seq = 7`); err != nil {
		t.Fatal(err)
	}
	insertAged("20 days") // not even sequenced

	n, err := PruneEvents(ctx, db, 7*24*time.Hour)
	if err != nil || n != 3 {
		t.Fatalf("prune deleted %d, %v; want 3", n, err)
	}
	if st := readRelayState(t, db); st.Pruned != 3 {
		t.Fatalf("pruned_through = %d, want 3", st.Pruned)
	}
	rows, err := db.Pool().Query(ctx, `SELECT coalesce(seq, 0) FROM events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || !slices.Equal(left, []int64{4, 5, 6, 7, 0}) {
		t.Fatalf("events left %v, %v; want seqs 4, 5, 6, 7 and the unsequenced one", left, err)
	}
	if n, err := PruneEvents(ctx, db, 7*24*time.Hour); err != nil || n != 0 {
		t.Fatalf("second prune deleted %d, %v; want 0", n, err)
	}
	// Without retention every published event goes, never 7 or later.
	if n, err := PruneEvents(ctx, db, 0); err != nil || n != 3 {
		t.Fatalf("prune to published deleted %d, %v; want 3", n, err)
	}
	if st := readRelayState(t, db); st.Pruned != 6 {
		t.Fatalf("pruned_through = %d, want 6", st.Pruned)
	}
	if _, err := PruneEvents(ctx, db, -time.Second); switchyard.ErrorCode(err) != switchyard.EINVALID {
		t.Fatalf("negative retention: %v", err)
	}
}

// TestRelayPrunes: the leader prunes on its own.
func TestRelayPrunes(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	if _, err := db.Pool().Exec(context.Background(), `INSERT INTO events (type, subject_type, subject_id, occurred_at)
		SELECT 'aged', 'order', gen_random_uuid(), now() - interval '8 days' FROM generate_series(1, 4)`); err != nil {
		t.Fatal(err)
	}
	log := newPublishLog()
	startRelay(t, db, newRecBroker("a", log), WithEventRetention(7*24*time.Hour), WithRelayPruneInterval(50*time.Millisecond))
	log.waitSeq(t, 10*time.Second, 4)
	eventually(t, 10*time.Second, "pruned_through = 4", func() bool { return readRelayState(t, db).Pruned == 4 })
}

// TestRelayTakesOverFromFrozenLeader: a leader whose process is frozen keeps
// its connection, and so its lock, for as long as it stays frozen; its kernel
// answers TCP keepalives. A session that holds the lock and sits idle is that
// leader as PostgreSQL sees it. A standby ends it once the lease has passed,
// leads, and publishes what was written meanwhile. A busy leader is never
// evicted: the relays in the other tests lead for far longer than this lease.
func TestRelayTakesOverFromFrozenLeader(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := context.Background()
	frozen, err := pgx.Connect(ctx, db.Pool().Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer frozen.Close(ctx) //nolint:errcheck
	if _, err := frozen.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(relayLockKey)); err != nil {
		t.Fatal(err)
	}
	insertTestEvent(t, db.Pool(), "while the leader is frozen")

	log := newPublishLog()
	r := startRelay(t, db, newRecBroker("standby", log), WithRelayLease(time.Second))
	entries := log.waitSeq(t, 10*time.Second, 1)
	checkSequence(t, db, entries, 1)
	if !r.IsLeader() {
		t.Fatal("the standby published without leading")
	}
	if err := frozen.Ping(ctx); err == nil {
		t.Fatal("the frozen leader's session is still alive; it should have been ended")
	}
}
