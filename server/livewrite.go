package server

import (
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Delivering an event to thousands of subscribers without a goroutine each.
//
// An event wakes every subscriber it is for at once. A goroutine per woken
// subscriber (started, scheduled, ended: a few microseconds each) cost as
// much as everything else the server does per delivery besides the write
// itself. Instead a few long-lived deliverers take the woken subscribers in
// turn and write to each socket without blocking (tryWrite): the result is
// the one the event's first subscriber had executed, and a socket with room
// for a few hundred bytes takes them at once. Whatever would block — a
// result still being executed, a socket whose buffer is full, a connection
// another write holds — goes on in a goroutine of its own, exactly as
// before, so a slow client or a slow execution never holds a deliverer up.

// deliverers runs eventReaders that have events to deliver quickly.
var deliverers = newDelivererPool(runtime.GOMAXPROCS(0), 1<<15)

type delivererPool struct {
	ready chan *eventReader
	n     int
	start sync.Once
}

func newDelivererPool(n, backlog int) *delivererPool {
	return &delivererPool{ready: make(chan *eventReader, backlog), n: n}
}

// submit queues r for a deliverer; false when the backlog is full, and the
// caller drains r on a goroutine of its own.
func (p *delivererPool) submit(r *eventReader) bool {
	p.start.Do(func() {
		for range p.n {
			go p.work()
		}
	})
	select {
	case p.ready <- r:
		return true
	default:
		return false
	}
}

func (p *delivererPool) work() {
	for r := range p.ready {
		r.drain(nil, true)
	}
}

// quickOutcome is how a non-blocking delivery went.
type quickOutcome int

const (
	// quickSent: the bytes are the socket's, or a goroutine that holds the
	// connection's write lock is writing the rest of them.
	quickSent quickOutcome = iota
	// quickGone: the client no longer takes results; nothing was written.
	quickGone
	// quickBusy: it would have to wait; nothing was written.
	quickBusy
)

// writeLock serializes a connection's writes. Unlike sync.Mutex, it can be
// waited for with a time limit, and the goroutine that finishes a write
// another started may release it.
type writeLock chan struct{}

func newWriteLock() writeLock { return make(writeLock, 1) }

func (l writeLock) lock() { l <- struct{}{} }

func (l writeLock) unlock() { <-l }

func (l writeLock) tryLock() bool {
	select {
	case l <- struct{}{}:
		return true
	default:
		return false
	}
}

// lockWithin takes the lock unless it stays held for d.
func (l writeLock) lockWithin(d time.Duration) bool {
	if l.tryLock() {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case l <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// startWrite writes b to raw's socket as far as it takes it without
// blocking, and returns what is left: nil when all of it went. The caller
// holds the connection's write lock, so nothing else writes between this
// and the rest. err is the socket's: the peer is gone.
func startWrite(raw syscall.RawConn, b []byte) (rest []byte, err error) {
	n, err := tryWrite(raw, b)
	if err != nil {
		return nil, err
	}
	if n == len(b) {
		return nil, nil
	}
	// The caller's buffer is not ours to keep.
	return append([]byte(nil), b[n:]...), nil
}
