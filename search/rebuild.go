package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/switchyard/switchyard"
)

// RebuildOptions configures Rebuild.
type RebuildOptions struct {
	// Types to rebuild; empty means every type. Every type builds a new
	// index beside the live one and swaps it in when complete. A subset
	// re-indexes those types in place in the live index: a new index
	// would lack the other types.
	Types []switchyard.SearchType
	// Cursor names the live indexer's cursor. A full rebuild rewinds it to
	// where the new index caught up to, so the indexer replays what it wrote
	// to the old index meanwhile. An in-place reindex keeps its progress
	// under Cursor + ":reindex".
	Cursor string
	// Restart discards an unfinished rebuild instead of resuming it.
	Restart bool
	// Progress, when set, is called after every batch.
	Progress func(RebuildProgress)
	// CheckpointEvery is how often progress is saved (default 2s): an
	// interrupted run redoes at most that much work.
	CheckpointEvery time.Duration
	// BatchSize is how many documents one Index call writes (default
	// 5000): an index write has a fixed cost (a segment, a persist) that
	// small batches would pay too often.
	BatchSize int
}

// RebuildProgress reports how far a rebuild has come.
type RebuildProgress struct {
	// Phase is "scan" (documents from the tables), "catch-up" (replaying the
	// events since the rebuild began), "swap" or "done".
	Phase string
	Type  switchyard.SearchType
	// Done and Total count documents over every type; Done includes the
	// ResumedFrom documents an interrupted run had already done.
	Done, Total, ResumedFrom int
	// Events counts the events replayed in catch-up.
	Events  int
	Elapsed time.Duration
	InPlace bool
}

// RebuildResult says what Rebuild did.
type RebuildResult struct {
	Documents int
	// Seq is the event log position the rebuilt documents are current to.
	Seq     int64
	Resumed bool
	InPlace bool
	Elapsed time.Duration
}

// rebuildOrder: small tables first, so a rebuild that is interrupted early
// has finished whole types.
var rebuildOrder = []switchyard.SearchType{switchyard.SearchProject, switchyard.SearchIntegration, switchyard.SearchUser, switchyard.SearchOrder}

// checkpoint is a rebuild's saved progress (SearchRebuild.Checkpoint, or the
// consumer state of an in-place reindex).
type checkpoint struct {
	V int `json:"v"`
	// Start is LatestSeq when the rebuild began: the version of every
	// scanned document, and where catch-up starts.
	Start int64                            `json:"start"`
	Types []switchyard.SearchType          `json:"types"`
	After map[switchyard.SearchType]string `json:"after"`
	Done  map[switchyard.SearchType]bool   `json:"done"`
	Count map[switchyard.SearchType]int    `json:"count"`
	// Replayed: catch-up has applied every event up to it.
	Replayed int64 `json:"replayed"`
}

func newCheckpoint(start int64, types []switchyard.SearchType) *checkpoint {
	return &checkpoint{V: 1, Start: start, Replayed: start, Types: types,
		After: map[switchyard.SearchType]string{}, Done: map[switchyard.SearchType]bool{}, Count: map[switchyard.SearchType]int{}}
}

func parseCheckpoint(s string) (*checkpoint, bool) {
	if s == "" {
		return nil, false
	}
	var cp checkpoint
	if json.Unmarshal([]byte(s), &cp) != nil || cp.V != 1 || cp.Start < 0 || cp.After == nil || cp.Done == nil || cp.Count == nil {
		return nil, false
	}
	return &cp, true
}

func (cp *checkpoint) String() string {
	b, _ := json.Marshal(cp)
	return string(b)
}

func (cp *checkpoint) documents() int {
	n := 0
	for _, c := range cp.Count {
		n += c
	}
	return n
}

// Rebuild rebuilds the search index from the source. See RebuildOptions for
// full and in-place rebuilds. It can be interrupted (ctx) at any point and
// resumed by calling it again: progress is saved every CheckpointEvery, and
// a full rebuild's new index stays beside the live one, unseen by searches,
// until it is complete.
//
// Every scanned document gets version Start, the log's LatestSeq read before
// the first row: each row is read after every event up to Start committed,
// so it holds their changes. Rows that change later have events above Start;
// the catch-up replays them into the new index before the swap, and the
// rewound indexer replays whatever came after.
func Rebuild(ctx context.Context, index switchyard.SearchIndex, source switchyard.SearchSource, log switchyard.EventLog,
	cursors switchyard.ConsumerCursors, opts RebuildOptions) (*RebuildResult, error) {
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 2 * time.Second
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 5000
	}
	types, err := rebuildTypes(opts.Types)
	if err != nil {
		return nil, err
	}
	if opts.Cursor == "" {
		return nil, errors.New("search: rebuild needs the indexer's cursor name")
	}
	if len(types) < len(switchyard.SearchTypes) {
		return reindexInPlace(ctx, index, source, log, cursors, types, opts)
	}
	return rebuildFull(ctx, index, source, log, cursors, opts)
}

