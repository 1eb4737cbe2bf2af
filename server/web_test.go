package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/switchyard/switchyard/resolvers"
	"github.com/switchyard/switchyard/server"
)

func TestWebApp(t *testing.T) {
	t.Parallel()
	dist := fstest.MapFS{
		"index.html":         {Data: []byte("<!doctype html><title>app</title>")},
		"assets/index-1.js":  {Data: []byte("console.log(1)")},
		"favicon.svg":        {Data: []byte("<svg/>")},
		"assets/index-1.css": {Data: []byte("body{}")},
	}
	srv, err := server.New(server.Config{JWTSecret: testSecret, Logger: slog.New(slog.DiscardHandler)}, server.Deps{
		Resolver: &resolvers.Resolver{},
		Callers:  &staticCallers{},
		Web:      dist,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	for _, c := range []struct {
		path, body string
		status     int
		cache      string
	}{
		{"/", "<title>app</title>", 200, ""},
		{"/orders/SO-000001", "<title>app</title>", 200, ""}, // a client-side route
		{"/assets/index-1.js", "console.log(1)", 200, "immutable"},
		{"/favicon.svg", "<svg/>", 200, ""},
		{"/assets/missing.js", "", 404, ""},
	} {
		resp, err := http.Get(ts.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), c.body) || !strings.Contains(resp.Header.Get("Cache-Control"), c.cache) {
			t.Errorf("GET %s: %d %q Cache-Control %q", c.path, resp.StatusCode, b, resp.Header.Get("Cache-Control"))
		}
	}
}
