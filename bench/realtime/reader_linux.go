package main

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// epollReaders reads connections from one epoll loop per core. A
// connection's socket is taken from the runtime's poller (duplicated, and
// the net.Conn closed), so a message wakes one poller, not two.
type epollReaders struct {
	loops   []*epollLoop
	stopped atomic.Bool
	wg      sync.WaitGroup
}

// epollBatchDelay and epollBatchEvents: a loop that woke for fewer than
// epollBatchEvents sockets pauses epollBatchDelay before waiting again, so
// that during a fan-out it wakes once per batch rather than once per
// message, a wake-up the server's write would otherwise pay for too. A
// message that arrives during the pause is stamped when it is read, up to
// the pause later: latencies are overstated by at most that much.
const (
	epollBatchDelay  = 100 * time.Microsecond
	epollBatchEvents = 64
)

type epollLoop struct {
	ep    int
	mu    sync.Mutex
	conns map[int32]*epollConn
}

type epollConn struct {
	fd      int
	h       streamHandler
	closing atomic.Bool
	gone    bool // the loop's: the stream is over
}

func newReaders(kind string) (readers, error) {
	switch kind {
	case "goroutines":
		return goroutineReaders{}, nil
	case "epoll", "":
	default:
		return nil, fmt.Errorf("--reader %q: want epoll or goroutines", kind)
	}
	r := &epollReaders{}
	for range runtime.GOMAXPROCS(0) {
		ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			r.stop()
			return nil, fmt.Errorf("epoll: %w", err)
		}
		l := &epollLoop{ep: ep, conns: map[int32]*epollConn{}}
		r.loops = append(r.loops, l)
		r.wg.Go(func() { l.run(&r.stopped) })
	}
	return r, nil
}

func (r *epollReaders) add(conn net.Conn, leftover []byte, h streamHandler) (func([]byte) error, func(), error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return goroutineReaders{}.add(conn, leftover, h)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) { fd, dupErr = syscall.Dup(int(s)) }); err != nil {
		return nil, nil, err
	}
	if dupErr != nil {
		return nil, nil, fmt.Errorf("dup: %w", dupErr)
	}
	// The duplicate keeps the socket open (and non-blocking: the flag is
	// the socket's); closing the net.Conn takes it out of the runtime's
	// poller.
	_ = conn.Close()
	syscall.CloseOnExec(fd)
	c := &epollConn{fd: fd, h: h}
	send := func(b []byte) error {
		for len(b) > 0 {
			n, err := syscall.Write(fd, b)
			if errors.Is(err, syscall.EAGAIN) {
				time.Sleep(time.Millisecond) // a full buffer: only a ping's answer waits here
				continue
			}
			if err != nil {
				return err
			}
			b = b[n:]
		}
		return nil
	}
	closeConn := func() {
		if c.closing.Swap(true) {
			return
		}
		_ = syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
		l := r.loops[uint64(fd)%uint64(len(r.loops))]
		l.mu.Lock()
		delete(l.conns, int32(fd))
		_ = syscall.Close(fd) // also leaves the epoll set
		l.mu.Unlock()
	}
	if len(leftover) > 0 && !h.data(leftover, time.Now().UnixNano()) {
		c.gone = true
	}
	l := r.loops[uint64(fd)%uint64(len(r.loops))]
	l.mu.Lock()
	l.conns[int32(fd)] = c
	l.mu.Unlock()
	if !c.gone {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | -syscall.EPOLLET, Fd: int32(fd)}
		if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			closeConn()
			return nil, nil, fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	return send, closeConn, nil
}

func (r *epollReaders) stop() {
	r.stopped.Store(true)
	r.wg.Wait()
	for _, l := range r.loops {
		_ = syscall.Close(l.ep)
	}
}

// run reads ready sockets until stopped.
func (l *epollLoop) run(stopped *atomic.Bool) {
	events := make([]syscall.EpollEvent, 1024)
	buf := make([]byte, 64<<10)
	for !stopped.Load() {
		n, err := epollWait(l.ep, events, 200) // ms: looks at stopped
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			// Under the lock, which close takes too: a socket closed
			// meanwhile, and its number reused, is never read for the
			// wrong stream.
			l.mu.Lock()
			if c := l.conns[ev.Fd]; c != nil && !c.gone {
				l.read(c, buf)
			}
			l.mu.Unlock()
		}
		if n < epollBatchEvents {
			time.Sleep(epollBatchDelay)
		}
	}
}

// read reads what c's socket holds. The sockets are edge-triggered, so it
// reads until the socket is empty: a read shorter than buf found it so, and
// anything that arrives later is a new edge. (Level-triggered, each wait
// would poll every socket it had just reported once more, to find it
// empty: a quarter of the loop's time went to waiting.)
func (l *epollLoop) read(c *epollConn, buf []byte) {
	for {
		n, err := rawRead(c.fd, buf)
		recv := time.Now().UnixNano()
		switch {
		case n > 0:
			if !c.h.data(buf[:n], recv) {
				l.forget(c)
				return
			}
			if n < len(buf) {
				return
			}
		case errors.Is(err, syscall.EINTR):
		case errors.Is(err, syscall.EAGAIN):
			return
		default:
			if err == nil {
				err = errors.New("connection closed by the server")
			}
			if !c.closing.Load() {
				c.h.lost(err)
			}
			l.forget(c)
			return
		}
	}
}

// forget stops watching a stream that is over; its socket stays open
// until the run closes it.
func (l *epollLoop) forget(c *epollConn) {
	c.gone = true
	_ = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, c.fd, nil)
}

// rawRead and epollWait's first try are raw system calls: the sockets are
// non-blocking and a wait with no timeout returns at once, so neither can
// block, and without the runtime's note that the thread entered a system
// call its monitor does not hand the processor to another thread around
// each of them (12% of the generator's CPU during a fan-out otherwise).
// It is recv(2), not read(2): a socket's own call skips the file layer.
func rawRead(fd int, buf []byte) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), syscall.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}

// epollWait returns the ready events at once if there are any, else waits
// up to msec in an ordinary (blocking) system call.
func epollWait(ep int, events []syscall.EpollEvent, msec int) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno == 0 && n > 0 {
		return int(n), nil
	}
	return syscall.EpollWait(ep, events, msec)
}
