package main

import (
	"io/fs"

	"github.com/switchyard/switchyard/web"
)

// webDist is the embedded web app. A checkout that has not built it holds no
// index.html, and the server then serves a page linking to the playground.
func webDist() fs.FS { return web.FS() }
