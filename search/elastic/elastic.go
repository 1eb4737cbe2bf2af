// Package elastic is the search backend for clusters: Elasticsearch 8 through
// go-elasticsearch.
//
// Layout, for a name N (default "switchyard"): indices N-idx-<n> created from
// the composable index template N-template (explicit, strict mappings and
// analyzers); the read alias N that searches use; the write alias N-write the
// indexer writes to; and, while a rebuild runs, the alias N-rebuild on the
// index being filled. Commit moves N and N-write to the new index in one
// _aliases call, so searches switch at once and only to a complete index.
//
// Versions are Elasticsearch's external versions: a write whose version is
// not above the stored one is rejected by the cluster itself (409), which is
// what makes replaying the event log harmless. A deletion is a tombstone
// document carrying its version, so an older write can never resurrect it
// (a real delete keeps its version only for index.gc_deletes).
package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/switchyard/switchyard"
	sd "github.com/switchyard/switchyard/search/internal/searchdoc"
)

// DefaultName prefixes the indices, aliases and template.
const DefaultName = "switchyard"

// Index is the Elasticsearch search backend. It implements
// switchyard.SearchIndex.
type Index struct {
	es     *elasticsearch.Client
	name   string
	closed atomic.Bool

	rebuildMu  sync.Mutex
	rebuilding *rebuild // the last rebuild opened through this Index
}

var _ switchyard.SearchIndex = (*Index)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	name      string
	transport http.RoundTripper
}

// WithName sets the prefix of the indices, aliases and template, so several
// deployments (or test runs) share a cluster without meeting.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithTransport sets the HTTP transport (TLS settings, proxies, tests).
func WithTransport(t http.RoundTripper) Option { return func(o *options) { o.transport = t } }

// Open connects to the cluster at rawURL (credentials may be in the URL),
// installs the index template and, the first time, creates the first index
// with both aliases.
// Returns ESEARCHUNAVAILABLE when the cluster cannot be reached.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Index, error) {
	x, err := connect(rawURL, opts)
	if err != nil {
		return nil, err
	}
	if err := x.bootstrap(ctx); err != nil {
		return nil, err
	}
	return x, nil
}

// Drop deletes everything Open and rebuilds created under a name: the
// indices (and their aliases) and the template. For tests and for retiring a
// deployment; the data is gone.
func Drop(ctx context.Context, rawURL string, opts ...Option) error {
	x, err := connect(rawURL, opts)
	if err != nil {
		return err
	}
	// Wildcard deletes are refused by default (action.destructive_requires_name):
	// list the indices, then delete them by name.
	res, err := x.do(ctx, esapi.IndicesGetAliasRequest{Index: []string{x.name + "-idx-*"}})
	if err != nil {
		return err
	}
	var indices map[string]json.RawMessage
	err = json.NewDecoder(res.Body).Decode(&indices)
	drain(res)
	if err != nil && res.StatusCode != http.StatusNotFound {
		return fmt.Errorf("elastic search: list indices: %w", err)
	}
	names := make([]string, 0, len(indices))
	for n := range indices {
		names = append(names, n)
	}
	if len(names) > 0 {
		if err := x.call(ctx, "delete indices", esapi.IndicesDeleteRequest{Index: names}, nil); err != nil {
			return err
		}
	}
	res, err = x.do(ctx, esapi.IndicesDeleteIndexTemplateRequest{Name: x.templateName()})
	if err != nil {
		return err
	}
	drain(res)
	if res.IsError() && res.StatusCode != http.StatusNotFound {
		return x.statusError("delete the template", res.StatusCode, nil)
	}
	return nil
}

func connect(rawURL string, opts []Option) (*Index, error) {
	o := options{name: DefaultName}
	for _, opt := range opts {
		opt(&o)
	}
	if o.name == "" || o.name != strings.ToLower(o.name) || strings.ContainsAny(o.name, ` ,"*\/<>|?#:`) ||
		strings.HasPrefix(o.name, "-") || strings.HasPrefix(o.name, "_") || len(o.name) > 200 {
		return nil, fmt.Errorf("elastic search: %q is not a valid index name prefix", o.name)
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, errors.New("elastic search: ELASTICSEARCH_URL must be an http(s) URL like http://localhost:9200")
	}
	cfg := elasticsearch.Config{
		MaxRetries:   2,
		RetryBackoff: func(attempt int) time.Duration { return time.Duration(attempt) * 100 * time.Millisecond },
		Transport:    o.transport,
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
		u.User = nil
	}
	cfg.Addresses = []string{u.String()}
	es, err := elasticsearch.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("elastic search: %w", err)
	}
	return &Index{es: es, name: o.name}, nil
}

