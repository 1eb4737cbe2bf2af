package server

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// hangups tells SSE streams, which never read their connection, that the
// client closed it: one epoll instance and one goroutine for all of them,
// where a goroutine parked in a read per stream would cost each idle
// subscriber its stack.
var hangups hangupWatcher

type hangupWatcher struct {
	once  sync.Once
	epfd  int
	err   error
	mu    sync.Mutex
	next  uint32
	gones map[uint32]func()
}

// watch calls gone once the peer of conn hangs up. stop ends the watch and
// must be called before conn is closed; ok is false when conn cannot be
// watched this way (the caller reads it instead).
func (w *hangupWatcher) watch(conn net.Conn, gone func()) (stop func(), ok bool) {
	w.once.Do(w.start)
	if w.err != nil {
		return nil, false
	}
	sc, isSys := conn.(syscall.Conn)
	if !isSys {
		return nil, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	w.mu.Lock()
	w.next++
	id := w.next
	w.gones[id] = gone
	w.mu.Unlock()
	forget := func() {
		w.mu.Lock()
		delete(w.gones, id)
		w.mu.Unlock()
	}
	// EPOLLRDHUP without EPOLLIN: data the client sends (it sends none) is
	// no hang-up; EPOLLHUP and EPOLLERR come regardless. The id, not the
	// fd, names the stream: an fd number is reused once closed.
	ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(id)}
	var ctlErr error
	if err := raw.Control(func(fd uintptr) { ctlErr = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev) }); err != nil || ctlErr != nil {
		forget()
		return nil, false
	}
	return func() {
		forget()
		_ = raw.Control(func(fd uintptr) { _ = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil) })
	}, true
}

func (w *hangupWatcher) start() {
	w.epfd, w.err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if w.err != nil {
		return
	}
	w.gones = make(map[uint32]func())
	go w.run()
}

// run waits in epoll_wait on a thread of its own for as long as the
// process lives.
func (w *hangupWatcher) run() {
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(w.epfd, events, -1)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			id := uint32(ev.Fd)
			w.mu.Lock()
			gone := w.gones[id]
			delete(w.gones, id)
			w.mu.Unlock()
			if gone != nil {
				gone()
			}
		}
	}
}
