// Package embedded is the default search backend: a Bleve index on disk in the
// process, with nothing to set up.
//
// The directory holds generations of the index. CURRENT names the live one
// (gen-00000001, …); REBUILD names an unfinished rebuild. A rebuild fills a new
// generation beside the live one and Commit swaps CURRENT with an atomic
// rename, so a crash at any point leaves either the old or the new index live,
// never a partial one. One process at a time opens a directory.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/index/scorch"

	"github.com/switchyard/switchyard"
	sd "github.com/switchyard/switchyard/search/internal/searchdoc"
)

const (
	currentFile = "CURRENT"
	rebuildFile = "REBUILD"
	genPrefix   = "gen-"
)

// Index is a Bleve search index in a directory. It implements
// switchyard.SearchIndex.
type Index struct {
	dir string

	mu      sync.RWMutex // guards live, gen and closed; searches hold it shared
	live    *generation
	closed  bool
	writeMu sync.Mutex // serializes version checks with the writes they guard

	rebuildMu sync.Mutex
	rebuild   *rebuild // open in this process, or nil
}

var _ switchyard.SearchIndex = (*Index)(nil)

// generation is one open Bleve index with its analyzer and columns.
type generation struct {
	name string
	idx  bleve.Index
	text analysis.Analyzer
	cols *columnCache
	near nearCache

	// The warmer reads the columns of segments a merge or a batch brought
	// into the live generation, so the search that meets them first does not
	// pay for it. Started when the generation goes live.
	warmMu   sync.Mutex
	warmCh   chan struct{} // nil until started
	warmStop chan struct{}
	warmDone chan struct{}
}

// Open opens (or creates) the index in dir. Another process holding the same
// directory makes Open fail rather than wait.
func Open(dir string) (*Index, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded search: %w", err)
	}
	current, err := readName(filepath.Join(dir, currentFile))
	if err != nil {
		return nil, err
	}
	pending, err := readName(filepath.Join(dir, rebuildFile))
	if err != nil {
		return nil, err
	}
	if pending != "" && pending == current {
		// Commit renamed CURRENT but did not get to drop the marker.
		if err := os.Remove(filepath.Join(dir, rebuildFile)); err != nil {
			return nil, fmt.Errorf("embedded search: %w", err)
		}
		pending = ""
	}
	var live *generation
	if current == "" {
		name, err := nextGeneration(dir)
		if err != nil {
			return nil, err
		}
		if live, err = createGeneration(dir, name); err != nil {
			return nil, err
		}
		if err := writeName(dir, currentFile, name); err != nil {
			_ = live.close()
			return nil, err
		}
	} else if live, err = openGeneration(dir, current); err != nil {
		return nil, err
	}
	// The columns first, so the first searches do not wait for them.
	if err := live.warm(context.Background()); err != nil {
		_ = live.close()
		return nil, err
	}
	live.startWarmer()
	// Generations neither live nor being rebuilt are left over from a crash
	// during Commit or Abort.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, genPrefix) && n != live.name && n != pending {
			_ = os.RemoveAll(filepath.Join(dir, n))
		}
	}
	return &Index{dir: dir, live: live}, nil
}

func createGeneration(dir, name string) (*generation, error) {
	m, err := indexMapping()
	if err != nil {
		return nil, fmt.Errorf("embedded search: mapping: %w", err)
	}
	idx, err := bleve.NewUsing(filepath.Join(dir, name), m, scorch.Name, bleve.Config.DefaultKVStore, scorchConfig())
	if err != nil {
		return nil, fmt.Errorf("embedded search: create %s: %w", name, err)
	}
	return newGeneration(name, idx)
}

func openGeneration(dir, name string) (*generation, error) {
	idx, err := bleve.OpenUsing(filepath.Join(dir, name), scorchConfig())
	if err != nil {
		if strings.Contains(err.Error(), "timeout") {
			return nil, switchyard.Errorf(switchyard.ESEARCHUNAVAILABLE, "the search index in %s is open in another process", dir)
		}
		return nil, fmt.Errorf("embedded search: open %s: %w", name, err)
	}
	return newGeneration(name, idx)
}

// scorchConfig: every batch waits until it is on disk, so what Index or
// SetCheckpoint acknowledged survives a crash (Bleve's unsafe batches are
// dropped by Close, which would lose a rebuild's progress). Scorch reports
// batches and merges to onScorchEvent.
func scorchConfig() map[string]any {
	return map[string]any{"bolt_timeout": "1s", "eventCallbackName": scorchEvents}
}

