package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/postgres/postgrestest"
	"github.com/switchyard/switchyard/resolvers"
	"github.com/switchyard/switchyard/server"
)

var testSecret = []byte("server-test-secret-0123456789abcdef")

// env is a Switchyard server over a fresh database, served by httptest.
type env struct {
	t        *testing.T
	url      string
	db       *postgres.DB
	users    *postgres.UserService
	projects *postgres.ProjectService
	orders   *postgres.OrderService
	logs     *syncBuffer
	stmts    *statementCounter
	srv      *server.Server
}

type envOptions struct {
	dsn        string // default: a fresh database
	callers    switchyard.CallerResolver
	cfg        server.Config
	loaderWait time.Duration
	resolver   func(*resolvers.Resolver)
	deps       func(*server.Deps)
}

type envOption func(*envOptions)

// withDSN points the server at dsn instead of a fresh database.
func withDSN(dsn string) envOption { return func(o *envOptions) { o.dsn = dsn } }

// withCallers resolves tokens without the database, so a test can take the
// database away and still reach the resolvers.
func withCallers(c switchyard.CallerResolver) envOption { return func(o *envOptions) { o.callers = c } }

func withConfig(f func(*server.Config)) envOption { return func(o *envOptions) { f(&o.cfg) } }

// withLoaderWait widens the loaders' batching window. Tests that count
// statements use it: on a loaded machine (2 cores, -race, parallel tests) the
// last sibling of a 60-row level can start after the default window closed,
// which would split a batch for reasons that have nothing to do with N+1.
// withResolver changes the resolver before the server is built.
func withResolver(f func(*resolvers.Resolver)) envOption {
	return func(o *envOptions) { o.resolver = f }
}

func withLoaderWait(d time.Duration) envOption { return func(o *envOptions) { o.loaderWait = d } }

// withDeps changes the server's dependencies before it is built.
func withDeps(f func(*server.Deps)) envOption { return func(o *envOptions) { o.deps = f } }

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	var o envOptions
	for _, f := range opts {
		f(&o)
	}
	if o.dsn == "" {
		o.dsn = postgrestest.NewDatabaseURL(t)
	}
	e := &env{t: t, logs: &syncBuffer{}, stmts: &statementCounter{}}
	db, err := postgres.Open(context.Background(), o.dsn, postgres.WithQueryTracer(e.stmts))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(db.Close)
	e.db = db
	e.users = postgres.NewUserService(db)
	e.projects = postgres.NewProjectService(db)
	e.orders = postgres.NewOrderService(db)
	callers := o.callers
	if callers == nil {
		callers = e.users
	}
	cfg := o.cfg
	cfg.JWTSecret = testSecret
	cfg.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res := &resolvers.Resolver{Users: e.users, Projects: e.projects, Orders: e.orders, LoaderWait: o.loaderWait}
	if o.resolver != nil {
		o.resolver(res)
	}
	deps := server.Deps{
		Resolver: res,
		Callers:  callers,
		Checks:   []server.Check{{Name: "postgres", Pinger: db}},
	}
	if o.deps != nil {
		o.deps(&deps)
	}
	srv, err := server.New(cfg, deps)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	e.srv = srv
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.CloseStreams()
		ts.Close()
		if t.Failed() && e.logs.Len() > 0 {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	e.url = ts.URL
	return e
}

// admin is a caller with every right that is no row in users, for fixtures.
func adminCtx() context.Context {
	return switchyard.NewContextWithCaller(context.Background(), &switchyard.Caller{
		UserID: "00000000-0000-4000-8000-0000000000ad", Email: "fixtures@example.com", Role: switchyard.RoleAdmin,
	})
}

func (e *env) token(u *switchyard.User) string {
	e.t.Helper()
	tok, err := server.IssueToken(testSecret, u, time.Hour)
	if err != nil {
		e.t.Fatalf("token: %v", err)
	}
	return tok
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Status int
	Header http.Header
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
	Raw    string
}

