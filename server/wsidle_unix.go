//go:build unix

package server

import (
	"errors"
	"net"
	"syscall"
)

// waitReadable waits until conn has data to read (or its end, or an error)
// without reading it, honouring conn's read deadline.
func waitReadable(conn net.Conn) error {
	raw := rawConnOf(conn)
	if raw == nil {
		return nil
	}
	var peek [1]byte
	return raw.Read(func(fd uintptr) bool {
		// Go's poller is edge-triggered and RawRead forgets a readiness it
		// saw before: ask the socket itself, then wait only if it is empty.
		_, _, err := syscall.Recvfrom(int(fd), peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EWOULDBLOCK)
	})
}
