package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// relayLockKey elects the one active relay per database. Arbitrary but fixed
// forever: instances of different versions must contend for the same lock.
const relayLockKey = 7_320_114_003

// relayChannel is the channel the events trigger notifies (0002_realtime.sql).
const relayChannel = "switchyard_events"

// relayStatementTimeout bounds each of the relay's round trips, so a leader
// cut off from the database notices, steps down and contends again rather
// than waiting on a dead socket for the OS's timeout.
const relayStatementTimeout = 30 * time.Second

// Relay moves committed events from the event log to the broker: it gives
// each its place in the publication sequence, in commit order, then publishes
// them in that order.
//
// Every instance runs one; a session-level advisory lock on a dedicated
// connection makes one of them the leader. When the leader's process dies,
// PostgreSQL ends its session and drops the lock, and a standby, retrying
// every lock interval, takes over. The leader sequences events only through
// that same connection, so a leader whose session is gone can no longer
// assign a seq: at most it repeats a publish, which subscribers drop by seq.
type Relay struct {
	db     *DB
	broker switchyard.Broker
	logger *slog.Logger

	poll       time.Duration
	lockRetry  time.Duration
	batch      int
	retention  time.Duration
	pruneEvery time.Duration
	maxBackoff time.Duration
	publishTTL time.Duration
	lease      time.Duration

	leader atomic.Bool
	// brokerFailures counts failed publishes in the current broker outage.
	brokerFailures atomic.Int64
}

// RelayOption configures NewRelay.
type RelayOption func(*Relay)

// WithRelayPollInterval sets how often the leader looks for events when no
// notification woke it (default 1s): the fallback for a missed notification.
func WithRelayPollInterval(d time.Duration) RelayOption { return func(r *Relay) { r.poll = d } }

// WithRelayLockRetry sets how often a standby tries to become the leader
// (default 1s). Fail-over takes at most this long after PostgreSQL notices
// the leader's session is gone.
func WithRelayLockRetry(d time.Duration) RelayOption { return func(r *Relay) { r.lockRetry = d } }

// WithRelayBatchSize sets how many events one sequencing transaction takes
// (default 500).
func WithRelayBatchSize(n int) RelayOption { return func(r *Relay) { r.batch = n } }

// WithEventRetention sets how long published events are kept for replay
// (default 7 days); zero or less disables pruning.
func WithEventRetention(d time.Duration) RelayOption { return func(r *Relay) { r.retention = d } }

// WithRelayPruneInterval sets how often the leader prunes (default 1h).
func WithRelayPruneInterval(d time.Duration) RelayOption { return func(r *Relay) { r.pruneEvery = d } }

// WithRelayLease sets how long the leader's session may sit idle before a
// standby takes the leadership from it (default 4s). A healthy leader uses
// its session at least once per poll interval, so the lease must be longer
// than that.
func WithRelayLease(d time.Duration) RelayOption { return func(r *Relay) { r.lease = d } }

// WithRelayMaxBackoff caps the wait between attempts to publish to a broker
// that fails (default 5s).
func WithRelayMaxBackoff(d time.Duration) RelayOption { return func(r *Relay) { r.maxBackoff = d } }

// NewRelay returns a relay from db's event log to broker. A nil logger
// discards.
func NewRelay(db *DB, broker switchyard.Broker, logger *slog.Logger, opts ...RelayOption) *Relay {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &Relay{
		db: db, broker: broker, logger: logger.With("component", "relay"),
		poll: time.Second, lockRetry: time.Second, batch: 500,
		retention: 7 * 24 * time.Hour, pruneEvery: time.Hour,
		maxBackoff: 5 * time.Second, publishTTL: 2 * time.Second, lease: 4 * time.Second,
	}
	for _, o := range opts {
		o(r)
	}
	if r.batch < 1 {
		r.batch = 1
	}
	return r
}

// IsLeader reports whether this relay is the active one now.
func (r *Relay) IsLeader() bool { return r.leader.Load() }

// Run relays until ctx ends, then returns nil. Losing the database costs the
// leadership, never the process: Run reconnects and contends again.
func (r *Relay) Run(ctx context.Context) error {
	failures := 0
	for {
		started := time.Now()
		err := r.session(ctx)
		r.leader.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		r.logger.Warn("relay: session ended; reconnecting", "err", err)
		// Sessions that fail at once (the database is down) back off; one
		// that ran for a while was lost, and retrying promptly keeps
		// fail-over fast.
		if time.Since(started) > time.Minute {
			failures = 0
		}
		failures = min(failures+1, 10)
		wait := min(r.lockRetry<<(failures-1), max(r.maxBackoff, r.lockRetry))
		if !sleepCtx(ctx, wait) {
			return nil
		}
	}
}

