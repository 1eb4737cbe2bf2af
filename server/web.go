package server

import (
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// webApp serves the built web app. Paths that name no file and have no
// extension are client-side routes and get index.html; a missing asset
// (with an extension) is a plain 404 so a broken build is noticed.
func webApp(dist fs.FS) http.Handler {
	return onlyGET(serveWeb(dist))
}

func onlyGET(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func serveWeb(dist fs.FS) http.Handler {
	if dist == nil {
		return http.HandlerFunc(placeholderPage)
	}
	if _, err := fs.Stat(dist, "index.html"); err != nil {
		return http.HandlerFunc(placeholderPage)
	}
	files := http.FileServerFS(dist)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name == "" {
			name = "index.html"
		}
		if _, err := fs.Stat(dist, name); errors.Is(err, fs.ErrNotExist) && path.Ext(name) == "" {
			r = r.Clone(r.Context())
			r.URL.Path = "/"
		}
		if strings.HasPrefix(name, "assets/") {
			// Vite fingerprints everything under assets/.
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(w, r)
	})
}

// placeholderPage stands in for the web app in builds without it.
func placeholderPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Switchyard</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;line-height:1.5}code{background:#f3f3f3;padding:.1rem .3rem}</style>
</head>
<body>
<h1>Switchyard</h1>
<p>The GraphQL API is at <code>/graphql</code>. Explore it in the <a href="/playground">playground</a>.</p>
<p>For an authenticated request, run <code>switchyard token --email alice@example.com</code> and paste
<code>{"Authorization": "Bearer &lt;token&gt;"}</code> into the playground's Headers tab.</p>
<p>Health: <a href="/healthz">/healthz</a> · Readiness: <a href="/readyz">/readyz</a></p>
</body>
</html>
`))
}
