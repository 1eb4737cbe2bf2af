package search

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/switchyard/switchyard"
)

// IndexerOptions configures an Indexer. Zero values take the defaults.
type IndexerOptions struct {
	// Cursor names the indexer's durable position (ConsumerCursors). It
	// belongs to one index: "search:embedded:<host and directory>" for an
	// embedded index, "search:elastic:<cluster and index>" for a shared one,
	// so every instance with its own index keeps its own position and the
	// instances sharing one share it.
	Cursor string
	// Owner names this process for the cursor's lease; default: host, pid and
	// a random suffix.
	Owner string
	// Poll is how often an idle indexer looks for new events (default
	// 200ms): with the relay's own latency well under that, a committed
	// change is searchable within about a quarter of a second.
	Poll time.Duration
	// Batch bounds the events applied at once (default 500).
	Batch int
	// LeaseTTL is how long the lease outlives a silent leader (default 15s).
	LeaseTTL time.Duration
	// AutoRebuild lets the indexer rebuild the index when it cannot follow
	// the log: on first start over a database with rows (seeded rows write no
	// events), when the index holds fewer documents than the tables, or when
	// the cursor is older than the event log keeps.
	AutoRebuild bool
	// MaxBackoff caps the wait between retries while the backend or the
	// database is down (default 5s).
	MaxBackoff time.Duration
	Logger     *slog.Logger
}

