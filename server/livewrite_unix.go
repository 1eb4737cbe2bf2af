//go:build unix

package server

import (
	"sync"
	"syscall"
)

// tryWrite writes b without waiting and reports how much the socket took.
// It bypasses the poller's write lock and deadline, which the connection's
// own write lock stands in for.
func tryWrite(raw syscall.RawConn, b []byte) (int, error) {
	w := socketWrites.Get().(*socketWrite)
	w.b = b
	err := raw.Control(w.fn)
	n, werr := w.n, w.err
	w.b, w.err = nil, nil
	socketWrites.Put(w)
	switch {
	case err != nil:
		return 0, err // closed
	case werr == nil:
		return n, nil
	case werr == syscall.EAGAIN, werr == syscall.EINTR:
		return 0, nil
	default:
		return 0, werr
	}
}

// socketWrite is one write(2) in the form RawConn.Control takes, kept for
// reuse: a closure per write would be three allocations per delivery.
type socketWrite struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr)
}

var socketWrites = sync.Pool{New: func() any {
	w := &socketWrite{}
	w.fn = w.write
	return w
}}

func (w *socketWrite) write(fd uintptr) { w.n, w.err = syscall.Write(int(fd), w.b) }

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