func newGeneration(name string, idx bleve.Index) (*generation, error) {
	a := idx.Mapping().AnalyzerNamed(analyzerText)
	if a == nil {
		_ = idx.Close()
		return nil, fmt.Errorf("embedded search: %s has no %s analyzer", name, analyzerText)
	}
	return &generation{name: name, idx: idx, text: a, cols: newColumnCache()}, nil
}

// warm reads the columns of the generation's current segments.
func (g *generation) warm(ctx context.Context) error {
	adv, err := g.idx.Advanced()
	if err != nil {
		return unavailable(err)
	}
	r, err := adv.Reader()
	if err != nil {
		return unavailable(err)
	}
	defer r.Close()
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		return fmt.Errorf("embedded search: unexpected index reader %T", r)
	}
	_, err = g.cols.load(ctx, snap)
	return err
}

// scorchEvents names onScorchEvent in Scorch's registry of callbacks.
const scorchEvents = "switchyard-embedded"

func init() { scorch.RegistryEventCallbacks[scorchEvents] = onScorchEvent }

// warmers are the live generations, by their Scorch index.
var warmers sync.Map // *scorch.Scorch → *generation

func onScorchEvent(e scorch.Event) bool {
	switch e.Kind {
	case scorch.EventKindBatchIntroduction, scorch.EventKindMergeTaskIntroduction:
		if g, ok := warmers.Load(e.Scorch); ok {
			select {
			case g.(*generation).warmCh <- struct{}{}:
			default: // a warm-up is already due; it will see this change too
			}
		}
	}
	return true
}

// startWarmer keeps the columns of new segments read as they come: call
// once the generation is live.
func (g *generation) startWarmer() {
	adv, err := g.idx.Advanced()
	if err != nil {
		return
	}
	s, ok := adv.(*scorch.Scorch)
	if !ok {
		return
	}
	g.warmMu.Lock()
	defer g.warmMu.Unlock()
	if g.warmCh != nil {
		return
	}
	g.warmCh, g.warmStop, g.warmDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(g.warmDone)
		for {
			select {
			case <-g.warmStop:
				return
			case <-g.warmCh:
				// A failure leaves the columns to the next search.
				_ = g.warm(context.Background())
			}
		}
	}()
	warmers.Store(s, g)
}

// close stops the warmer and closes the index.
func (g *generation) close() error {
	g.warmMu.Lock()
	if g.warmCh != nil && g.warmStop != nil {
		if adv, err := g.idx.Advanced(); err == nil {
			warmers.Delete(adv)
		}
		close(g.warmStop)
		<-g.warmDone
		g.warmStop = nil
	}
	g.warmMu.Unlock()
	return g.idx.Close()
}

// Index implements switchyard.SearchIndex.
func (x *Index) Index(ctx context.Context, docs []switchyard.SearchDocument) error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	g, release, err := x.acquire()
	if err != nil {
		return err
	}
	defer release()
	return indexDocs(ctx, g, docs, nil)
}

// Delete implements switchyard.SearchIndex.
func (x *Index) Delete(ctx context.Context, typ switchyard.SearchType, id string, version int64) error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	g, release, err := x.acquire()
	if err != nil {
		return err
	}
	defer release()
	return deleteDoc(ctx, g, typ, id, version)
}

// Ping implements switchyard.SearchIndex.
func (x *Index) Ping(ctx context.Context) error {
	g, release, err := x.acquire()
	if err != nil {
		return err
	}
	defer release()
	if _, err := g.idx.DocCount(); err != nil {
		return unavailable(err)
	}
	return ctx.Err()
}

// Close implements switchyard.SearchIndex. An open rebuild is closed too and
// stays resumable.
func (x *Index) Close() error {
	x.rebuildMu.Lock()
	r := x.rebuild
	x.rebuild = nil
	x.rebuildMu.Unlock()
	if r != nil {
		_ = r.close()
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil
	}
	x.closed = true
	return x.live.close()
}

// acquire returns the live generation, held until release.
func (x *Index) acquire() (*generation, func(), error) {
	x.mu.RLock()
	if x.closed {
		x.mu.RUnlock()
		return nil, nil, switchyard.Errorf(switchyard.ESEARCHUNAVAILABLE, "search is unavailable: the index is closed")
	}
	return x.live, x.mu.RUnlock, nil
}

func unavailable(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w (%v)", switchyard.Errorf(switchyard.ESEARCHUNAVAILABLE, "search is unavailable"), err)
}