func (o *IndexerOptions) defaults() {
	if o.Poll <= 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 15 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.Owner == "" {
		o.Owner = DefaultOwner()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// DefaultOwner names this process: host, pid and a random suffix, so a
// restarted process never mistakes its predecessor's lease for its own.
func DefaultOwner() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Indexer follows the event log into the live search index, at least once
// and idempotently (versions are Seqs; see applier), from a durable cursor in
// PostgreSQL, so a restart resumes where it stopped.
//
// Waking: it polls the log every Poll while idle (one indexed read of at most
// Batch events) rather than subscribing to the broker. Polling needs nothing
// beyond the log it must read anyway, cannot miss a wake-up, and costs one
// cheap statement five times a second; a search with consistentWith nudges it
// to read at once.
//
// Faults: when the backend or the database fails, the indexer retries the
// same events with capped exponential backoff and reports the error in
// Status; the cursor only moves after the writes it covers succeeded, so
// nothing is skipped and the index catches up when the backend returns.
//
// Several instances sharing one index (Elasticsearch) share one cursor: the
// holder of its lease indexes, the others follow the cursor to answer
// IndexedSeq. A rebuild rewinds the cursor (a new epoch), which the indexer
// notices at its next advance and replays from there.
type Indexer struct {
	index   switchyard.SearchIndex
	log     switchyard.EventLog
	source  switchyard.SearchSource
	cursors switchyard.ConsumerCursors
	opts    IndexerOptions
	apply   *applier

	wake chan struct{}

	mu      sync.Mutex
	indexed int64
	// progressed is closed and replaced whenever indexed moves.
	progressed chan struct{}
	status     IndexerStatus
}

var _ switchyard.SearchFreshness = (*Indexer)(nil)

// IndexerStatus is what the indexer is doing, for /readyz and logs.
type IndexerStatus struct {
	// IndexedSeq: every event up to it is searchable.
	IndexedSeq int64
	// Leader is set while this instance holds the lease and indexes.
	Leader bool
	// Rebuilding is set during an automatic rebuild.
	Rebuilding bool
	// Err is the last failure, cleared by the next success; Since is when
	// the failures began.
	Err   error
	Since time.Time
}

// NewIndexer returns an indexer; Run starts it.
func NewIndexer(index switchyard.SearchIndex, log switchyard.EventLog, source switchyard.SearchSource, cursors switchyard.ConsumerCursors, opts IndexerOptions) *Indexer {
	opts.defaults()
	return &Indexer{
		index: index, log: log, source: source, cursors: cursors, opts: opts,
		apply:      newApplier(source, true),
		wake:       make(chan struct{}, 1),
		progressed: make(chan struct{}),
	}
}

// IndexedSeq implements switchyard.SearchFreshness.
func (x *Indexer) IndexedSeq() int64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.indexed
}

// WaitIndexed implements switchyard.SearchFreshness. It wakes the indexer, so
// a read-your-writes search does not wait for the next poll.
func (x *Indexer) WaitIndexed(ctx context.Context, seq int64) error {
	for {
		x.mu.Lock()
		indexed, ch := x.indexed, x.progressed
		x.mu.Unlock()
		if indexed >= seq {
			return nil
		}
		x.Nudge()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Nudge makes an idle indexer read the log now.
func (x *Indexer) Nudge() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// Status returns what the indexer is doing.
func (x *Indexer) Status() IndexerStatus {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := x.status
	s.IndexedSeq = x.indexed
	return s
}

func (x *Indexer) setIndexed(seq int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if seq == x.indexed {
		return
	}
	// A rewind (a rebuild) may move it back: the new index has only caught
	// up to there.
	x.indexed = seq
	close(x.progressed)
	x.progressed = make(chan struct{})
}

func (x *Indexer) setStatus(f func(*IndexerStatus)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	f(&x.status)
}

// failed records err and returns how long to wait before retrying.
func (x *Indexer) failed(err error, attempt int) time.Duration {
	x.setStatus(func(s *IndexerStatus) {
		if s.Err == nil {
			s.Since = time.Now()
		}
		s.Err = err
	})
	if attempt == 1 || attempt%20 == 0 {
		x.opts.Logger.Warn("search indexer: retrying", "attempt", attempt, "err", err)
	}
	d := 250 * time.Millisecond << min(attempt-1, 8)
	return min(d, x.opts.MaxBackoff)
}

func (x *Indexer) recovered() {
	x.setStatus(func(s *IndexerStatus) {
		if s.Err != nil {
			x.opts.Logger.Info("search indexer: recovered", "after", time.Since(s.Since).Round(time.Millisecond))
		}
		s.Err = nil
	})
}

// Run indexes until ctx ends; it returns nil then. Failures are retried, not
// returned.
func (x *Indexer) Run(ctx context.Context) error {
	var (
		cur       *switchyard.ConsumerCursor
		claimedAt time.Time
		attempt   int
		// checked: the index was compared with the tables since start;
		// shortSeen: a comparison found it short once.
		checked, shortSeen bool
	)
	retry := func(err error) {
		attempt++
		sleep(ctx, x.failed(err, attempt), nil)
	}
	for ctx.Err() == nil {
		if cur == nil || time.Since(claimedAt) > x.opts.LeaseTTL/3 {
			c, err := x.cursors.ClaimConsumerCursor(ctx, x.opts.Cursor, x.opts.Owner, x.opts.LeaseTTL)
			if err != nil {
				retry(fmt.Errorf("claim cursor: %w", err))
				continue
			}
			if cur != nil && c.Epoch != cur.Epoch {
				x.apply.forget()
			}
			cur, claimedAt = c, time.Now()
			x.setStatus(func(s *IndexerStatus) { s.Leader = c.Leader })
			if !c.Leader {
				// Another instance indexes this index; follow its cursor.
				x.setIndexed(c.Seq)
				attempt = 0
				x.recovered()
				sleep(ctx, x.opts.Poll*5, x.wake)
				cur = nil
				continue
			}
		}
		if x.opts.AutoRebuild && cur.Epoch == 0 {
			// Never built: the tables may hold rows no event announced.
			if err := x.rebuild(ctx, "first start"); err != nil {
				retry(err)
			}
			cur = nil
			continue
		}
		events, err := x.log.ReadEvents(ctx, cur.Seq, x.opts.Batch)
		if switchyard.ErrorCode(err) == switchyard.EINVALID && x.opts.AutoRebuild {
			if err := x.rebuild(ctx, "the cursor is older than the event log keeps"); err != nil {
				retry(err)
			}
			cur = nil
			continue
		}
		if err != nil {
			retry(fmt.Errorf("read events: %w", err))
			continue
		}
		if len(events) == 0 {
			x.setIndexed(cur.Seq)
			attempt = 0
			x.recovered()
			if x.opts.AutoRebuild && !checked {
				// Caught up: compare the index with the tables. A row
				// committed a moment ago may not be indexed yet, so a
				// shortfall counts only when the next catch-up sees it too.
				short, err := x.shortType(ctx)
				switch {
				case err != nil:
					retry(fmt.Errorf("count documents: %w", err))
					continue
				case short == "":
					checked = true
				case !shortSeen:
					shortSeen = true
				default:
					checked = true
					if err := x.rebuild(ctx, short); err != nil {
						checked, shortSeen = false, false
						retry(err)
					}
					cur = nil
					continue
				}
			}
			sleep(ctx, x.opts.Poll, x.wake)
			continue
		}
		if err := x.apply.apply(ctx, x.index, events); err != nil {
			retry(fmt.Errorf("index events %d..%d: %w", events[0].Seq, events[len(events)-1].Seq, err))
			continue
		}
		last := events[len(events)-1].Seq
		moved, err := x.cursors.AdvanceConsumerCursor(ctx, x.opts.Cursor, x.opts.Owner, cur.Epoch, last)
		if err != nil {
			retry(fmt.Errorf("advance cursor: %w", err))
			continue
		}
		attempt = 0
		x.recovered()
		if !moved {
			// Rewound by a rebuild, or the lease moved: read the cursor again.
			cur = nil
			continue
		}
		cur.Seq = last
		x.setIndexed(last)
	}
	return nil
}

// shortType names the first type the index holds fewer documents of than
// the tables: rows written without events (seed), which only a rebuild
// brings in.
func (x *Indexer) shortType(ctx context.Context) (string, error) {
	indexed, err := IndexCounts(ctx, x.index)
	if err != nil {
		return "", err
	}
	for _, t := range switchyard.SearchTypes {
		n, err := x.source.CountSearchDocuments(ctx, t)
		if err != nil {
			return "", err
		}
		if indexed[t] < n {
			return fmt.Sprintf("the index holds %d %s documents, the tables %d", indexed[t], t, n), nil
		}
	}
	return "", nil
}

// IndexCounts counts the live documents of each type in the index (deleted
// ones are not counted).
func IndexCounts(ctx context.Context, index switchyard.SearchIndex) (map[switchyard.SearchType]int, error) {
	zero, first := time.Unix(0, 0).UTC(), 0
	res, err := index.Search(ctx, switchyard.SearchQuery{
		Filter: switchyard.SearchFilter{CreatedAfter: &zero},
		Facets: []string{switchyard.SearchFacetType},
		First:  &first,
		Viewer: &switchyard.Viewer{Admin: true},
	})
	if err != nil {
		return nil, err
	}
	out := map[switchyard.SearchType]int{}
	for _, f := range res.Facets {
		for _, b := range f.Buckets {
			out[switchyard.SearchType(b.Value)] = b.Count
		}
	}
	return out, nil
}

// rebuild runs a full rebuild in the indexer's goroutine: live indexing
// pauses (searches keep reading the old index) and resumes from where the
// new index caught up.
func (x *Indexer) rebuild(ctx context.Context, why string) error {
	x.opts.Logger.Info("search: rebuilding the index", "why", why)
	x.setStatus(func(s *IndexerStatus) { s.Rebuilding = true })
	defer x.setStatus(func(s *IndexerStatus) { s.Rebuilding = false })
	// Keep the lease while rebuilding, so no other instance starts a second
	// rebuild of a shared index meanwhile.
	renewCtx, stopRenew := context.WithCancel(ctx)
	defer stopRenew()
	go func() {
		for renewCtx.Err() == nil {
			sleep(renewCtx, x.opts.LeaseTTL/3, nil)
			if renewCtx.Err() == nil {
				_, _ = x.cursors.ClaimConsumerCursor(renewCtx, x.opts.Cursor, x.opts.Owner, x.opts.LeaseTTL)
			}
		}
	}()
	last := time.Now()
	res, err := Rebuild(ctx, x.index, x.source, x.log, x.cursors, RebuildOptions{
		Cursor: x.opts.Cursor,
		Progress: func(p RebuildProgress) {
			if time.Since(last) > 10*time.Second {
				last = time.Now()
				x.opts.Logger.Info("search: rebuilding", "done", p.Done, "total", p.Total, "phase", p.Phase)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	x.apply.forget()
	x.setIndexed(res.Seq)
	x.opts.Logger.Info("search: index rebuilt", "documents", res.Documents, "seq", res.Seq, "took", res.Elapsed.Round(time.Millisecond))
	return nil
}

// sleep waits d, or until wake fires or ctx ends.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
	case <-ctx.Done():
	}
}
