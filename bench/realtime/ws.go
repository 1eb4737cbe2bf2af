package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// wsClient is one graphql-transport-ws connection carrying one subscription.
type wsClient struct {
	conn    *websocket.Conn
	wmu     sync.Mutex // gorilla allows one writer at a time
	closing atomic.Bool
}

// The generator's own buffers are small: it holds thousands of connections
// and every frame it reads or writes is a few hundred bytes.
var wsDialer = &websocket.Dialer{
	NetDialContext:   localDial,
	HandshakeTimeout: 30 * time.Second,
	Subprotocols:     []string{"graphql-transport-ws"},
	ReadBufferSize:   2048,
	WriteBufferSize:  1024,
	WriteBufferPool:  &sync.Pool{},
}

// localDial dials from 127.0.0.1, so every connection stays on loopback.
func localDial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, Timeout: 30 * time.Second}
	return d.DialContext(ctx, network, addr)
}

// openWS connects, authenticates with connection_init and subscribes; it
// returns once the subscribe message is written. The subscription is live
// on the server some time later: the driver learns it from a delivery.
func openWS(ctx context.Context, wsURL, token string, sub []byte, idx int, rec *recorder) (*wsClient, error) {
	conn, resp, err := wsDialer.DialContext(ctx, wsURL, http.Header{})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket upgrade: %s: %w", resp.Status, err)
		}
		return nil, fmt.Errorf("websocket dial: %w", err)
	}
	c := &wsClient{conn: conn}
	if conn.Subprotocol() != "graphql-transport-ws" {
		c.close()
		return nil, fmt.Errorf("server chose subprotocol %q", conn.Subprotocol())
	}
	if err := c.write(initFrame(token)); err != nil {
		c.close()
		return nil, err
	}
	if err := c.awaitAck(30 * time.Second); err != nil {
		c.close()
		return nil, err
	}
	if err := c.write(sub); err != nil {
		c.close()
		return nil, err
	}
	go c.read(idx, rec)
	return c, nil
}

func (c *wsClient) write(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	return c.conn.WriteMessage(websocket.TextMessage, frame)
}

func (c *wsClient) awaitAck(timeout time.Duration) error {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	defer c.conn.SetReadDeadline(time.Time{})
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return fmt.Errorf("waiting for connection_ack: %w", err)
		}
		f, err := parseWSFrame(data)
		if err != nil {
			return err
		}
		switch f.Type {
		case "connection_ack":
			return nil
		case "ping":
			if err := c.write(pongFrame); err != nil {
				return err
			}
		case "pong", "ka": // ka only in the legacy protocol; harmless
		default:
			return fmt.Errorf("waiting for connection_ack, got %s %s", f.Type, f.Payload)
		}
	}
}

// read handles the server's messages until the connection ends.
func (c *wsClient) read(idx int, rec *recorder) {
	for {
		_, data, err := c.conn.ReadMessage()
		recv := time.Now()
		if err != nil {
			if !c.closing.Load() {
				rec.streamEnded(idx, err)
			}
			return
		}
		// Events are kept whole and parsed after the phase; only the other,
		// rare messages are parsed here.
		if bytes.Contains(data, nextType) {
			rec.receive(idx, data, true, recv)
			continue
		}
		f, err := parseWSFrame(data)
		if err != nil {
			rec.badFrames.Add(1)
			rec.noteError(err.Error())
			continue
		}
		switch f.Type {
		case "next":
			rec.receive(idx, data, true, recv)
		case "ping":
			_ = c.write(pongFrame)
		case "pong":
		case "error":
			rec.streamEnded(idx, fmt.Errorf("error message: %w", parseErrorPayload(f.Payload)))
		case "complete":
			rec.streamEnded(idx, errors.New("complete"))
		default:
			rec.badFrames.Add(1)
			rec.noteError("unexpected message type " + f.Type)
		}
	}
}

// nextType marks a next message. No event payload can contain it: the
// OrderEvent fields selected hold no such string.
var nextType = []byte(`"type":"next"`)

// close drops the connection with a reset rather than the closing
// handshake: the run is over, and a reset leaves no TIME_WAIT behind to use
// up loopback ports for the next run.
func (c *wsClient) close() {
	c.closing.Store(true)
	if tc, ok := c.conn.NetConn().(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.conn.Close()
}