func (x *Index) readAlias() string    { return x.name }
func (x *Index) writeAlias() string   { return x.name + "-write" }
func (x *Index) rebuildAlias() string { return x.name + "-rebuild" }
func (x *Index) templateName() string { return x.name + "-template" }

// initialIndex is fixed so instances bootstrapping at once create one index.
func (x *Index) initialIndex() string { return x.name + "-idx-initial" }

// newIndexName names a rebuild's index; the template pattern matches it.
func (x *Index) newIndexName() string {
	return fmt.Sprintf("%s-idx-%d", x.name, time.Now().UTC().UnixNano())
}

// bootstrap installs the template and, when the read alias does not exist
// yet, the first index holding both aliases.
func (x *Index) bootstrap(ctx context.Context) error {
	if err := x.call(ctx, "put index template", esapi.IndicesPutIndexTemplateRequest{
		Name: x.templateName(), Body: jsonBody(indexTemplate(x.name)),
	}, nil); err != nil {
		return err
	}
	res, err := x.do(ctx, esapi.IndicesExistsAliasRequest{Name: []string{x.readAlias()}})
	if err != nil {
		return err
	}
	drain(res)
	switch {
	case res.StatusCode == http.StatusOK:
		return nil
	case res.StatusCode != http.StatusNotFound:
		return x.statusError("check aliases", res.StatusCode, nil)
	}
	body := map[string]any{"aliases": map[string]any{
		x.readAlias():  map[string]any{},
		x.writeAlias(): map[string]any{"is_write_index": true},
	}}
	res, err = x.do(ctx, esapi.IndicesCreateRequest{Index: x.initialIndex(), Body: jsonBody(body)})
	if err != nil {
		return err
	}
	defer drain(res)
	if res.IsError() {
		var e esError
		_ = json.NewDecoder(res.Body).Decode(&e)
		if e.Error.Type == "resource_already_exists_exception" {
			return nil // another instance created it first
		}
		return x.statusError("create the first index", res.StatusCode, &e)
	}
	return nil
}

// Index implements switchyard.SearchIndex. Writes go through the write alias
// and wait for a refresh, so what Index acknowledged is searchable.
func (x *Index) Index(ctx context.Context, docs []switchyard.SearchDocument) error {
	if err := x.usable(); err != nil {
		return err
	}
	return x.bulkIndex(ctx, x.writeAlias(), true, "wait_for", docs)
}

// Delete implements switchyard.SearchIndex.
func (x *Index) Delete(ctx context.Context, typ switchyard.SearchType, id string, version int64) error {
	if err := x.usable(); err != nil {
		return err
	}
	return x.bulkDelete(ctx, x.writeAlias(), true, "wait_for", typ, id, version)
}

// Ping implements switchyard.SearchIndex: the cluster answers and the read
// alias exists.
func (x *Index) Ping(ctx context.Context) error {
	if err := x.usable(); err != nil {
		return err
	}
	res, err := x.do(ctx, esapi.IndicesExistsAliasRequest{Name: []string{x.readAlias()}})
	if err != nil {
		return err
	}
	drain(res)
	if res.StatusCode != http.StatusOK {
		return switchyard.Errorf(switchyard.ESEARCHUNAVAILABLE, "search is unavailable: the index %s is missing", x.readAlias())
	}
	return nil
}

// Close implements switchyard.SearchIndex; the cluster keeps the index.
func (x *Index) Close() error {
	x.closed.Store(true)
	return nil
}

func (x *Index) usable() error {
	if x.closed.Load() {
		return switchyard.Errorf(switchyard.ESEARCHUNAVAILABLE, "search is unavailable: the index is closed")
	}
	return nil
}

