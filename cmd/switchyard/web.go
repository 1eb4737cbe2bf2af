package main

import "io/fs"

// webDist is the built web app, or nil until the web package exists.
func webDist() fs.FS { return nil }