// session holds one dedicated connection: it waits to become the leader on
// it, then leads until the connection or ctx ends. Closing the connection
// releases the lock.
func (r *Relay) session(ctx context.Context) error {
	cfg := r.db.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "switchyard-relay"
	// A leader whose machine vanishes sends no FIN: without keepalives
	// PostgreSQL would hold its lock for the OS default of hours. Probing an
	// idle session after 1s, every 1s, twice, frees the lock within about 3s.
	cfg.RuntimeParams["tcp_keepalives_idle"] = "1"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "1"
	cfg.RuntimeParams["tcp_keepalives_count"] = "2"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		conn.Close(closeCtx) //nolint:errcheck
	}()
	for {
		var won bool
		qctx, cancel := context.WithTimeout(ctx, relayStatementTimeout)
		err := conn.QueryRow(qctx, `SELECT pg_try_advisory_lock($1)`, relayLockKey).Scan(&won)
		cancel()
		if err != nil {
			return err
		}
		if won {
			break
		}
		if err := r.evictStaleLeader(ctx, conn); err != nil {
			return err
		}
		if !sleepCtx(ctx, r.lockRetry) {
			return nil
		}
	}
	r.leader.Store(true)
	r.logger.Info("relay: leading")
	defer r.logger.Info("relay: no longer leading")
	return r.lead(ctx, conn)
}

// evictStaleLeader ends the session of a leader that stopped using it for
// longer than the lease. A leader that crashed loses its lock when its
// connection closes, but one that is frozen (SIGSTOP, a paused container, a
// stuck runtime) keeps its connection, and its kernel still answers TCP
// keepalives: without a lease it would hold the lock, and stall every live
// update in the cluster, for as long as it stays frozen. PostgreSQL itself
// says how long the holder has been idle, so the lease needs no heartbeat
// table; terminating the session aborts its transaction and frees the lock,
// and this standby takes it on its next try.
func (r *Relay) evictStaleLeader(ctx context.Context, conn *pgx.Conn) error {
	if r.lease <= 0 {
		return nil
	}
	qctx, cancel := context.WithTimeout(ctx, relayStatementTimeout)
	defer cancel()
	rows, err := conn.Query(qctx, `SELECT a.pid, pg_terminate_backend(a.pid)
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted
		  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND (l.classid::bigint << 32 | l.objid::bigint) = $1
		  AND a.state <> 'active' AND a.state_change < clock_timestamp() - $2 * interval '1 microsecond'`,
		int64(relayLockKey), r.lease.Microseconds())
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var pid int32
		var ended bool
		if err := rows.Scan(&pid, &ended); err != nil {
			return err
		}
		r.logger.Warn("relay: the leader's session sat idle past its lease; ended it to take over", "pid", pid, "lease", r.lease, "ended", ended)
	}
	return rows.Err()
}

// lead is the leader's loop: publish what a previous leader left, then
// sequence and publish new events as they commit.
//
// Sequencing never waits for the broker. While the broker is down, events
// still get their seqs, so every hub, which also reads the log once a second,
// keeps delivering them; the relay retries the backlog (published_seq,
// last_seq] with capped backoff, in order, and a hub drops by seq whatever it
// already read from the log.
func (r *Relay) lead(ctx context.Context, conn *pgx.Conn) error {
	qctx, cancel := context.WithTimeout(ctx, relayStatementTimeout)
	_, err := conn.Exec(qctx, "LISTEN "+relayChannel)
	cancel()
	if err != nil {
		return err
	}
	if r.retention > 0 && r.pruneEvery > 0 {
		// Pruning runs beside relaying, so a long delete never delays
		// events, and ends with the leadership.
		pruneCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { r.pruneLoop(pruneCtx) })
		defer wg.Wait()
		defer stop()
	}
	// A previous leader may have sequenced events it never published.
	backlog := true
	var retryAt time.Time
	backoff := relayMinBackoff
	for {
		events, err := r.sequence(ctx, conn)
		if err != nil {
			return err
		}
		if !backlog && len(events) > 0 {
			backlog, err = r.publish(ctx, conn, events)
			if err != nil {
				return err
			}
		}
		if backlog && !time.Now().Before(retryAt) {
			backlog, err = r.publishBacklog(ctx, conn)
			if err != nil {
				return err
			}
			if backlog {
				retryAt = time.Now().Add(backoff)
				backoff = min(backoff*2, r.maxBackoff)
			} else {
				backoff = relayMinBackoff
			}
		}
		if len(events) == r.batch {
			continue // more are waiting
		}
		wait := r.poll
		if backlog {
			wait = max(min(wait, time.Until(retryAt)), time.Millisecond)
		}
		waitCtx, cancel := context.WithTimeout(ctx, wait)
		_, err = conn.WaitForNotification(waitCtx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(waitCtx.Err(), context.DeadlineExceeded) {
			return err
		}
	}
}