func rebuildTypes(types []switchyard.SearchType) ([]switchyard.SearchType, error) {
	if len(types) == 0 {
		return rebuildOrder, nil
	}
	for i, t := range types {
		if !t.Valid() {
			return nil, switchyard.InvalidField(fmt.Sprintf("types[%d]", i), "unknown search type %q", t)
		}
	}
	var out []switchyard.SearchType
	for _, t := range rebuildOrder {
		if slices.Contains(types, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func rebuildFull(ctx context.Context, index switchyard.SearchIndex, source switchyard.SearchSource, log switchyard.EventLog,
	cursors switchyard.ConsumerCursors, opts RebuildOptions) (*RebuildResult, error) {
	began := time.Now()
	r, err := index.Rebuild(ctx)
	if err != nil {
		return nil, err
	}
	cp, resumed := parseCheckpoint(r.Checkpoint())
	if opts.Restart && r.Checkpoint() != "" || !resumed && r.Checkpoint() != "" {
		// Asked to, or a checkpoint this version cannot read: start over.
		if err := r.Abort(ctx); err != nil {
			return nil, err
		}
		if r, err = index.Rebuild(ctx); err != nil {
			return nil, err
		}
		resumed = false
	}
	if !resumed {
		start, err := log.LatestSeq(ctx)
		if err != nil {
			return nil, err
		}
		cp = newCheckpoint(start, rebuildOrder)
		if err := r.SetCheckpoint(ctx, cp.String()); err != nil {
			return nil, err
		}
	}
	res := &RebuildResult{Resumed: resumed}
	resumedFrom := cp.documents()
	save := func(ctx context.Context) error { return r.SetCheckpoint(ctx, cp.String()) }
	if err := fill(ctx, r, source, cp, rebuildOrder, save, opts, false, began); err != nil {
		return nil, err
	}

	// Catch up with what changed while scanning.
	ap := newApplier(source, false)
	report := progressReporter(ctx, source, rebuildOrder, opts, false, began)
	events := 0
	for {
		batch, err := log.ReadEvents(ctx, cp.Replayed, 1000)
		if switchyard.ErrorCode(err) == switchyard.EINVALID {
			// The log no longer holds the events since the rebuild began
			// (it was interrupted for long): they cannot be replayed, so
			// start over.
			_ = r.Abort(ctx)
			return nil, fmt.Errorf("search: the rebuild began at event %d, which the event log no longer keeps; run it again to start over: %w", cp.Start, err)
		}
		if err != nil {
			return nil, err
		}
		if len(batch) == 0 {
			break
		}
		if err := ap.apply(ctx, r, batch); err != nil {
			return nil, err
		}
		cp.Replayed = batch[len(batch)-1].Seq
		events += len(batch)
		if err := save(ctx); err != nil {
			return nil, err
		}
		report(RebuildProgress{Phase: "catch-up", Done: cp.documents(), ResumedFrom: resumedFrom, Events: events})
	}

	report(RebuildProgress{Phase: "swap", Done: cp.documents(), ResumedFrom: resumedFrom, Events: events})
	if err := r.Commit(ctx); err != nil {
		return nil, err
	}
	// The new index is live; the indexer must replay from where it caught
	// up, whatever it wrote to the old index after that.
	if err := retryShort(ctx, func() error {
		_, err := cursors.ResetConsumerCursor(ctx, opts.Cursor, cp.Replayed)
		return err
	}); err != nil {
		return nil, fmt.Errorf("search: the new index is live, but the indexer's cursor could not be rewound to %d (run reindex again): %w", cp.Replayed, err)
	}
	res.Documents, res.Seq, res.Elapsed = cp.documents(), cp.Replayed, time.Since(began)
	report(RebuildProgress{Phase: "done", Done: res.Documents, ResumedFrom: resumedFrom, Events: events})
	return res, nil
}

func reindexInPlace(ctx context.Context, index switchyard.SearchIndex, source switchyard.SearchSource, log switchyard.EventLog,
	cursors switchyard.ConsumerCursors, types []switchyard.SearchType, opts RebuildOptions) (*RebuildResult, error) {
	began := time.Now()
	name := opts.Cursor + ":reindex"
	var cp *checkpoint
	resumed := false
	if !opts.Restart {
		c, err := cursors.ReadConsumerCursor(ctx, name)
		if err != nil {
			return nil, err
		}
		if c != nil {
			cp, resumed = parseCheckpoint(c.State)
			resumed = resumed && slices.Equal(cp.Types, types)
		}
	}
	if !resumed {
		// Documents are written as of the log's position now: those the
		// indexer wrote later stay, as they are newer; the events it has
		// yet to index reload them.
		start, err := log.LatestSeq(ctx)
		if err != nil {
			return nil, err
		}
		cp = newCheckpoint(start, types)
	}
	save := func(ctx context.Context) error { return cursors.SaveConsumerState(ctx, name, cp.String()) }
	if err := save(ctx); err != nil {
		return nil, err
	}
	if err := fill(ctx, index, source, cp, types, save, opts, true, began); err != nil {
		return nil, err
	}
	if err := cursors.SaveConsumerState(ctx, name, ""); err != nil {
		return nil, err
	}
	res := &RebuildResult{Documents: cp.documents(), Seq: cp.Start, Resumed: resumed, InPlace: true, Elapsed: time.Since(began)}
	progressReporter(ctx, source, types, opts, true, began)(RebuildProgress{Phase: "done", Done: res.Documents})
	return res, nil
}

// progressReporter returns a reporter that fills in Total (counted once),
// Elapsed and InPlace.
func progressReporter(ctx context.Context, source switchyard.SearchSource, types []switchyard.SearchType, opts RebuildOptions, inPlace bool, began time.Time) func(RebuildProgress) {
	total := -1
	return func(p RebuildProgress) {
		if opts.Progress == nil {
			return
		}
		if total < 0 {
			total = 0
			for _, t := range types {
				n, err := source.CountSearchDocuments(ctx, t)
				if err == nil {
					total += n
				}
			}
		}
		p.Total = max(total, p.Done)
		p.Elapsed = time.Since(began)
		p.InPlace = inPlace
		opts.Progress(p)
	}
}

// fill scans every type not done yet into w, saving the checkpoint every
// CheckpointEvery and after each type. The next batch is read from the
// source while the current one is indexed.
func fill(ctx context.Context, w writer, source switchyard.SearchSource, cp *checkpoint, types []switchyard.SearchType,
	save func(context.Context) error, opts RebuildOptions, inPlace bool, began time.Time) error {
	report := progressReporter(ctx, source, types, opts, inPlace, began)
	resumedFrom := cp.documents()
	report(RebuildProgress{Phase: "scan", Done: resumedFrom, ResumedFrom: resumedFrom})
	saved := time.Now()
	for _, t := range types {
		if cp.Done[t] {
			continue
		}
		batches, errc, stop := prefetch(ctx, source, switchyard.SearchScan{Type: t, After: cp.After[t], Limit: scanBatch}, versionAt(cp.Start))
		// Scan batches are gathered into index batches of BatchSize.
		var buf []switchyard.SearchDocument
		flush := func() error {
			if len(buf) == 0 {
				return nil
			}
			if err := w.Index(ctx, buf); err != nil {
				return err
			}
			cp.After[t] = buf[len(buf)-1].ID
			cp.Count[t] += len(buf)
			buf = buf[:0]
			if time.Since(saved) >= opts.CheckpointEvery {
				saved = time.Now()
				if err := save(ctx); err != nil {
					return err
				}
			}
			report(RebuildProgress{Phase: "scan", Type: t, Done: cp.documents(), ResumedFrom: resumedFrom})
			return nil
		}
		for docs := range batches {
			buf = append(buf, docs...)
			if len(buf) >= opts.BatchSize {
				if err := flush(); err != nil {
					stop()
					return err
				}
			}
		}
		stop()
		if err := <-errc; err != nil {
			return err
		}
		if err := flush(); err != nil {
			return err
		}
		cp.Done[t] = true
		if err := save(ctx); err != nil {
			return err
		}
		saved = time.Now()
	}
	return nil
}

// prefetch reads a scan's batches one ahead of the consumer, until the scan
// ends or stop is called.
func prefetch(ctx context.Context, source switchyard.SearchSource, scan switchyard.SearchScan, version int64) (batches <-chan []switchyard.SearchDocument, errc <-chan error, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan []switchyard.SearchDocument, 1)
	errs := make(chan error, 1)
	go func() {
		defer cancel()
		defer close(out)
		for {
			docs, err := source.ScanSearchDocuments(ctx, scan, version)
			if err != nil {
				errs <- err
				return
			}
			if len(docs) == 0 {
				errs <- nil
				return
			}
			select {
			case out <- docs:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
			scan.After = docs[len(docs)-1].ID
		}
	}()
	return out, errs, cancel
}

// retryShort retries f a few times over a few seconds, for a step that must
// not be lost to a blip.
func retryShort(ctx context.Context, f func() error) error {
	var err error
	for i := range 5 {
		if err = f(); err == nil || ctx.Err() != nil {
			return err
		}
		sleep(ctx, time.Duration(200<<i)*time.Millisecond, nil)
	}
	return err
}
