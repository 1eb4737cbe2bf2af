package server

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

// gorillaWebsocket accepts GraphQL websockets with gorilla/websocket. gqlgen's
// transport speaks both graphql-transport-ws and the legacy graphql-ws over
// whatever WebsocketImplementation it is given; gorilla's Upgrader gives us an
// explicit origin check.
type gorillaWebsocket struct {
	upgrader websocket.Upgrader
}

var _ transport.WebsocketImplementation = gorillaWebsocket{}

// newGorillaWebsocket accepts same-origin browsers, clients that send no Origin
// (programs, not browsers), and the extra origins listed ("*" for any).
func newGorillaWebsocket(allowedOrigins []string) gorillaWebsocket {
	return gorillaWebsocket{upgrader: websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		CheckOrigin: func(r *http.Request) bool {
			origin := r.Header.Get("Origin")
			if origin == "" || slices.Contains(allowedOrigins, "*") || slices.Contains(allowedOrigins, origin) {
				return true
			}
			u, err := url.Parse(origin)
			return err == nil && strings.EqualFold(u.Host, r.Host)
		},
		// gqlgen answers a failed upgrade itself; writing here too would send
		// two responses.
		Error: func(http.ResponseWriter, *http.Request, int, error) {},
	}}
}

func (g gorillaWebsocket) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	u := g.upgrader
	u.Subprotocols = slices.Clone(u.Subprotocols)
	for _, p := range opts.Subprotocols {
		if !slices.Contains(u.Subprotocols, p) {
			u.Subprotocols = append(u.Subprotocols, p)
		}
	}
	conn, err := u.Upgrade(w, r, opts.ResponseHeader)
	if err != nil {
		return nil, err
	}
	return &gorillaConn{conn: conn}, nil
}

// gorillaConn adapts *websocket.Conn to gqlgen's WebsocketConn. gqlgen already
// serializes its writes; the mutex keeps that true should it ever not.
type gorillaConn struct {
	conn *websocket.Conn
	mu   sync.Mutex
}

var (
	_ transport.WebsocketConn          = (*gorillaConn)(nil)
	_ transport.WebsocketReadLimiter   = (*gorillaConn)(nil)
	_ transport.WebsocketReadDeadliner = (*gorillaConn)(nil)
)

// writeTimeout bounds a write to a client that stopped reading, so one stuck
// client cannot hold a goroutine forever.
const writeTimeout = 10 * time.Second

func (c *gorillaConn) Close() error { return c.conn.Close() }

func (c *gorillaConn) NextReader() (int, io.Reader, error) {
	t, r, err := c.conn.NextReader()
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseNoStatusReceived) {
		return t, nil, transport.ErrWebsocketClosed
	}
	return t, r, err
}

func (c *gorillaConn) WriteJSON(v any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.conn.WriteJSON(v)
}

func (c *gorillaConn) WriteClose(code int, message string) error {
	return c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, message), time.Now().Add(time.Second))
}

func (c *gorillaConn) Subprotocol() string { return c.conn.Subprotocol() }

func (c *gorillaConn) SetReadLimit(limit int64) { c.conn.SetReadLimit(limit) }

func (c *gorillaConn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }
