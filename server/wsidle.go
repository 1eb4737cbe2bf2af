package server

import (
	"bufio"
	"net"
	"net/http"

	"github.com/gorilla/websocket"
)

// Idle websockets wait on a shallow stack.
//
// A connection's goroutine spends nearly all its life waiting for the next
// message. Parked inside gorilla's NextReader it holds the frames of the
// whole read path, and the runtime cannot shrink a stack that deep: a few
// KiB per idle connection, more than anything else it keeps. So between
// messages the goroutine waits for the socket to become readable on its own
// (waitReadable, a stack of a few frames that garbage collection shrinks to
// the minimum), and only then enters gorilla, which has a message to read.
//
// Two things make that exact. Gorilla reads through a bufio.Reader that may
// already hold the next frame; the connection is given one of ours
// (ownReaderHijacker), so its Buffered count is known. And gorilla handles
// control frames inside NextReader and goes on waiting for a data frame,
// deep again: a pong (browsers answer every keep-alive ping) or ping
// between messages is consumed here instead (consumeControlFrame).

// wsReadBufferSize is each connection's read buffer: protocol messages are
// small, and larger ones are read through it in pieces.
const wsReadBufferSize = 512

// ownReaderHijacker hands gorilla's Upgrade a connection whose buffered
// reader is ours. Gorilla reuses a hijacked reader when Upgrader's
// ReadBufferSize is 0 and the reader holds more than 256 bytes.
type ownReaderHijacker struct {
	http.ResponseWriter
	br *bufio.Reader
}

func (h *ownReaderHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil || brw.Reader.Buffered() > 0 {
		// Gorilla refuses a client that sent data before the handshake
		// ended; that data is in net/http's reader, which it must see.
		return conn, brw, err
	}
	h.br = bufio.NewReaderSize(conn, wsReadBufferSize)
	return conn, bufio.NewReadWriter(h.br, brw.Writer), nil
}

// awaitMessage returns once a data frame (or anything but a ping or pong)
// is next on the connection, or with the read error, a timeout when the
// read deadline passed.
func (c *wsConn) awaitMessage() error {
	if c.br == nil {
		return nil // gorilla's own reader: NextReader waits
	}
	for {
		if c.br.Buffered() == 0 {
			if err := waitReadable(c.conn.NetConn()); err != nil {
				return err
			}
		}
		if !c.consumeControlFrame() {
			return nil
		}
	}
}

// consumeControlFrame reads a ping or pong frame that is next on the
// connection, answering a ping, and reports whether it did. Anything else,
// including a malformed frame, is left for gorilla to read and judge.
func (c *wsConn) consumeControlFrame() bool {
	const (
		finBit  = 0x80
		rsvBits = 0x70
		maskBit = 0x80
	)
	hdr, err := c.br.Peek(2)
	if err != nil {
		return false
	}
	op, n := int(hdr[0]&0x0f), int(hdr[1]&0x7f)
	if hdr[0]&finBit == 0 || hdr[0]&rsvBits != 0 || hdr[1]&maskBit == 0 || n > 125 ||
		(op != websocket.PingMessage && op != websocket.PongMessage) {
		return false
	}
	frame, err := c.br.Peek(2 + 4 + n)
	if err != nil {
		return false
	}
	var payload []byte
	if op == websocket.PingMessage && n > 0 {
		payload = make([]byte, n)
		for i := range payload {
			payload[i] = frame[6+i] ^ frame[2+i%4]
		}
	}
	_, _ = c.br.Discard(len(frame))
	c.extendReadDeadline()
	if op == websocket.PingMessage {
		c.pong(payload)
	}
	return true
}
