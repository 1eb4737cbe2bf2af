package elastic_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/search/elastic"
)

// These tests need no cluster: a fake answers with canned Elasticsearch
// responses and records what the backend sent, so the request shapes (the
// part the conformance suite proves against a real cluster) are pinned here
// on every run.

type recorded struct {
	method, path string
	query        map[string]string
	body         []byte
}

type fakeES struct {
	t      *testing.T
	mu     sync.Mutex
	reqs   []recorded
	routes map[string]func(r recorded) (int, string) // "METHOD /path"
}

func newFakeES(t *testing.T) (*fakeES, string) {
	f := &fakeES{t: t, routes: map[string]func(recorded) (int, string){}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeES) on(route string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[route] = func(recorded) (int, string) { return status, body }
}

func (f *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := recorded{method: r.Method, path: r.URL.Path, query: map[string]string{}, body: body}
	for k := range r.URL.Query() {
		rec.query[k] = r.URL.Query().Get(k)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	route := f.routes[r.Method+" "+r.URL.Path]
	if route == nil && strings.HasPrefix(r.URL.Path, "/t-idx-") {
		// Rebuild indices are named by time: match them by their suffix.
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)
		suffix := ""
		if len(parts) == 2 {
			suffix = "/" + parts[1]
		}
		route = f.routes[r.Method+" /t-idx-*"+suffix]
	}
	f.mu.Unlock()
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	if route == nil {
		f.t.Errorf("unexpected request %s %s %s", r.Method, r.URL.Path, body)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"type":"unexpected","reason":"not in the fake"},"status":400}`)
		return
	}
	status, out := route(rec)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, out)
}

// take returns the requests recorded since the last take.
func (f *fakeES) take() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.reqs
	f.reqs = nil
	return out
}

func (f *fakeES) last(t *testing.T, method, pathPrefix string) recorded {
	t.Helper()
	reqs := f.take()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].method == method && strings.HasPrefix(reqs[i].path, pathPrefix) {
			return reqs[i]
		}
	}
	t.Fatalf("no %s %s among %v", method, pathPrefix, reqs)
	return recorded{}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return m
}

func dig(m any, path ...string) any {
	for _, p := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[p]
	}
	return m
}

const ok = `{"acknowledged":true}`

func openFake(t *testing.T) (*fakeES, *elastic.Index) {
	f, url := newFakeES(t)
	f.on("PUT /_index_template/t-template", 200, ok)
	f.on("HEAD /_alias/t", 404, ``)
	f.on("PUT /t-idx-initial", 200, ok)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	idx, err := elastic.Open(ctx, url, elastic.WithName("t"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return f, idx
}

func TestBootstrap(t *testing.T) {
	f, _ := openFake(t)
	reqs := f.take()
	if len(reqs) != 3 {
		t.Fatalf("requests %v", reqs)
	}
	tpl := decode(t, reqs[0].body)
	if got := dig(tpl, "index_patterns"); len(got.([]any)) != 1 || got.([]any)[0] != "t-idx-*" {
		t.Errorf("index_patterns %v", got)
	}
	if got := dig(tpl, "template", "mappings", "dynamic"); got != "strict" {
		t.Errorf("dynamic %v", got)
	}
	if got := dig(tpl, "template", "settings", "analysis", "tokenizer", "sy_words", "pattern"); got != `[^\p{L}\p{N}\p{M}]+` {
		t.Errorf("tokenizer pattern %v", got)
	}
	for _, field := range []string{"name", "email", "number", "numberKeys", "status", "projectId", "createdAt", "total", "acl", "key", "type", "version"} {
		if dig(tpl, "template", "mappings", "properties", field) == nil {
			t.Errorf("field %s is not mapped", field)
		}
	}
	create := decode(t, reqs[2].body)
	if dig(create, "aliases", "t") == nil || dig(create, "aliases", "t-write", "is_write_index") != true {
		t.Errorf("first index aliases %s", reqs[2].body)
	}

	// An instance racing another finds the first index already made.
	f2, url2 := newFakeES(t)
	f2.on("PUT /_index_template/t-template", 200, ok)
	f2.on("HEAD /_alias/t", 404, ``)
	f2.on("PUT /t-idx-initial", 400, `{"error":{"type":"resource_already_exists_exception","reason":"exists"},"status":400}`)
	if _, err := elastic.Open(context.Background(), url2, elastic.WithName("t")); err != nil {
		t.Errorf("racing bootstrap: %v", err)
	}
}

func TestBulkRequests(t *testing.T) {
	f, idx := openFake(t)
	f.take()
	ctx := context.Background()
	f.on("POST /t-write/_bulk", 200, `{"errors":true,"items":[{"index":{"_id":"USER/u1","status":201}},{"index":{"_id":"ORDER/o1","status":409,"error":{"type":"version_conflict_engine_exception","reason":"newer"}}}]}`)
	docs := []switchyard.SearchDocument{
		{Type: switchyard.SearchUser, ID: "u1", Version: 3, Name: "Alice", ProjectIDs: []string{"p1"}, UserIDs: []string{"u1"}},
		{Type: switchyard.SearchOrder, ID: "o1", Version: 7, Number: "SO-000001", Total: "12.50", CreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)},
		{Type: switchyard.SearchUser, ID: "u1", Version: 2, Name: "Older"},
	}
	if err := idx.Index(ctx, docs); err != nil {
		t.Fatalf("Index with a version conflict: %v", err)
	}
	req := f.last(t, "POST", "/t-write/_bulk")
	if req.query["refresh"] != "wait_for" || req.query["require_alias"] != "true" {
		t.Errorf("bulk parameters %v", req.query)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(req.body))
	for sc.Scan() {
		lines = append(lines, decode(t, sc.Bytes()))
	}
	if len(lines) != 4 {
		t.Fatalf("bulk body has %d lines, want 2 actions and 2 sources (the older duplicate dropped):\n%s", len(lines), req.body)
	}
	if dig(lines[0], "index", "_id") != "USER/u1" || dig(lines[0], "index", "version") != 3.0 || dig(lines[0], "index", "version_type") != "external" {
		t.Errorf("action %v", lines[0])
	}
	if dig(lines[1], "name") != "Alice" || dig(lines[1], "kind") != "user" {
		t.Errorf("source %v", lines[1])
	}
	if acl := dig(lines[1], "acl").([]any); len(acl) != 2 || acl[0] != "p:p1" || acl[1] != "u:u1" {
		t.Errorf("acl %v", acl)
	}
	if dig(lines[3], "total") != 12.5 || dig(lines[3], "createdAt") != "2024-01-02T03:04:05.000006Z" {
		t.Errorf("order source %v", lines[3])
	}
	if keys := dig(lines[3], "numberKeys").([]any); len(keys) != 4 {
		t.Errorf("number keys %v", keys)
	}

	// A deletion is a versioned tombstone.
	f.on("POST /t-write/_bulk", 200, `{"errors":false,"items":[{"index":{"_id":"USER/u1","status":200}}]}`)
	if err := idx.Delete(ctx, switchyard.SearchUser, "u1", 9); err != nil {
		t.Fatal(err)
	}
	req = f.last(t, "POST", "/t-write/_bulk")
	lines = nil
	sc = bufio.NewScanner(bytes.NewReader(req.body))
	for sc.Scan() {
		lines = append(lines, decode(t, sc.Bytes()))
	}
	if len(lines) != 2 || dig(lines[0], "index", "version") != 9.0 || len(lines[1]) != 2 || dig(lines[1], "key") != "USER/u1" {
		t.Errorf("tombstone %s", req.body)
	}

	// Refusals: a mapping error is ours, an overloaded cluster is unavailable.
	f.on("POST /t-write/_bulk", 200, `{"errors":true,"items":[{"index":{"_id":"USER/u1","status":400,"error":{"type":"mapper_parsing_exception","reason":"bad"}}}]}`)
	if err := idx.Index(ctx, docs[:1]); err == nil || switchyard.ErrorCode(err) != switchyard.EINTERNAL {
		t.Errorf("mapping error: %v", err)
	}
	f.on("POST /t-write/_bulk", 200, `{"errors":true,"items":[{"index":{"_id":"USER/u1","status":429}}]}`)
	if err := idx.Index(ctx, docs[:1]); switchyard.ErrorCode(err) != switchyard.ESEARCHUNAVAILABLE {
		t.Errorf("rejected item: %v", err)
	}
	f.on("POST /t-write/_bulk", 503, `{"error":{"type":"unavailable"},"status":503}`)
	if err := idx.Index(ctx, docs[:1]); switchyard.ErrorCode(err) != switchyard.ESEARCHUNAVAILABLE {
		t.Errorf("503: %v", err)
	}
	if err := idx.Index(ctx, []switchyard.SearchDocument{{Type: "CAT", ID: "x", Version: 1}}); switchyard.ErrorCode(err) != switchyard.EINVALID {
		t.Errorf("bad document: %v", err)
	}
}

func TestSearchRequests(t *testing.T) {
	f, idx := openFake(t)
	f.take()
	ctx := context.Background()
	f.on("POST /t/_search", 200, `{
		"hits":{"total":{"value":5,"relation":"eq"},"hits":[
			{"_id":"ORDER/o1","_score":2.5,"sort":[2.5,"ORDER/o1"],"highlight":{"customerName":["<mark>Alice</mark> Martin"]}},
			{"_id":"USER/u1","_score":1.25,"sort":[1.25,"USER/u1"]}]},
		"aggregations":{"type":{"buckets":[{"key":"USER","doc_count":2},{"key":"ORDER","doc_count":3}]}}}`)
	member := &switchyard.Viewer{UserID: "u1", ProjectIDs: map[string]bool{"p1": true, "p2": false}}
	first := 1
	text := `status:PAID OR (alice*) "acme rockets" \ {}`
	res, err := idx.Search(ctx, switchyard.SearchQuery{Text: text, First: &first, Facets: []string{"type"}, Viewer: member,
		Filter: switchyard.SearchFilter{Status: []string{"PAID"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.TotalCount != 5 || len(res.Hits) != 1 || !res.PageInfo.HasNextPage || res.Hits[0].ID != "o1" || res.Hits[0].Score != 2.5 {
		t.Fatalf("results %+v", res)
	}
	if h := res.Hits[0].Highlights; len(h) != 1 || h[0].Field != "customerName" {
		t.Errorf("highlights %+v", h)
	}
	if got := res.Facets; len(got) != 1 || got[0].Buckets[0].Value != "ORDER" || got[0].Buckets[0].Count != 3 {
		t.Errorf("facets not ordered by count: %+v", got)
	}
	req := f.last(t, "POST", "/t/_search")
	body := decode(t, req.body)
	for _, syntax := range []string{"query_string", "simple_query_string", "wildcard", "regexp"} {
		if strings.Contains(string(req.body), `"`+syntax+`"`) {
			t.Errorf("user text reached a %s query: %s", syntax, req.body)
		}
	}
	// The number comes along to mark what its keys matched.
	if src, _ := json.Marshal(body["_source"]); body["size"] != 2.0 || body["track_total_hits"] != true || string(src) != `["number"]` {
		t.Errorf("size/total/source %v %v %s", body["size"], body["track_total_hits"], src)
	}
	must := dig(body, "query", "bool", "must").([]any)
	// status:PAID, OR, (alice*) and "acme rockets" are clauses; \ and {} have no word.
	if len(must) != 4 {
		t.Errorf("%d must clauses, want 4: %s", len(must), req.body)
	}
	filter, _ := json.Marshal(dig(body, "query", "bool", "filter"))
	for _, want := range []string{`{"terms":{"acl":["p:p1","u:u1"]}}`, `{"terms":{"status":["PAID"]}}`} {
		if !strings.Contains(string(filter), want) {
			t.Errorf("filter %s lacks %s", filter, want)
		}
	}
	if !strings.Contains(string(req.body), `"fuzziness":"AUTO"`) || !strings.Contains(string(req.body), `"type":"phrase"`) {
		t.Errorf("no fuzzy or phrase clause: %s", req.body)
	}

	// The cursor hands the cluster back its own sort values.
	res2, err := idx.Search(ctx, switchyard.SearchQuery{Text: "alice", After: res.Hits[0].Cursor, Viewer: member})
	if err != nil {
		t.Fatal(err)
	}
	body = decode(t, f.last(t, "POST", "/t/_search").body)
	if sa, _ := json.Marshal(body["search_after"]); string(sa) != `[2.5,"ORDER/o1"]` {
		t.Errorf("search_after %s", sa)
	}
	if !res2.PageInfo.HasPreviousPage {
		t.Error("hasPreviousPage after a cursor")
	}

	// Only punctuation: nothing can match and nothing is asked.
	res, err = idx.Search(ctx, switchyard.SearchQuery{Text: `* : ( ) \`, Viewer: member, Facets: []string{"status"}})
	if err != nil || res.TotalCount != 0 || len(res.Facets) != 1 || len(f.take()) != 0 {
		t.Errorf("punctuation: %+v %v", res, err)
	}

	// An admin's query has no access filter; a member with no rights matches nothing.
	_, _ = idx.Search(ctx, switchyard.SearchQuery{Text: "alice", Viewer: &switchyard.Viewer{UserID: "a", Admin: true}})
	if b := f.last(t, "POST", "/t/_search").body; strings.Contains(string(b), `"acl"`) {
		t.Errorf("admin query filtered by acl: %s", b)
	}

	// An order number matched by key is marked here; a snippet that marks
	// nothing is left out.
	f.on("POST /t/_search", 200, `{
		"hits":{"total":{"value":1,"relation":"eq"},"hits":[
			{"_id":"ORDER/o1","_score":40,"sort":[40,"ORDER/o1"],"_source":{"number":"SO-001432"},
			 "highlight":{"number":["SO-001432"],"customerName":["Alice Martin"]}}]}}`)
	res, err = idx.Search(ctx, switchyard.SearchQuery{Text: "1432", Viewer: member})
	if err != nil || len(res.Hits) != 1 {
		t.Fatalf("1432: %+v %v", res, err)
	}
	if h := res.Hits[0].Highlights; len(h) != 1 || h[0].Field != "number" || len(h[0].Snippets) != 1 || h[0].Snippets[0] != "SO-00<mark>1432</mark>" {
		t.Errorf("1432: highlights %+v", h)
	}
	// Filter-only: nothing to highlight, and the source is not asked for.
	_, _ = idx.Search(ctx, switchyard.SearchQuery{Filter: switchyard.SearchFilter{Status: []string{"PAID"}}, Viewer: member})
	if body := decode(t, f.last(t, "POST", "/t/_search").body); body["_source"] != false || body["highlight"] != nil {
		t.Errorf("filter only: source %v highlight %v", body["_source"], body["highlight"])
	}

	// Suggestions complete an order's items, and only orders'.
	f.on("POST /t/_search", 200, `{"hits":{"total":{"value":0,"relation":"eq"},"hits":[]}}`)
	if _, err := idx.Suggest(ctx, switchyard.SuggestQuery{Prefix: "claw ha", Viewer: member}); err != nil {
		t.Fatal(err)
	}
	sug := string(f.last(t, "POST", "/t/_search").body)
	if !strings.Contains(sug, `{"bool":{"filter":{"term":{"type":"ORDER"}},"must":{"match_bool_prefix":{"description":{"boost":2,"query":"ha"}}}}}`) {
		t.Errorf("suggest does not complete items of orders: %s", sug)
	}

	f.on("POST /t/_search", 404, `{"error":{"type":"index_not_found_exception","reason":"no such index [t]"},"status":404}`)
	if _, err := idx.Search(ctx, switchyard.SearchQuery{Text: "alice", Viewer: member}); switchyard.ErrorCode(err) != switchyard.ESEARCHUNAVAILABLE {
		t.Errorf("missing alias: %v", err)
	}
	if _, err := idx.Search(ctx, switchyard.SearchQuery{Text: "alice", Viewer: member, After: "bad"}); switchyard.ErrorField(err) != "after" {
		t.Errorf("bad cursor: %v", err)
	}
}

func TestRebuildRequests(t *testing.T) {
	f, idx := openFake(t)
	f.take()
	ctx := context.Background()
	f.on("GET /_alias/t-rebuild", 404, `{"error":"alias [t-rebuild] missing","status":404}`)
	f.on("PUT /t-idx-*", 200, ok)
	r, err := idx.Rebuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	create := f.last(t, "PUT", "/t-idx-")
	body := decode(t, create.body)
	if dig(body, "settings", "index", "refresh_interval") != "-1" || dig(body, "aliases", "t-rebuild") == nil {
		t.Errorf("rebuild index %s", create.body)
	}
	name := create.path
	if _, err := idx.Rebuild(ctx); switchyard.ErrorCode(err) != switchyard.ECONFLICT {
		t.Errorf("second rebuild: %v", err)
	}

	f.on("PUT /t-idx-*/_mapping", 200, ok)
	if err := r.SetCheckpoint(ctx, "seq=7"); err != nil {
		t.Fatal(err)
	}
	if b := f.last(t, "PUT", name+"/_mapping").body; string(b) != `{"_meta":{"switchyard_rebuild_checkpoint":"seq=7"}}` {
		t.Errorf("checkpoint %s", b)
	}
	f.on("POST /t-idx-*/_bulk", 200, `{"errors":false,"items":[]}`)
	if err := r.Index(ctx, []switchyard.SearchDocument{{Type: switchyard.SearchUser, ID: "u1", Version: 1, Name: "A"}}); err != nil {
		t.Fatal(err)
	}
	if q := f.last(t, "POST", name+"/_bulk").query; q["refresh"] != "false" || q["require_alias"] != "false" {
		t.Errorf("rebuild bulk %v", q)
	}

	f.on("PUT /t-idx-*/_settings", 200, ok)
	f.on("POST /t-idx-*/_refresh", 200, `{"_shards":{}}`)
	f.on("GET /_alias/t", 200, `{"t-idx-initial":{"aliases":{"t":{}}}}`)
	f.on("GET /_alias/t-write", 200, `{"t-idx-initial":{"aliases":{"t-write":{"is_write_index":true}}}}`)
	f.on("POST /_aliases", 200, ok)
	f.on("DELETE /t-idx-initial", 200, ok)
	if err := r.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	reqs := f.take()
	var steps []string
	var aliases []byte
	for _, q := range reqs {
		steps = append(steps, q.method+" "+strings.Replace(q.path, strings.TrimPrefix(name, "/"), "NEW", 1))
		if q.path == "/_aliases" {
			aliases = q.body
		}
	}
	want := "PUT /NEW/_settings,POST /NEW/_refresh,GET /_alias/t,GET /_alias/t-write,POST /_aliases,DELETE /t-idx-initial"
	if strings.Join(steps, ",") != want {
		t.Errorf("commit steps\n got %s\nwant %s", strings.Join(steps, ","), want)
	}
	newIndex := strings.TrimPrefix(name, "/")
	wantActions := `{"actions":[{"remove":{"alias":"t","index":"t-idx-initial"}},{"remove":{"alias":"t-write","index":"t-idx-initial"}},` +
		`{"add":{"alias":"t","index":"` + newIndex + `"}},{"add":{"alias":"t-write","index":"` + newIndex + `","is_write_index":true}},` +
		`{"remove":{"alias":"t-rebuild","index":"` + newIndex + `"}}]}`
	if string(aliases) != wantActions {
		t.Errorf("alias swap\n got %s\nwant %s", aliases, wantActions)
	}
	if err := r.Commit(ctx); switchyard.ErrorCode(err) != switchyard.ECONFLICT {
		t.Errorf("second commit: %v", err)
	}

	// A rebuild left by an interrupted run is resumed with its checkpoint.
	f.on("GET /_alias/t-rebuild", 200, `{"t-idx-5":{"aliases":{"t-rebuild":{}}}}`)
	f.on("GET /t-idx-*/_mapping", 200, `{"t-idx-5":{"mappings":{"_meta":{"switchyard_rebuild_checkpoint":"seq=9"},"properties":{}}}}`)
	r, err = idx.Rebuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Checkpoint() != "seq=9" {
		t.Errorf("resumed checkpoint %q", r.Checkpoint())
	}
	f.on("DELETE /t-idx-*", 200, ok)
	if err := r.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if req := f.last(t, "DELETE", "/t-idx-5"); req.path != "/t-idx-5" {
		t.Errorf("abort deleted %s", req.path)
	}
}