// relayMinBackoff is the first wait before retrying a failed broker.
const relayMinBackoff = 50 * time.Millisecond

// sequence gives up to batch committed events their seqs and returns them
// in seq order.
//
// The relay_state row lock serializes sequencing even if two relays ever
// believed they led; under READ COMMITTED each statement after the lock sees
// what the other committed, so no event gets two seqs and no seq two events.
// Events of transactions still open are invisible here and get a later seq
// once they commit, even with a lower id: seq follows commit order.
func (r *Relay) sequence(ctx context.Context, conn *pgx.Conn) ([]*switchyard.Event, error) {
	var events []*switchyard.Event
	ctx, cancel := context.WithTimeout(ctx, relayStatementTimeout)
	defer cancel()
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var last int64
		if err := tx.QueryRow(ctx, `SELECT last_seq FROM relay_state WHERE id = 1 FOR UPDATE`).Scan(&last); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `WITH batch AS (
				SELECT b.id, $1::bigint + row_number() OVER (ORDER BY b.id) AS seq
				FROM (SELECT id FROM events WHERE seq IS NULL ORDER BY id LIMIT $2) b)
			UPDATE events e SET seq = batch.seq FROM batch WHERE e.id = batch.id
			RETURNING `+eventColumns, last, r.batch)
		if err != nil {
			return err
		}
		events, err = collectEvents(rows)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			return nil
		}
		// RETURNING has no order.
		slices.SortFunc(events, func(a, b *switchyard.Event) int { return cmp.Compare(a.Seq, b.Seq) })
		next := last + int64(len(events))
		if events[0].Seq != last+1 || events[len(events)-1].Seq != next {
			return fmt.Errorf("relay: sequenced %d..%d, want %d..%d", events[0].Seq, events[len(events)-1].Seq, last+1, next)
		}
		_, err = tx.Exec(ctx, `UPDATE relay_state SET last_seq = $1 WHERE id = 1`, next)
		return err
	})
	if err != nil {
		return nil, err
	}
	return events, nil
}

// publishBacklog hands the broker the sequenced events not yet published,
// (published_seq, last_seq], in order. failing reports that the broker
// refused one, leaving it and those after it for the next attempt.
func (r *Relay) publishBacklog(ctx context.Context, conn *pgx.Conn) (failing bool, err error) {
	for {
		var published, last int64
		var events []*switchyard.Event
		qctx, cancel := context.WithTimeout(ctx, relayStatementTimeout)
		err := conn.QueryRow(qctx, `SELECT published_seq, last_seq FROM relay_state WHERE id = 1`).Scan(&published, &last)
		if err == nil && published < last {
			var rows pgx.Rows
			rows, err = conn.Query(qctx, `SELECT `+eventColumns+` FROM events e WHERE e.seq > $1 AND e.seq <= $2 ORDER BY e.seq LIMIT $3`,
				published, last, r.batch)
			if err == nil {
				events, err = collectEvents(rows)
			}
		}
		cancel()
		if err != nil {
			return false, err
		}
		if published >= last {
			return false, nil
		}
		if len(events) == 0 || events[0].Seq != published+1 {
			return false, fmt.Errorf("relay: events %d..%d are sequenced but missing from the log", published+1, last)
		}
		if failing, err := r.publish(ctx, conn, events); failing || err != nil {
			return failing, err
		}
	}
}