func (r gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

func (r gqlResponse) field() string {
	if len(r.Errors) == 0 {
		return ""
	}
	f, _ := r.Errors[0].Extensions["field"].(string)
	return f
}

// decode unmarshals data into v, failing the test on errors in the response.
func (r gqlResponse) decode(t *testing.T, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %s", r.Raw)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
}

// gql posts a GraphQL request; token "" is anonymous.
func (e *env) gql(token, query string, vars map[string]any) gqlResponse {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return e.post(token, "application/json", body)
}

func (e *env) post(token, contentType string, body []byte) gqlResponse {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) gqlResponse {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := gqlResponse{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("response is not JSON (%d): %s", resp.StatusCode, raw)
	}
	return out
}

// get fetches a non-GraphQL path.
func (e *env) get(path string) (int, string) {
	e.t.Helper()
	resp, err := http.Get(e.url + path)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// world is a small tenant layout: alice owns P1 with bob as a member, carol
// owns P2, dave is a customer of P1 who belongs to no project.
type world struct {
	admin, alice, bob, carol, dave *switchyard.User
	p1, p2                         *switchyard.Project
	o1, o2                         *switchyard.Order // o1: P1 for dave; o2: P2 for carol
}

var emailSeq atomic.Int64

func (e *env) mustUser(name string, role switchyard.Role) *switchyard.User {
	e.t.Helper()
	email := fmt.Sprintf("%s.%d@example.com", strings.ReplaceAll(strings.ToLower(name), " ", "."), emailSeq.Add(1))
	u, err := e.users.CreateUser(adminCtx(), switchyard.UserCreate{Email: email, Name: name, Role: role})
	if err != nil {
		e.t.Fatalf("create user %s: %v", name, err)
	}
	return u
}

func (e *env) mustProject(name string, owner *switchyard.User, members ...*switchyard.User) *switchyard.Project {
	e.t.Helper()
	p, err := e.projects.CreateProject(adminCtx(), switchyard.ProjectCreate{Name: name, OwnerID: &owner.ID})
	if err != nil {
		e.t.Fatalf("create project %s: %v", name, err)
	}
	for _, m := range members {
		if _, err := e.projects.AddProjectMember(adminCtx(), p.ID, m.ID); err != nil {
			e.t.Fatalf("add member: %v", err)
		}
	}
	return p
}

func (e *env) mustOrder(p *switchyard.Project, customer *switchyard.User, items ...switchyard.OrderItemInput) *switchyard.Order {
	e.t.Helper()
	if len(items) == 0 {
		items = []switchyard.OrderItemInput{
			{SKU: "SKU-1", Name: "Widget", Quantity: 2, UnitPrice: "12.50"},
			{SKU: "SKU-2", Name: "Gadget", Quantity: 1, UnitPrice: "0.10"},
		}
	}
	o, err := e.orders.CreateOrder(adminCtx(), switchyard.OrderCreate{ProjectID: p.ID, CustomerID: &customer.ID, Currency: "USD", Items: items})
	if err != nil {
		e.t.Fatalf("create order: %v", err)
	}
	return o
}

func (e *env) world() *world {
	e.t.Helper()
	w := &world{}
	w.admin = e.mustUser("Admin", switchyard.RoleAdmin)
	w.alice = e.mustUser("Alice", switchyard.RoleMember)
	w.bob = e.mustUser("Bob", switchyard.RoleMember)
	w.carol = e.mustUser("Carol", switchyard.RoleMember)
	w.dave = e.mustUser("Dave", switchyard.RoleMember)
	w.p1 = e.mustProject("Apollo", w.alice, w.bob)
	w.p2 = e.mustProject("Borealis", w.carol)
	w.o1 = e.mustOrder(w.p1, w.dave)
	w.o2 = e.mustOrder(w.p2, w.carol)
	return w
}

// statementCounter counts the SQL statements the server's pool sends.
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (c *statementCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
	c.n.Add(1)
}
func (c *statementCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
