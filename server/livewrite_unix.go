//go:build unix

package server

import (
	"errors"
	"syscall"
)

// tryWrite writes b without waiting and reports how much the socket took.
// It bypasses the poller's write lock and deadline, which the connection's
// own write lock stands in for.
func tryWrite(raw syscall.RawConn, b []byte) (int, error) {
	var n int
	var werr error
	if err := raw.Control(func(fd uintptr) { n, werr = syscall.Write(int(fd), b) }); err != nil {
		return 0, err // closed
	}
	switch {
	case werr == nil:
		return n, nil
	case errors.Is(werr, syscall.EAGAIN), errors.Is(werr, syscall.EINTR):
		return 0, nil
	default:
		return 0, werr
	}
}

// rawConnOf is the socket under conn, for tryWrite; nil when conn is not a
// socket of this process (TLS, a test pipe): its deliveries go the blocking
// way.
func rawConnOf(conn any) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}