// publish hands events to the broker in seq order, each once, and records
// how far it got. It stops at the first event the broker refuses and reports
// failing: a skipped event would be a gap no subscriber could tell from a
// lost one, so the refused event and those after it wait for the next
// attempt. err is for the database only; a broker failure is never fatal to
// the leadership.
func (r *Relay) publish(ctx context.Context, conn *pgx.Conn, events []*switchyard.Event) (failing bool, err error) {
	done := 0
	touched := time.Now()
	for _, e := range events {
		// A long batch to a slow broker must not look like a frozen leader
		// to the standbys: use the session now and then to keep the lease.
		if time.Since(touched) > r.lease/4 {
			qctx, cancel := context.WithTimeout(ctx, relayStatementTimeout)
			_, err := conn.Exec(qctx, "SELECT 1")
			cancel()
			if err != nil {
				return false, err
			}
			touched = time.Now()
		}
		pctx, cancel := context.WithTimeout(ctx, r.publishTTL)
		err := r.broker.Publish(pctx, e)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			r.brokerFailed(e.Seq, err)
			failing = true
			break
		}
		r.brokerRecovered(e.Seq)
		done++
	}
	if done == 0 {
		return failing, nil
	}
	qctx, cancel := context.WithTimeout(ctx, relayStatementTimeout)
	defer cancel()
	_, err = conn.Exec(qctx, `UPDATE relay_state SET published_seq = greatest(published_seq, $1) WHERE id = 1`, events[done-1].Seq)
	return failing, err
}

// brokerFailed logs the first failure of an outage and every tenth after.
func (r *Relay) brokerFailed(seq int64, err error) {
	n := r.brokerFailures.Add(1)
	if n == 1 || n%10 == 0 {
		r.logger.Warn("relay: publish failed; events are still sequenced and readable from the log, retrying", "seq", seq, "attempt", n, "err", err)
	}
}

func (r *Relay) brokerRecovered(seq int64) {
	if n := r.brokerFailures.Swap(0); n > 0 {
		r.logger.Info("relay: broker recovered", "seq", seq, "failed_attempts", n)
	}
}

// pruneLoop prunes the log now and every pruneEvery while this relay leads.
// A failed prune is logged and tried again next time; it never stops relaying.
func (r *Relay) pruneLoop(ctx context.Context) {
	for {
		n, err := PruneEvents(ctx, r.db, r.retention)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			r.logger.Warn("relay: pruning the event log failed", "err", err)
		case n > 0:
			r.logger.Info("relay: pruned the event log", "deleted", n, "retention", r.retention)
		}
		if !sleepCtx(ctx, r.pruneEvery) {
			return
		}
	}
}

// PruneEvents deletes the published events older than olderThan and records
// the highest seq deleted as pruned_through, in one transaction, so a reader
// sees either both or neither. It deletes a prefix of the sequence, stopping
// at the first event that is still young (a long transaction can commit an
// old event after a young one): everything up to pruned_through is gone and
// everything after it is there, so a cursor is either served without a gap
// or refused. Unsequenced and unpublished events are never deleted.
func PruneEvents(ctx context.Context, db *DB, olderThan time.Duration) (int64, error) {
	if olderThan < 0 {
		return 0, switchyard.InvalidField("olderThan", "retention must not be negative")
	}
	var deleted int64
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var pruned, published int64
		if err := tx.QueryRow(ctx, `SELECT pruned_through, published_seq FROM relay_state WHERE id = 1`).Scan(&pruned, &published); err != nil {
			return err
		}
		// The first young event bounds the prefix; the seq index walks from
		// the last prune, over exactly the rows about to be deleted.
		through := published
		var young int64
		err := tx.QueryRow(ctx, `SELECT seq FROM events WHERE seq > $1 AND seq <= $2 AND occurred_at >= now() - $3 * interval '1 microsecond'
			ORDER BY seq LIMIT 1`, pruned, published, olderThan.Microseconds()).Scan(&young)
		switch {
		case err == nil:
			through = young - 1
		case !isNoRows(err):
			return err
		}
		if through <= pruned {
			return nil
		}
		tag, err := tx.Exec(ctx, `DELETE FROM events WHERE seq > $1 AND seq <= $2`, pruned, through)
		if err != nil {
			return err
		}
		deleted = tag.RowsAffected()
		_, err = tx.Exec(ctx, `UPDATE relay_state SET pruned_through = greatest(pruned_through, $1) WHERE id = 1`, through)
		return err
	})
	return deleted, err
}

// sleepCtx waits d or until ctx ends; it reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
