//go:build !linux

package server

import "net"

var hangups hangupWatcher

type hangupWatcher struct{}

// watch is Linux's only; elsewhere streams read their connection.
func (hangupWatcher) watch(net.Conn, func()) (stop func(), ok bool) { return nil, false }