// indexDocs writes the documents whose version is above the stored one.
// Documents are validated first so a bad one writes nothing. extra, when set,
// adds more operations (a checkpoint) to the same batch.
func indexDocs(ctx context.Context, g *generation, docs []switchyard.SearchDocument, extra func(*bleve.Batch)) error {
	newest := make(map[string]*switchyard.SearchDocument, len(docs))
	for i := range docs {
		d := &docs[i]
		if err := d.Validate(); err != nil {
			return err
		}
		if old, ok := newest[d.Key()]; !ok || d.Version > old.Version {
			newest[d.Key()] = d
		}
	}
	if len(newest) == 0 && extra == nil {
		return nil
	}
	stored, err := storedVersions(ctx, g, keysOf(newest))
	if err != nil {
		return err
	}
	b := g.idx.NewBatch()
	for key, d := range newest {
		if d.Version <= stored[key] {
			continue
		}
		flat := sd.Flatten(d)
		if err := b.Index(key, fields(flat)); err != nil {
			return fmt.Errorf("embedded search: index %s: %w", key, err)
		}
	}
	if extra != nil {
		extra(b)
	}
	if b.Size() == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := g.idx.Batch(b); err != nil {
		return fmt.Errorf("embedded search: batch: %w", err)
	}
	return nil
}

// deleteDoc replaces the document by a tombstone that keeps its version: it
// has no searchable field, so no query matches it, and a late write with an
// older version still loses to it.
func deleteDoc(ctx context.Context, g *generation, typ switchyard.SearchType, id string, version int64) error {
	if !typ.Valid() {
		return switchyard.InvalidField("type", "unknown search type %q", typ)
	}
	if id == "" || version < 1 {
		return switchyard.InvalidField("version", "delete needs an id and a positive version")
	}
	key := switchyard.SearchKey(typ, id)
	stored, err := storedVersions(ctx, g, []string{key})
	if err != nil {
		return err
	}
	if version <= stored[key] {
		return nil
	}
	if err := g.idx.Index(key, map[string]any{sd.FieldKey: key, sd.FieldVersion: float64(version)}); err != nil {
		return fmt.Errorf("embedded search: delete %s: %w", key, err)
	}
	return nil
}

// storedVersions reads the versions the index holds for keys, documents and
// tombstones alike, in one search.
func storedVersions(ctx context.Context, g *generation, keys []string) (map[string]int64, error) {
	out := make(map[string]int64, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	req := bleve.NewSearchRequestOptions(bleve.NewDocIDQuery(keys), len(keys), 0, false)
	req.Fields = []string{sd.FieldVersion}
	res, err := g.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("embedded search: read versions: %w", err)
	}
	for _, h := range res.Hits {
		if v, ok := h.Fields[sd.FieldVersion].(float64); ok {
			out[h.ID] = int64(v)
		}
	}
	return out, nil
}

func keysOf(m map[string]*switchyard.SearchDocument) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// fields is the document as Bleve maps it: empty fields are left out so they
// never show up as an empty facet value.
func fields(d *sd.Doc) map[string]any {
	m := map[string]any{
		sd.FieldKey:     d.Key,
		sd.FieldType:    d.Type,
		sd.FieldVersion: float64(d.Version),
		sd.FieldKind:    d.Kind,
	}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	put(sd.FieldName, d.Name)
	put(sd.FieldEmail, d.Email)
	put(sd.FieldNumber, d.Number)
	put(sd.FieldDescription, d.Description)
	put(sd.FieldCustomerName, d.CustomerName)
	put(sd.FieldCustomerEmail, d.CustomerEmail)
	put(sd.FieldProjectName, d.ProjectName)
	put(sd.FieldStatus, d.Status)
	put(sd.FieldProjectID, d.ProjectID)
	put(sd.FieldCurrency, d.Currency)
	if len(d.NumberKeys) > 0 {
		m[sd.FieldNumberKeys] = d.NumberKeys
	}
	if len(d.ACL) > 0 {
		m[sd.FieldACL] = d.ACL
	}
	m[fieldRow] = encodeRow(d)
	return m
}

func readName(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("embedded search: %w", err)
	}
	name := strings.TrimSpace(string(b))
	if !strings.HasPrefix(name, genPrefix) || strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("embedded search: %s names %q, not a generation", path, name)
	}
	return name, nil
}

// writeName replaces file atomically: a crash leaves the old or the new name.
func writeName(dir, file, name string) error {
	tmp := filepath.Join(dir, file+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("embedded search: %w", err)
	}
	_, err = f.WriteString(name + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, file))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("embedded search: write %s: %w", file, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// nextGeneration names a generation above every one in dir.
func nextGeneration(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("embedded search: %w", err)
	}
	highest := 0
	for _, e := range entries {
		if n, ok := strings.CutPrefix(e.Name(), genPrefix); ok {
			if v, err := strconv.Atoi(n); err == nil && v > highest {
				highest = v
			}
		}
	}
	return fmt.Sprintf("%s%08d", genPrefix, highest+1), nil
}
