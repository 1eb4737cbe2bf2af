package elastic

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/switchyard/switchyard"
)

// metaCheckpoint is where a rebuild keeps its checkpoint: in the _meta of the
// new index's mapping, so it lives and dies with the index it describes.
const metaCheckpoint = "switchyard_rebuild_checkpoint"

type rebuild struct {
	x     *Index
	index string // the concrete index being filled

	mu         sync.Mutex
	done       bool
	checkpoint string
}

var _ switchyard.SearchRebuild = (*rebuild)(nil)

// Rebuild implements switchyard.SearchIndex: it resumes the index the
// rebuild alias names, or creates a new one from the template with refresh
// turned off until Commit. One rebuild at a time per name: callers serialize
// (the alias names a single index).
// Returns ECONFLICT when a rebuild is already open through this Index.
func (x *Index) Rebuild(ctx context.Context) (switchyard.SearchRebuild, error) {
	if err := x.usable(); err != nil {
		return nil, err
	}
	x.rebuildMu.Lock()
	defer x.rebuildMu.Unlock()
	if r := x.rebuilding; r != nil && !r.over() {
		return nil, switchyard.Errorf(switchyard.ECONFLICT, "a search index rebuild is already running")
	}
	r, err := x.openRebuild(ctx)
	if err != nil {
		return nil, err
	}
	x.rebuilding = r
	return r, nil
}

func (x *Index) openRebuild(ctx context.Context) (*rebuild, error) {
	pending, err := x.aliasIndices(ctx, x.rebuildAlias())
	if err != nil {
		return nil, err
	}
	if len(pending) > 0 {
		r := &rebuild{x: x, index: pending[0]}
		var m map[string]struct {
			Mappings struct {
				Meta map[string]string `json:"_meta"`
			} `json:"mappings"`
		}
		if err := x.call(ctx, "read the rebuild checkpoint", esapi.IndicesGetMappingRequest{Index: []string{r.index}}, &m); err != nil {
			return nil, err
		}
		r.checkpoint = m[r.index].Mappings.Meta[metaCheckpoint]
		return r, nil
	}
	name := x.newIndexName()
	body := map[string]any{
		"settings": map[string]any{"index": map[string]any{"refresh_interval": "-1"}},
		"aliases":  map[string]any{x.rebuildAlias(): map[string]any{}},
	}
	if err := x.call(ctx, "create the rebuild index", esapi.IndicesCreateRequest{Index: name, Body: jsonBody(body)}, nil); err != nil {
		return nil, err
	}
	return &rebuild{x: x, index: name}, nil
}

// aliasIndices lists the indices an alias points to, none when it does not
// exist.
func (x *Index) aliasIndices(ctx context.Context, alias string) ([]string, error) {
	res, err := x.do(ctx, esapi.IndicesGetAliasRequest{Name: []string{alias}})
	if err != nil {
		return nil, err
	}
	defer drain(res)
	if res.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if res.IsError() {
		return nil, x.statusError("read alias "+alias, res.StatusCode, nil)
	}
	var m map[string]json.RawMessage
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(m))
	for index := range m {
		out = append(out, index)
	}
	sort.Strings(out)
	return out, nil
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
	body := map[string]any{"_meta": map[string]any{metaCheckpoint: checkpoint}}
	if err := r.x.call(ctx, "save the rebuild checkpoint", esapi.IndicesPutMappingRequest{
		Index: []string{r.index}, Body: jsonBody(body),
	}, nil); err != nil {
		return err
	}
	r.checkpoint = checkpoint
	return nil
}

// Index writes into the new index without waiting for refreshes; Commit
// refreshes once.
func (r *rebuild) Index(ctx context.Context, docs []switchyard.SearchDocument) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usable(); err != nil {
		return err
	}
	return r.x.bulkIndex(ctx, r.index, false, "false", docs)
}

func (r *rebuild) Delete(ctx context.Context, typ switchyard.SearchType, id string, version int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usable(); err != nil {
		return err
	}
	return r.x.bulkDelete(ctx, r.index, false, "false", typ, id, version)
}

// Commit turns refreshes back on, refreshes, then moves the read and write
// aliases to the new index and drops the rebuild alias in one _aliases call:
// searches see the old index or the complete new one, never a partial one.
// The old indices are deleted afterwards.
func (r *rebuild) Commit(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usable(); err != nil {
		return err
	}
	x := r.x
	settings := map[string]any{"index": map[string]any{"refresh_interval": nil}} // back to the template's
	if err := x.call(ctx, "restore refreshes", esapi.IndicesPutSettingsRequest{
		Index: []string{r.index}, Body: jsonBody(settings),
	}, nil); err != nil {
		return err
	}
	if err := x.call(ctx, "refresh the rebuilt index", esapi.IndicesRefreshRequest{Index: []string{r.index}}, nil); err != nil {
		return err
	}
	old, err := x.aliasIndices(ctx, x.readAlias())
	if err != nil {
		return err
	}
	oldWrite, err := x.aliasIndices(ctx, x.writeAlias())
	if err != nil {
		return err
	}
	var actions []any
	for _, o := range old {
		if o != r.index {
			actions = append(actions, map[string]any{"remove": map[string]any{"index": o, "alias": x.readAlias()}})
		}
	}
	for _, o := range oldWrite {
		if o != r.index {
			actions = append(actions, map[string]any{"remove": map[string]any{"index": o, "alias": x.writeAlias()}})
		}
	}
	actions = append(actions,
		map[string]any{"add": map[string]any{"index": r.index, "alias": x.readAlias()}},
		map[string]any{"add": map[string]any{"index": r.index, "alias": x.writeAlias(), "is_write_index": true}},
		map[string]any{"remove": map[string]any{"index": r.index, "alias": x.rebuildAlias()}},
	)
	if err := x.call(ctx, "swap the aliases", esapi.IndicesUpdateAliasesRequest{
		Body: jsonBody(map[string]any{"actions": actions}),
	}, nil); err != nil {
		return err
	}
	r.done = true
	var drop []string
	for _, o := range append(old, oldWrite...) {
		if o != r.index && !contains(drop, o) {
			drop = append(drop, o)
		}
	}
	if len(drop) > 0 {
		// The swap is done: an old index left behind only wastes space.
		_ = x.call(ctx, "delete the old index", esapi.IndicesDeleteRequest{Index: drop}, nil)
	}
	return nil
}

// Abort deletes the new index, and the rebuild alias with it.
func (r *rebuild) Abort(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	if err := r.x.call(ctx, "delete the rebuild index", esapi.IndicesDeleteRequest{Index: []string{r.index}}, nil); err != nil {
		return err
	}
	r.done = true
	return nil
}

func (r *rebuild) over() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

func (r *rebuild) usable() error {
	if r.done {
		return switchyard.Errorf(switchyard.ECONFLICT, "this search index rebuild is already over")
	}
	return r.x.usable()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
