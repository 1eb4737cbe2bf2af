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

// write is a raw system call, without the runtime's note that the thread
// entered one: the socket is non-blocking, so the call cannot wait, and the
// note is what lets the runtime's monitor take the processor away from a
// call that seems slow. A loopback write runs the receiver's TCP processing
// too (several microseconds), and ten thousand of them in a row had the
// monitor handing processors between threads throughout a fan-out: 10% of
// the server's CPU.
func (w *socketWrite) write(fd uintptr) {
	if len(w.b) == 0 {
		w.n, w.err = 0, nil
		return
	}
	n, errno := rawSend(fd, w.b)
	if errno != 0 {
		w.n, w.err = 0, errno
		return
	}
	w.n, w.err = n, nil
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
