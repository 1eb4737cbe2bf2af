// Package cluster holds process-level tests of live updates: real
// `switchyard serve` processes built from ./cmd/switchyard, over one
// PostgreSQL database and a private redis-server each test starts, driven
// over HTTP and graphql-transport-ws. They prove what only whole processes
// can: two instances deliver each change exactly once, a Redis restart and a
// SIGKILLed relay leader lose nothing, a slow consumer is cut off without
// holding others back, an expired token ends a stream that then resumes, and
// transactions that commit out of id order arrive in commit order.
//
// The package has no code of its own; everything is in its tests.
package cluster
