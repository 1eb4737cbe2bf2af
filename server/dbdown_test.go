package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/postgres/postgrestest"
)

// TestDatabaseDown takes PostgreSQL away from a running server (by closing a
// TCP proxy between the server's pool and the database) and brings it back.
// While it is gone /readyz answers 503, requests get INTERNAL with a request
// id, and the process keeps serving; once it is back everything works again
// without a restart.
func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	dsn := postgrestest.NewDatabaseURL(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.addr
	callers := &staticCallers{}
	e := newEnv(t, withDSN(u.String()), withCallers(callers))
	callers.fallback = e.users
	w := e.world()
	// The admin resolves without the database, so a request reaches the
	// resolvers with the database gone; alice resolves through it, so her
	// requests fail in authentication.
	callers.set(w.admin)
	admin, alice := e.token(w.admin), e.token(w.alice)
	const query = `{ orders(first: 5) { totalCount edges { node { number customer { name } } } } }`

	readyz := func() (int, map[string]any) {
		t.Helper()
		status, body := e.get("/readyz")
		var v map[string]any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("readyz body: %q", body)
		}
		return status, v
	}
	working := func(phase string) {
		t.Helper()
		if status, body := readyz(); status != http.StatusOK || body["status"] != "ok" {
			t.Fatalf("%s: readyz %d %v", phase, status, body)
		}
		if r := e.gql(admin, query, nil); len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"totalCount":2`) {
			t.Fatalf("%s: admin query: %s", phase, r.Raw)
		}
		if r := e.gql(alice, `{ me { name } }`, nil); r.Status != 200 || len(r.Errors) > 0 {
			t.Fatalf("%s: alice query: %d %s", phase, r.Status, r.Raw)
		}
	}

	working("before")

	proxy.down()

	status, body := readyz()
	checks, _ := body["checks"].(map[string]any)
	pg, _ := checks["postgres"].(map[string]any)
	if status != http.StatusServiceUnavailable || body["status"] != "unavailable" || pg["status"] != "down" || pg["error"] == "" {
		t.Fatalf("readyz while down: %d %v", status, body)
	}
	if status, _ := e.get("/healthz"); status != http.StatusOK {
		t.Fatalf("healthz while down: %d", status)
	}

	r := e.gql(admin, query, nil)
	if r.code() != switchyard.EINTERNAL || r.Errors[0].Message != "internal error" {
		t.Fatalf("query while down: %d %s", r.Status, r.Raw)
	}
	id, _ := r.Errors[0].Extensions["requestId"].(string)
	if id == "" || id != r.Header.Get("X-Request-ID") {
		t.Fatalf("requestId %q, X-Request-ID %q", id, r.Header.Get("X-Request-ID"))
	}
	if strings.Contains(r.Raw, "dial") || strings.Contains(r.Raw, "127.0.0.1") {
		t.Fatalf("the client saw driver details: %s", r.Raw)
	}
	if !strings.Contains(e.logs.String(), id) {
		t.Fatalf("request id %s is not in the log:\n%s", id, e.logs.String())
	}

	r = e.gql(alice, `{ me { name } }`, nil)
	if r.Status != http.StatusInternalServerError || r.code() != switchyard.EINTERNAL || r.Errors[0].Extensions["requestId"] == nil {
		t.Fatalf("authenticated request while down: %d %s", r.Status, r.Raw)
	}

	proxy.up()

	// Wait, with a deadline, for the pool to find its way back.
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, _ := readyz()
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("readyz did not recover within 20s of the database coming back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	working("after")
}

// staticCallers resolves some users without the database.
type staticCallers struct {
	mu       sync.Mutex
	callers  map[string]*switchyard.Caller
	fallback switchyard.CallerResolver
}

func (s *staticCallers) set(u *switchyard.User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.callers == nil {
		s.callers = map[string]*switchyard.Caller{}
	}
	s.callers[u.ID] = &switchyard.Caller{UserID: u.ID, Email: u.Email, Role: u.Role}
}

func (s *staticCallers) ResolveCaller(ctx context.Context, id string) (*switchyard.Caller, error) {
	s.mu.Lock()
	c, ok := s.callers[id]
	s.mu.Unlock()
	if ok {
		return c, nil
	}
	return s.fallback.ResolveCaller(ctx, id)
}

// tcpProxy forwards a local port to target until down, and again after up.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.start(ln)
	t.Cleanup(func() {
		p.down()
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) start(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.forward(c) })
		}
	})
}

func (p *tcpProxy) forward(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	if !p.track(client, server) {
		client.Close()
		server.Close()
		return
	}
	var once sync.Once
	closeBoth := func() { once.Do(func() { client.Close(); server.Close() }) }
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(server, client); closeBoth() })
	wg.Go(func() { _, _ = io.Copy(client, server); closeBoth() })
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// track registers a pair of connections, unless the proxy went down since.
func (p *tcpProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

// down stops accepting and cuts every open connection, as a crashed database
// would.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// up listens on the same address again.
func (p *tcpProxy) up() {
	var ln net.Listener
	var err error
	// The port was just released; binding it again can briefly fail.
	for attempt := 0; ; attempt++ {
		if ln, err = net.Listen("tcp", p.addr); err == nil || attempt == 100 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy up: %v", err)
	}
	p.start(ln)
}