// bulkIndex writes documents with external versions; the cluster refuses the
// ones that are not newer (409), which is not an error.
func (x *Index) bulkIndex(ctx context.Context, target string, alias bool, refresh string, docs []switchyard.SearchDocument) error {
	newest := make(map[string]*switchyard.SearchDocument, len(docs))
	order := make([]string, 0, len(docs))
	for i := range docs {
		d := &docs[i]
		if err := d.Validate(); err != nil {
			return err
		}
		old, ok := newest[d.Key()]
		if !ok {
			order = append(order, d.Key())
		}
		if !ok || d.Version > old.Version {
			newest[d.Key()] = d
		}
	}
	if len(order) == 0 {
		return nil
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for _, key := range order {
		d := newest[key]
		if err := enc.Encode(bulkAction(key, d.Version)); err != nil {
			return err
		}
		if err := enc.Encode(sd.Flatten(d)); err != nil {
			return err
		}
	}
	return x.bulk(ctx, target, alias, refresh, &body)
}

// bulkDelete writes a tombstone: the key and its version, no searchable field.
func (x *Index) bulkDelete(ctx context.Context, target string, alias bool, refresh string, typ switchyard.SearchType, id string, version int64) error {
	if !typ.Valid() {
		return switchyard.InvalidField("type", "unknown search type %q", typ)
	}
	if id == "" || version < 1 {
		return switchyard.InvalidField("version", "delete needs an id and a positive version")
	}
	key := switchyard.SearchKey(typ, id)
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	_ = enc.Encode(bulkAction(key, version))
	_ = enc.Encode(map[string]any{sd.FieldKey: key, sd.FieldVersion: version})
	return x.bulk(ctx, target, alias, refresh, &body)
}

func bulkAction(key string, version int64) map[string]any {
	return map[string]any{"index": map[string]any{"_id": key, "version": version, "version_type": "external"}}
}

type bulkResponse struct {
	Errors bool `json:"errors"`
	Items  []map[string]struct {
		ID     string   `json:"_id"`
		Status int      `json:"status"`
		Error  *esCause `json:"error"`
	} `json:"items"`
}

// bulk sends one _bulk request to target. Through an alias it requires the
// alias, so a missing alias fails instead of auto-creating an index by its
// name with guessed mappings.
func (x *Index) bulk(ctx context.Context, target string, alias bool, refresh string, body io.Reader) error {
	var res bulkResponse
	if err := x.call(ctx, "bulk", esapi.BulkRequest{
		Index: target, Body: body, Refresh: refresh, RequireAlias: ptr(alias),
		FilterPath: []string{"errors", "items.*._id", "items.*.status", "items.*.error"},
	}, &res); err != nil {
		return err
	}
	if !res.Errors {
		return nil
	}
	for _, item := range res.Items {
		for _, r := range item {
			switch {
			case r.Status < 300, r.Status == http.StatusConflict:
				// 409: the index holds this version or a newer one.
			case r.Status == http.StatusTooManyRequests || r.Status >= 500:
				return switchyard.Errorf(switchyard.ESEARCHUNAVAILABLE, "search is unavailable: the cluster refused a write (%d)", r.Status)
			default:
				reason := ""
				if r.Error != nil {
					reason = r.Error.Type + ": " + r.Error.Reason
				}
				return fmt.Errorf("elastic search: indexing %s failed with %d: %s", r.ID, r.Status, reason)
			}
		}
	}
	return nil
}

// esRequest is any esapi request.
type esRequest interface {
	Do(ctx context.Context, transport esapi.Transport) (*esapi.Response, error)
}

// do sends a request; a cluster that cannot be reached or answers 429 or 5xx
// is ESEARCHUNAVAILABLE. The caller closes the body.
func (x *Index) do(ctx context.Context, req esRequest) (*esapi.Response, error) {
	res, err := req.Do(ctx, x.es)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w (%v)", switchyard.Errorf(switchyard.ESEARCHUNAVAILABLE, "search is unavailable"), err)
	}
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500 {
		drain(res)
		return nil, fmt.Errorf("%w (HTTP %d)", switchyard.Errorf(switchyard.ESEARCHUNAVAILABLE, "search is unavailable"), res.StatusCode)
	}
	return res, nil
}

// call sends a request and decodes a successful answer into out (when not
// nil); any other answer is an error naming what was attempted.
func (x *Index) call(ctx context.Context, what string, req esRequest, out any) error {
	res, err := x.do(ctx, req)
	if err != nil {
		return err
	}
	defer drain(res)
	if res.IsError() {
		var e esError
		_ = json.NewDecoder(res.Body).Decode(&e)
		return x.statusError(what, res.StatusCode, &e)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("elastic search: %s: decode the answer: %w", what, err)
	}
	return nil
}

type esError struct {
	Error  esCause `json:"error"`
	Status int     `json:"status"`
}

type esCause struct {
	Type      string    `json:"type"`
	Reason    string    `json:"reason"`
	RootCause []esCause `json:"root_cause"`
}

func (x *Index) statusError(what string, status int, e *esError) error {
	if status == http.StatusNotFound && e != nil && e.Error.Type == "index_not_found_exception" {
		return switchyard.Errorf(switchyard.ESEARCHUNAVAILABLE, "search is unavailable: the index %s is missing", x.readAlias())
	}
	if e != nil && e.Error.Type != "" {
		return fmt.Errorf("elastic search: %s: HTTP %d: %s: %s", what, status, e.Error.Type, e.Error.Reason)
	}
	return fmt.Errorf("elastic search: %s: HTTP %d", what, status)
}

func jsonBody(v any) io.Reader {
	b, err := json.Marshal(v)
	if err != nil {
		panic("elastic search: request bodies are plain maps: " + err.Error())
	}
	return bytes.NewReader(b)
}

// drain reads what is left of a body so the connection is reused.
func drain(res *esapi.Response) {
	if res != nil && res.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
		_ = res.Body.Close()
	}
}

func ptr[T any](v T) *T { return &v }
