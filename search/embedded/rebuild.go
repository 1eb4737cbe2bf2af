package embedded

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/switchyard/switchyard"
)

// checkpointKey is where a rebuild keeps its checkpoint: inside the new
// generation, so progress and the documents it covers persist together.
var checkpointKey = []byte("switchyard.rebuild.checkpoint")

type rebuild struct {
	x  *Index
	mu sync.Mutex // serializes writes and guards g, done
	g  *generation
	// done is set once the rebuild was committed, aborted or closed.
	done       bool
	checkpoint string
}

var _ switchyard.SearchRebuild = (*rebuild)(nil)

// Rebuild implements switchyard.SearchIndex: it resumes the generation named
// by REBUILD, or starts a new one.
// Returns ECONFLICT when a rebuild is already open in this process.
func (x *Index) Rebuild(ctx context.Context) (switchyard.SearchRebuild, error) {
	if _, release, err := x.acquire(); err != nil {
		return nil, err
	} else {
		release()
	}
	x.rebuildMu.Lock()
	defer x.rebuildMu.Unlock()
	if x.rebuild != nil {
		return nil, switchyard.Errorf(switchyard.ECONFLICT, "a search index rebuild is already running")
	}
	pending, err := readName(filepath.Join(x.dir, rebuildFile))
	if err != nil {
		return nil, err
	}
	var g *generation
	if pending != "" {
		if g, err = openGeneration(x.dir, pending); err != nil {
			return nil, err
		}
	} else {
		name, err := nextGeneration(x.dir)
		if err != nil {
			return nil, err
		}
		if g, err = createGeneration(x.dir, name); err != nil {
			return nil, err
		}
		if err := writeName(x.dir, rebuildFile, name); err != nil {
			_ = g.close()
			_ = os.RemoveAll(filepath.Join(x.dir, name))
			return nil, err
		}
	}
	cp, err := g.idx.GetInternal(checkpointKey)
	if err != nil {
		_ = g.close()
		return nil, fmt.Errorf("embedded search: read checkpoint: %w", err)
	}
	r := &rebuild{x: x, g: g, checkpoint: string(cp)}
	x.rebuild = r
	return r, ctx.Err()
}

func (r *rebuild) Checkpoint() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.checkpoint
}

func (r *rebuild) SetCheckpoint(ctx context.Context, checkpoint string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usable(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b := r.g.idx.NewBatch()
	b.SetInternal(checkpointKey, []byte(checkpoint))
	if err := r.g.idx.Batch(b); err != nil {
		return fmt.Errorf("embedded search: save checkpoint: %w", err)
	}
	r.checkpoint = checkpoint
	return nil
}

func (r *rebuild) Index(ctx context.Context, docs []switchyard.SearchDocument) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usable(); err != nil {
		return err
	}
	return indexDocs(ctx, r.g, docs, nil)
}

func (r *rebuild) Delete(ctx context.Context, typ switchyard.SearchType, id string, version int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usable(); err != nil {
		return err
	}
	return deleteDoc(ctx, r.g, typ, id, version)
}

// Commit points CURRENT at the new generation (the atomic step), then serves
// from it and removes the old one. Searches running meanwhile
// finish on the old generation first.
func (r *rebuild) Commit(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usable(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The columns first, while searches still read the old generation, so
	// the first searches after the swap do not wait for them. (Merging the
	// new generation into one segment here was measured: it made searches
	// no faster than Bleve's own merges leave them, and took 16 s more.)
	if err := r.g.warm(ctx); err != nil {
		return err
	}
	// Every batch is already on disk, so the swap is only the rename. The
	// checkpoint stays behind in the generation; only REBUILD's is ever read.
	x, g := r.x, r.g
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		_ = g.close()
		r.finish()
		return switchyard.Errorf(switchyard.ESEARCHUNAVAILABLE, "search is unavailable: the index is closed")
	}
	if err := writeName(x.dir, currentFile, g.name); err != nil {
		x.mu.Unlock()
		return err // the rebuild stays open: Commit again or Abort
	}
	old := x.live
	x.live = g
	x.mu.Unlock()
	g.startWarmer()

	_ = os.Remove(filepath.Join(x.dir, rebuildFile))
	_ = old.close()
	_ = os.RemoveAll(filepath.Join(x.dir, old.name))
	r.g = nil
	r.finish()
	return nil
}

// Abort closes and removes the new generation.
func (r *rebuild) Abort(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	name := r.g.name
	_ = r.g.close()
	r.finish()
	if err := os.Remove(filepath.Join(r.x.dir, rebuildFile)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("embedded search: %w", err)
	}
	return os.RemoveAll(filepath.Join(r.x.dir, name))
}

// close leaves the rebuild resumable; Index.Close calls it.
func (r *rebuild) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	r.done = true
	return r.g.close()
}

// finish marks the rebuild over and lets another start. Call with r.mu held.
func (r *rebuild) finish() {
	r.done = true
	r.x.rebuildMu.Lock()
	if r.x.rebuild == r {
		r.x.rebuild = nil
	}
	r.x.rebuildMu.Unlock()
}

func (r *rebuild) usable() error {
	if r.done {
		return switchyard.Errorf(switchyard.ECONFLICT, "this search index rebuild is already over")
	}
	return nil
}
