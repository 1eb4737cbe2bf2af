package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/server"
)

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.world()

	signed := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	future := time.Now().Add(time.Hour).Unix()
	deleted := e.mustUser("Gone", switchyard.RoleMember)
	deletedToken := e.token(deleted)
	if err := e.users.DeleteUser(adminCtx(), deleted.ID); err != nil {
		t.Fatal(err)
	}
	big := `{"query":"{ me { id } }","variables":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}`

	cases := []struct {
		name          string
		body          string
		contentType   string
		authorization string
		chunked       bool
		status        int
		code          string
		message       string
	}{
		{name: "malformed JSON", body: `{"query": "{ me { id } }"`, status: 400, code: "BAD_USER_INPUT", message: "not valid JSON"},
		{name: "not JSON at all", body: `query { me { id } }`, status: 400, code: "BAD_USER_INPUT"},
		{name: "JSON array", body: `[{"query": "{ me { id } }"}]`, status: 400, code: "BAD_USER_INPUT", message: "JSON object"},
		{name: "wrong type for query", body: `{"query": 42}`, status: 400, code: "BAD_USER_INPUT", message: `"query"`},
		{name: "empty body", body: ``, status: 400, code: "BAD_USER_INPUT", message: "empty"},
		{name: "body too large", body: big, status: 413, code: "BAD_USER_INPUT", message: "larger than"},
		{name: "body too large without length", body: big, chunked: true, status: 413, code: "BAD_USER_INPUT"},
		{name: "garbage token", body: `{"query":"{ me { id } }"}`, authorization: "Bearer not-a-jwt", status: 401, code: "UNAUTHENTICATED", message: "invalid token"},
		{name: "not a bearer", body: `{"query":"{ me { id } }"}`, authorization: "Basic YWxpY2U6c2VjcmV0", status: 401, code: "UNAUTHENTICATED"},
		{name: "empty bearer", body: `{"query":"{ me { id } }"}`, authorization: "Bearer ", status: 401, code: "UNAUTHENTICATED"},
		{name: "expired token", body: `{"query":"{ me { id } }"}`, status: 401, code: "UNAUTHENTICATED", message: "expired",
			authorization: "Bearer " + signed(jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": w.alice.ID, "exp": time.Now().Add(-time.Hour).Unix()})},
		{name: "other secret", body: `{"query":"{ me { id } }"}`, status: 401, code: "UNAUTHENTICATED",
			authorization: "Bearer " + signed(jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), jwt.MapClaims{"sub": w.alice.ID, "exp": future})},
		{name: "alg none", body: `{"query":"{ me { id } }"}`, status: 401, code: "UNAUTHENTICATED",
			authorization: "Bearer " + signed(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": w.alice.ID, "exp": future})},
		{name: "no exp", body: `{"query":"{ me { id } }"}`, status: 401, code: "UNAUTHENTICATED",
			authorization: "Bearer " + signed(jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": w.alice.ID})},
		{name: "no sub", body: `{"query":"{ me { id } }"}`, status: 401, code: "UNAUTHENTICATED",
			authorization: "Bearer " + signed(jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"exp": future})},
		{name: "deleted user", body: `{"query":"{ me { id } }"}`, authorization: "Bearer " + deletedToken, status: 401, code: "UNAUTHENTICATED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			var body = bytes.NewReader([]byte(c.body))
			req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", body)
			if c.chunked {
				// Hide the length so only reading finds the body too large.
				req, _ = http.NewRequest(http.MethodPost, e.url+"/graphql", struct{ *bytes.Reader }{body})
				req.ContentLength = -1
			}
			ct := c.contentType
			if ct == "" {
				ct = "application/json"
			}
			req.Header.Set("Content-Type", ct)
			if c.authorization != "" {
				req.Header.Set("Authorization", c.authorization)
			}
			r := e.send(req)
			if r.Status != c.status || r.code() != c.code || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, c.message) {
				t.Fatalf("want %d %s %q, got %d %s", c.status, c.code, c.message, r.Status, r.Raw)
			}
			if len(r.Raw) > 500 {
				t.Fatalf("error body should not echo the request: %d bytes", len(r.Raw))
			}
		})
	}
}

func TestHTTPEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.world()
	alice := e.token(w.alice)

	t.Run("request id is echoed, or made up", func(t *testing.T) {
		e.t = t
		req, _ := http.NewRequest(http.MethodGet, e.url+"/healthz", nil)
		req.Header.Set("X-Request-ID", "trace-abc.123")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Request-ID"); got != "trace-abc.123" {
			t.Fatalf("X-Request-ID = %q", got)
		}
		req.Header.Set("X-Request-ID", "bad id\twith spaces")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Request-ID"); len(got) != 32 {
			t.Fatalf("want a generated id, got %q", got)
		}
	})

	t.Run("healthz", func(t *testing.T) {
		e.t = t
		if status, body := e.get("/healthz"); status != 200 || strings.TrimSpace(body) != "ok" {
			t.Fatalf("%d %q", status, body)
		}
	})
	t.Run("readyz", func(t *testing.T) {
		e.t = t
		status, body := e.get("/readyz")
		if status != 200 || body != `{"status":"ok","checks":{"postgres":{"status":"ok"}}}`+"\n" {
			t.Fatalf("%d %s", status, body)
		}
	})
	t.Run("playground", func(t *testing.T) {
		e.t = t
		status, body := e.get("/playground")
		if status != 200 || !strings.Contains(body, "graphiql") || !strings.Contains(body, "isHeadersEditorEnabled: true") || !strings.Contains(body, "subscriptionUrl") {
			t.Fatalf("%d %.300s", status, body)
		}
	})
	t.Run("web placeholder", func(t *testing.T) {
		e.t = t
		if status, body := e.get("/"); status != 200 || !strings.Contains(body, `href="/playground"`) {
			t.Fatalf("%d %.300s", status, body)
		}
		if status, _ := e.get("/nope"); status != 404 {
			t.Fatalf("GET /nope: %d", status)
		}
		resp, err := http.Post(e.url+"/", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("POST /: %d", resp.StatusCode)
		}
	})

	t.Run("GET query", func(t *testing.T) {
		e.t = t
		req, _ := http.NewRequest(http.MethodGet, e.url+"/graphql?query="+url.QueryEscape(`{ me { name } }`), nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		r := e.send(req)
		jsonEqual(t, r.Data, `{"me":{"name":"Alice"}}`)
	})
	t.Run("GET mutation is refused", func(t *testing.T) {
		e.t = t
		req, _ := http.NewRequest(http.MethodGet, e.url+"/graphql?query="+url.QueryEscape(`mutation { createProject(input: {name: "x"}) { id } }`), nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		if r := e.send(req); len(r.Errors) == 0 || r.Status == 200 && string(r.Data) != "null" && len(r.Data) > 0 {
			t.Fatalf("mutation over GET ran: %d %s", r.Status, r.Raw)
		}
	})

	t.Run("introspection and federation SDL", func(t *testing.T) {
		e.t = t
		r := e.gql("", `{ __schema { queryType { name } } _service { sdl } }`, nil)
		var got struct {
			Schema  struct{ QueryType struct{ Name string } } `json:"__schema"`
			Service struct{ SDL string }                      `json:"_service"`
		}
		r.decode(t, &got)
		if got.Schema.QueryType.Name != "Query" || !strings.Contains(got.Service.SDL, `type Order @key(fields: "id")`) {
			t.Fatalf("%.300s", r.Raw)
		}
	})

	t.Run("automatic persisted queries", func(t *testing.T) {
		e.t = t
		query := `{ me { email } }`
		sum := sha256.Sum256([]byte(query))
		ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
		post := func(withQuery bool) gqlResponse {
			body := map[string]any{"extensions": ext}
			if withQuery {
				body["query"] = query
			}
			b, _ := jsonMarshal(body)
			return e.post(alice, "application/json", b)
		}
		if r := post(false); len(r.Errors) == 0 || r.Errors[0].Message != "PersistedQueryNotFound" {
			t.Fatalf("unknown hash: %s", r.Raw)
		}
		if r := post(true); len(r.Errors) > 0 {
			t.Fatalf("register: %s", r.Raw)
		}
		r := post(false)
		jsonEqual(t, r.Data, `{"me":{"email":"`+w.alice.Email+`"}}`)
	})

	t.Run("depth limit", func(t *testing.T) {
		e.t = t
		// 13 levels: projects edges node orders edges node project orders edges node project owner name.
		deep := `{ projects(first: 1) { edges { node { orders(first: 1) { edges { node { project { orders(first: 1) { edges { node { project { owner { name } } } } } } } } } } } } }`
		r := e.gql(alice, deep, nil)
		if r.code() != "DEPTH_LIMIT_EXCEEDED" {
			t.Fatalf("%s", r.Raw)
		}
		// One level less is served.
		ok := strings.Replace(deep, "owner { name }", "name", 1)
		if r := e.gql(alice, ok, nil); len(r.Errors) > 0 {
			t.Fatalf("12 levels: %s", r.Raw)
		}
	})
	t.Run("complexity limit", func(t *testing.T) {
		e.t = t
		wide := `{ projects(first: 100) { edges { node { orders(first: 100) { edges { node { items { sku } } } } } } } }`
		r := e.gql(alice, wide, nil)
		if r.code() != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Fatalf("%s", r.Raw)
		}
	})

	t.Run("a changed role applies to an existing token", func(t *testing.T) {
		e.t = t
		probe := func() string {
			r := e.gql(alice, `query($id: ID!) { project(id: $id) { name } }`, map[string]any{"id": w.p2.ID})
			return string(r.Data)
		}
		if got := probe(); got != `{"project":null}` {
			t.Fatalf("before: %s", got)
		}
		admin := switchyard.RoleAdmin
		if _, err := e.users.UpdateUser(adminCtx(), w.alice.ID, switchyard.UserUpdate{Role: &admin}); err != nil {
			t.Fatal(err)
		}
		if got := probe(); got != `{"project":{"name":"Borealis"}}` {
			t.Fatalf("after: %s", got)
		}
		member := switchyard.RoleMember
		if _, err := e.users.UpdateUser(adminCtx(), w.alice.ID, switchyard.UserUpdate{Role: &member}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestIssueToken(t *testing.T) {
	u := &switchyard.User{ID: "00000000-0000-4000-8000-000000000001", Email: "a@example.com", Role: switchyard.RoleAdmin}
	tok, err := server.IssueToken(testSecret, u, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var claims server.Claims
	if _, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return testSecret, nil }, jwt.WithValidMethods([]string{"HS256"})); err != nil {
		t.Fatal(err)
	}
	if claims.Subject != u.ID || claims.Email != u.Email || claims.Role != u.Role || time.Until(claims.ExpiresAt.Time) < 59*time.Minute {
		t.Fatalf("claims %+v", claims)
	}
	if _, err := server.IssueToken(nil, u, time.Hour); err == nil {
		t.Fatal("empty secret accepted")
	}
	if _, err := server.IssueToken(testSecret, u, 0); err == nil {
		t.Fatal("zero ttl accepted")
	}
}
