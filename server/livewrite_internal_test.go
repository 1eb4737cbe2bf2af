package server

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A frame the deliverers build is one gorilla reads back whole, at every
// length encoding (7-bit, 16-bit, 64-bit).
func TestAppendTextFrameReadsBack(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 200_000} {
		prefix := []byte(`{"id":"x","type":"next","payload":`)
		payload := []byte(`"` + strings.Repeat("a", n) + `"`)
		frame := appendTextFrame(nil, prefix, payload, closingBrace)

		client, server := net.Pipe()
		go func() {
			_, _ = server.Write(frame)
			server.Close()
		}()
		conn := readerConn(t, client)
		typ, got, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("length %d: %v", n, err)
		}
		want := string(prefix) + string(payload) + "}"
		if typ != websocket.TextMessage || string(got) != want {
			t.Fatalf("length %d: read %d bytes of type %d, want %d of text", n, len(got), typ, len(want))
		}
	}
}

// readerConn is a gorilla client connection on conn: the upgrade is
// answered here, and what follows is read from conn.
func readerConn(t *testing.T, conn net.Conn) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{
		NetDial:          func(string, string) (net.Conn, error) { return &handshakeConn{Conn: conn}, nil },
		HandshakeTimeout: 5 * time.Second,
	}
	c, _, err := d.Dial("ws://example/", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// handshakeConn answers the client's upgrade request with a 101 for its
// key, then reads from the connection.
type handshakeConn struct {
	net.Conn
	request bytes.Buffer
	reply   io.Reader
}

func (c *handshakeConn) Write(p []byte) (int, error) { return c.request.Write(p) }

func (c *handshakeConn) Read(p []byte) (int, error) {
	if c.reply == nil {
		req, err := http.ReadRequest(bufio.NewReader(&c.request))
		if err != nil {
			return 0, err
		}
		sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
		c.reply = io.MultiReader(strings.NewReader(head), c.Conn)
	}
	return c.reply.Read(p)
}
