package main

import (
	"net"
	"sync/atomic"
	"time"
)

// How the generator reads its subscribers' sockets.
//
// The generator shares the machine's two cores with the server it
// measures, so every microsecond it spends per delivery is one the server
// does not get, and shows up as latency the server did not cause. A
// goroutine per connection costs per message two reads (the second one to
// learn the socket is empty), a park and a wake-up through the runtime's
// poller, and with gorilla a buffer copy and an allocation. The default
// reader (reader_linux.go) instead takes the sockets over from the runtime
// after the handshake and reads them from one epoll loop per core: one
// read per ready socket, wake-ups shared by whatever became ready together.
// `--reader goroutines` keeps a goroutine per connection, for comparison
// and where epoll does not exist. Both hand the bytes to the same parsers
// (wsStream, sseStream), which take the receive time as the bytes are read
// and keep messages whole for parsing after the phase.

// streamHandler consumes one subscriber's bytes as they arrive.
type streamHandler interface {
	// data handles bytes read at recv (unix nanoseconds); b is only valid
	// during the call. It reports false once the stream is over: the
	// server ended it, or broke the protocol.
	data(b []byte, recv int64) bool
	// lost reports that the connection ended under the stream.
	lost(err error)
}

// readers starts reading subscribers' connections.
type readers interface {
	// add reads conn, whose first bytes already read are leftover, into h
	// until the stream is over or the returned close is called. send
	// writes to the connection (answers to the server's pings).
	add(conn net.Conn, leftover []byte, h streamHandler) (send func([]byte) error, close func(), err error)
	stop()
}

// goroutineReaders reads each connection on a goroutine of its own.
type goroutineReaders struct{}

func (goroutineReaders) add(conn net.Conn, leftover []byte, h streamHandler) (func([]byte) error, func(), error) {
	var closing atomic.Bool
	send := func(b []byte) error {
		_ = conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		_, err := conn.Write(b)
		return err
	}
	go func() {
		if len(leftover) > 0 && !h.data(leftover, time.Now().UnixNano()) {
			return
		}
		buf := make([]byte, 2048)
		for {
			n, err := conn.Read(buf)
			recv := time.Now().UnixNano()
			if n > 0 && !h.data(buf[:n], recv) {
				return
			}
			if err != nil {
				if !closing.Load() {
					h.lost(err)
				}
				return
			}
		}
	}()
	return send, func() { closing.Store(true); resetClose(conn) }, nil
}

func (goroutineReaders) stop() {}

// openStream is an open subscriber: closing it closes its connection.
type openStream func()

func (s openStream) close() { s() }

// resetClose drops a connection with a reset rather than the closing
// handshake: the run is over, and a reset leaves no TIME_WAIT behind to use
// up loopback ports for the next run.
func resetClose(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
