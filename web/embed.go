// Package web holds the React app's production build so the switchyard
// binary can serve it without files next to it.
package web

import (
	"embed"
	"io/fs"
)

// Dist is the output of `make web` (vite build). In a checkout that has not
// built the app yet it holds only dist/.keep, so the Go build never depends on
// Node.
//
//go:embed all:dist
var Dist embed.FS

// FS returns the build rooted at dist/, with index.html at its top.
func FS() fs.FS {
	sub, err := fs.Sub(Dist, "dist")
	if err != nil {
		// fs.Sub fails only on an invalid path, and "dist" is valid.
		panic(err)
	}
	return sub
}
