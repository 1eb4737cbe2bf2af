package switchyard

import (
	"context"
	"time"
)

// Keeping the search index current: the indexer (package search) follows the
// EventLog from a durable ConsumerCursor and, for every event, reloads the
// documents the event changed from a SearchSource (PostgreSQL) and writes
// them with the event's Seq as their version. Reloading rather than reading
// the event's data means a document always shows the row as it is now, and a
// version never runs ahead of the data it carries: the row was read after the
// event was sequenced, so it holds that change and maybe later ones, whose own
// events come later with higher versions.

// SearchScan selects documents of one type in id order, for a rebuild (the
// whole table, in batches) or for the documents one change reaches (a
// project's orders when its name changes, a customer's orders when their name
// does).
type SearchScan struct {
	Type SearchType
	// After resumes after this id ("" from the start).
	After string
	// Limit bounds the batch; 1 to MaxSearchScan.
	Limit int
	// ProjectID keeps one project's orders or integrations.
	ProjectID string
	// CustomerID keeps one customer's orders.
	CustomerID string
}

// MaxSearchScan bounds one SearchScan batch.
const MaxSearchScan = 5000

// SearchSource builds search documents from the system of record, with every
// field the index needs, access fields included (see SearchDocument). It runs
// without a caller and without access rules: the index applies them.
type SearchSource interface {
	// SearchDocuments returns the current documents of type t among ids,
	// each with Version set to version. Ids that do not exist any more (a
	// deleted user, a deleted integration) are left out; the caller deletes
	// them from the index. One statement.
	SearchDocuments(ctx context.Context, t SearchType, ids []string, version int64) ([]SearchDocument, error)

	// ScanSearchDocuments returns the next batch of scan, in id order, each
	// with Version set to version. An empty batch ends the scan. One
	// statement per batch.
	// Returns EINVALID for a scan filter the type does not have.
	ScanSearchDocuments(ctx context.Context, scan SearchScan, version int64) ([]SearchDocument, error)

	// CountSearchDocuments counts the documents of type t a full scan
	// returns, for progress and to notice an index that misses rows.
	CountSearchDocuments(ctx context.Context, t SearchType) (int, error)
}

// ConsumerCursor is one event log consumer's durable position.
type ConsumerCursor struct {
	Name string
	// Seq: every event up to it has been handled.
	Seq int64
	// Epoch changes with every ResetConsumerCursor; AdvanceConsumerCursor
	// only moves a cursor whose epoch the caller read.
	Epoch int64
	// Leader is set when the caller holds the cursor's lease and so is the
	// one consumer that acts on it.
	Leader bool
	// State is opaque progress saved with SaveConsumerState.
	State     string
	UpdatedAt time.Time
}

// ConsumerCursors keeps the durable positions of event log consumers (the
// search indexer, outbound webhooks), so a restart resumes where it stopped.
// Consumers are at least once: act on the events after Seq, then advance.
type ConsumerCursors interface {
	// ClaimConsumerCursor reads cursor name, creating it at Seq 0 when it
	// does not exist, and takes or renews its lease for owner until ttl from
	// now if the lease is free, expired or already owner's (Leader tells).
	ClaimConsumerCursor(ctx context.Context, name, owner string, ttl time.Duration) (*ConsumerCursor, error)

	// AdvanceConsumerCursor moves cursor name to seq if its epoch is still
	// epoch, owner still holds the lease, and seq is ahead of it. It reports
	// whether it moved: false means another consumer moved it, or a reset
	// rewound it, and the caller should claim it again.
	AdvanceConsumerCursor(ctx context.Context, name, owner string, epoch, seq int64) (bool, error)

	// ResetConsumerCursor sets cursor name to seq, forward or back, and
	// starts a new epoch (creating the cursor if needed). A rebuild rewinds
	// the indexer to where the new index has caught up to.
	ResetConsumerCursor(ctx context.Context, name string, seq int64) (*ConsumerCursor, error)

	// ReadConsumerCursor returns cursor name, or nil when it does not exist.
	ReadConsumerCursor(ctx context.Context, name string) (*ConsumerCursor, error)

	// SaveConsumerState stores state with cursor name (creating it if needed)
	// without moving it: progress of resumable work such as a reindex.
	SaveConsumerState(ctx context.Context, name, state string) error
}

// SearchFreshness tells how far the search index has followed the event log,
// for searches that must see a write (consistentWith).
type SearchFreshness interface {
	// IndexedSeq is the highest Seq whose changes are searchable.
	IndexedSeq() int64

	// WaitIndexed returns nil once every event up to seq is searchable, or
	// ctx's error when it ends first.
	WaitIndexed(ctx context.Context, seq int64) error
}
