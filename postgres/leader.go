package postgres

import (
	"context"
	"hash/fnv"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
)

// leaderLockClass is the first key of the two-key advisory locks that elect
// leaders by name; the two-key space is apart from the one-key locks of the
// relay and the migrator. Fixed forever, like theirs.
const leaderLockClass = 7320

// Leadership implements switchyard.Leadership with PostgreSQL advisory
// locks, the way the relay elects itself: a session-level lock on a
// dedicated connection, so a leader whose process or machine dies loses it
// when PostgreSQL ends its session, and a standby, retrying every interval,
// takes over. The leader checks its connection every interval too, and ends
// the job when the connection (hence, perhaps, the lock) is gone. Between a
// lost session and that check two instances may both run the job, so jobs
// must stay correct then (the webhook worker's writes are conditional, and
// at worst a webhook is sent twice, which at-least-once delivery allows).
type Leadership struct {
	db       *DB
	interval time.Duration
	logger   *slog.Logger
}

var _ switchyard.Leadership = (*Leadership)(nil)

// NewLeadership returns leader election over db. interval is how often a
// standby tries to lead and a leader checks its session (default 1s); a nil
// logger discards.
func NewLeadership(db *DB, interval time.Duration, logger *slog.Logger) *Leadership {
	if interval <= 0 {
		interval = time.Second
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Leadership{db: db, interval: interval, logger: logger.With("component", "leadership")}
}

// leaderLockKey maps a job's name to the lock's second key.
func leaderLockKey(name string) int32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int32(h.Sum32())
}

// Lead runs job whenever this instance holds name's lock, until ctx ends.
func (l *Leadership) Lead(ctx context.Context, name string, job func(ctx context.Context) error) error {
	failures := 0
	for {
		started := time.Now()
		err := l.term(ctx, name, job)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > time.Minute {
			failures = 0
		}
		failures = min(failures+1, 6)
		wait := l.interval << (failures - 1)
		l.logger.Warn("leadership: session ended; contending again", "job", name, "err", err, "wait", wait)
		if !sleepCtx(ctx, wait) {
			return nil
		}
	}
}

// term is one session: wait to win the lock, run job while the session
// lives. Closing the connection releases the lock.
func (l *Leadership) term(ctx context.Context, name string, job func(ctx context.Context) error) error {
	cfg := l.db.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "switchyard-" + name
	// As the relay's: a leader that vanishes without a FIN loses its lock
	// within seconds rather than the OS's hours.
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
	key := leaderLockKey(name)
	check := func() error {
		qctx, cancel := context.WithTimeout(ctx, max(l.interval, 5*time.Second))
		defer cancel()
		_, err := conn.Exec(qctx, `SELECT 1`)
		return err
	}
	for {
		var won bool
		qctx, cancel := context.WithTimeout(ctx, max(l.interval, 5*time.Second))
		err := conn.QueryRow(qctx, `SELECT pg_try_advisory_lock($1, $2)`, leaderLockClass, key).Scan(&won)
		cancel()
		if err != nil {
			return err
		}
		if won {
			break
		}
		if !sleepCtx(ctx, l.interval) {
			return nil
		}
	}
	l.logger.Info("leadership: leading", "job", name)
	defer l.logger.Info("leadership: no longer leading", "job", name)

	jobCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- job(jobCtx) }()
	ticker := time.NewTicker(l.interval)
	defer ticker.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-ticker.C:
			if err := check(); err != nil {
				stop()
				<-done
				return err
			}
		}
	}
}
