package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchyard/switchyard"
)

// GraphQL over WebSocket, both subprotocols:
//
//   - graphql-transport-ws (github.com/enisdenjo/graphql-ws, PROTOCOL.md):
//     every protocol violation closes the socket with the code the protocol
//     names: 4400 invalid message, 4401 subscribe before connection_ack, 4403
//     a refused token, 4406 unsupported subprotocol, 4408 no connection_init
//     in time, 4409 an operation id already in use, 4429 a second
//     connection_init, 4500 an internal error.
//   - graphql-ws, the legacy subscriptions-transport-ws protocol: it names
//     no close codes, so a malformed frame gets connection_error and a bad
//     operation an error message, and the connection stays open, as its
//     reference server does; a refused token and start before
//     connection_init close it (4403, 4401) after connection_error.
//
// gqlgen's own transport is not used: it closes with 1000 or 1002 where the
// protocol names codes, accepts duplicate operation ids and has no limit on
// operations per connection.
//
// Dead peers: the server sends a WebSocket ping every KeepAlive and expects
// some frame (a pong at least: browsers and ws answer pings themselves)
// within KeepAlive+PongWait, else it drops the connection and ends its
// operations. Legacy clients also get the protocol's "ka" every KeepAlive.
// A message larger than the read limit closes with 1009.
const (
	subprotocolTransportWS = "graphql-transport-ws"
	subprotocolLegacy      = "graphql-ws"

	closeBadRequest       = 4400
	closeUnauthorized     = 4401
	closeForbidden        = 4403
	closeSubprotocol      = 4406
	closeInitTimeout      = 4408
	closeDuplicateID      = 4409
	closeTooManyInits     = 4429
	closeInternalError    = 4500
	closeNormal           = websocket.CloseNormalClosure
	closeMessageTooBig    = websocket.CloseMessageTooBig
	maxCloseReasonBytes   = 123
	defaultMaxOperations  = 100
	defaultInitTimeout    = 10 * time.Second
	legacyConnectionError = "connection_error"
)

type wsTransport struct {
	origins     originPolicy
	auth        *authenticator
	log         *slog.Logger
	present     graphql.ErrorPresenterFunc
	keepAlive   time.Duration
	pongWait    time.Duration
	initTimeout time.Duration
	readLimit   int64
	maxOps      int
	results     *sharedResults
	upgrader    websocket.Upgrader
}

var _ graphql.Transport = (*wsTransport)(nil)

func newWSTransport(cfg Config, auth *authenticator, present graphql.ErrorPresenterFunc, results *sharedResults) *wsTransport {
	t := &wsTransport{
		origins:     newOriginPolicy(cfg.AllowedOrigins),
		auth:        auth,
		log:         cfg.Logger,
		present:     present,
		keepAlive:   cfg.KeepAlive,
		pongWait:    cfg.PongWait,
		initTimeout: cfg.InitTimeout,
		readLimit:   cfg.WebsocketReadLimit,
		maxOps:      cfg.MaxOperationsPerConnection,
		results:     results,
	}
	t.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		Subprotocols:     []string{subprotocolTransportWS, subprotocolLegacy},
		// Checked in Do, with a clearer refusal than gorilla's.
		CheckOrigin: func(*http.Request) bool { return true },
		// Idle connections share write buffers instead of holding one each,
		// and read through a small buffer of their own: net/http's 4 KiB one
		// is dropped with the handler (see Do).
		WriteBufferPool: &sync.Pool{},
		// 0: read through the reader the hijack hands over, which is ours
		// (ownReaderHijacker, wsidle.go).
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			writeError(w, status, switchyard.EINVALID, "websocket upgrade failed: "+reason.Error())
		},
	}
	return t
}

func (t *wsTransport) Supports(r *http.Request) bool { return r.Header.Get("Upgrade") != "" }

func (t *wsTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if !t.origins.allowed(r) {
		writeError(w, http.StatusForbidden, switchyard.EFORBIDDEN,
			fmt.Sprintf("origin %s may not open websockets here; allow it with SWITCHYARD_ALLOWED_ORIGINS", r.Header.Get("Origin")))
		return
	}
	requested := websocket.Subprotocols(r)
	hj := &ownReaderHijacker{ResponseWriter: w}
	conn, err := t.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	c := &wsConn{
		t: t, conn: conn, br: hj.br, op: operation{exec: exec, present: t.present, log: t.log, results: t.results},
		wlock: newWriteLock(), raw: rawConnOf(conn.NetConn()),
		ops: map[string]*wsOp{},
	}
	switch conn.Subprotocol() {
	case subprotocolTransportWS:
	case subprotocolLegacy:
		c.legacy = true
	default:
		if len(requested) > 0 {
			c.closeWith(closeSubprotocol, "Subprotocol not acceptable")
			return
		}
		// No subprotocol asked for: the legacy protocol, as clients that
		// predate subprotocol negotiation expect.
		c.legacy = true
	}
	// The connection runs on its own goroutine and the handler returns:
	// net/http keeps a connection's buffers, request and deep handler stack
	// for as long as its handler runs, which for a websocket is its whole
	// life. Its context keeps the request's values and ends with the
	// server's streams instead.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	stop := func() bool { return true }
	if streams, ok := r.Context().Value(streamsKey{}).(context.Context); ok {
		stop = context.AfterFunc(streams, cancel)
	}
	go func() {
		defer stop()
		defer cancel()
		c.serve(ctx)
	}()
}

// wsConn is one connection.
type wsConn struct {
	t      *wsTransport
	conn   *websocket.Conn
	br     *bufio.Reader // gorilla's reader, ours: see wsidle.go; nil when not
	op     operation
	legacy bool

	// wlock is held by every write, gorilla's control frames included:
	// a delivery may write part of a frame without the poller's lock
	// (trySendPayload) and leave the rest to a goroutine.
	wlock writeLock
	raw   syscall.RawConn // the socket, for trySendPayload; nil if none

	mu     sync.Mutex
	ctx    context.Context // the connection's: request id, caller once known
	inited bool
	acked  bool
	closed bool
	ops    map[string]*wsOp
	wg     sync.WaitGroup
}

type wsOp struct {
	cancel context.CancelFunc
	// stopped is set when the client ended the operation; nothing more is
	// sent for it.
	stopped atomic.Bool
}

type wsMessage struct {
	ID      *string         `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func (c *wsConn) serve(reqCtx context.Context) {
	ctx, cancel := context.WithCancel(reqCtx)
	c.ctx = ctx
	// Server shutdown ends the request context. A normal close, with
	// subscriptions still open, is what graphql-ws clients retry on: they
	// reconnect (elsewhere) and resume.
	stopOnDone := context.AfterFunc(ctx, func() { c.closeWith(closeNormal, "server closing the connection") })
	defer func() {
		stopOnDone()
		cancel()
		c.closeWith(closeNormal, "terminated")
		c.wg.Wait()
	}()

	initTimer := time.AfterFunc(c.t.initTimeout, func() {
		c.mu.Lock()
		acked := c.acked
		c.mu.Unlock()
		if !acked {
			c.closeWith(closeInitTimeout, "Connection initialisation timeout")
		}
	})
	defer initTimer.Stop()

	c.extendReadDeadline()
	c.conn.SetPongHandler(func(string) error { c.extendReadDeadline(); return nil })
	// Gorilla's own handlers answer without wlock.
	c.conn.SetPingHandler(func(payload string) error { c.pong([]byte(payload)); return nil })
	c.conn.SetCloseHandler(func(code int, _ string) error { c.closeWith(code, ""); return nil })
	var pinger *time.Timer
	pinger = time.AfterFunc(c.t.keepAlive, func() {
		if c.isClosed() {
			return
		}
		c.wlock.lock()
		err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout))
		c.wlock.unlock()
		if err != nil {
			c.closeWith(closeNormal, "terminated")
			return
		}
		if c.legacy && c.isAcked() {
			c.send(wsMessage{Type: "ka"})
		}
		pinger.Reset(c.t.keepAlive)
	})
	defer pinger.Stop()

	for {
		err := c.awaitMessage()
		if err == nil {
			err = c.readMessage()
		}
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() && !c.isClosed() {
				c.t.log.InfoContext(ctx, "websocket: peer stopped answering pings; dropping it", "request_id", RequestIDFromContext(ctx))
			}
			return
		}
	}
}

// errStopReading ends the read loop after the connection was closed with a
// reason of its own.
var errStopReading = errors.New("stop reading")

// readMessage reads and handles one message.
func (c *wsConn) readMessage() error {
	typ, r, err := c.conn.NextReader()
	if err != nil {
		return err
	}
	c.extendReadDeadline()
	data, err := io.ReadAll(io.LimitReader(r, c.t.readLimit+1))
	if err != nil {
		return err
	}
	if int64(len(data)) > c.t.readLimit {
		c.closeWith(closeMessageTooBig, fmt.Sprintf("message too big: the limit is %d bytes", c.t.readLimit))
		return errStopReading
	}
	if typ != websocket.TextMessage {
		if !c.invalid("Invalid message received: binary frames are not part of the protocol") {
			return errStopReading
		}
		return nil
	}
	if !c.handle(data) {
		return errStopReading
	}
	return nil
}

// extendReadDeadline gives the peer another keep-alive interval and the
// pong wait to send something, after anything it sent.
func (c *wsConn) extendReadDeadline() {
	_ = c.conn.SetReadDeadline(time.Now().Add(c.t.keepAlive + c.t.pongWait))
}

// pong answers a ping the client sent.
func (c *wsConn) pong(payload []byte) {
	c.wlock.lock()
	err := c.conn.WriteControl(websocket.PongMessage, payload, time.Now().Add(writeTimeout))
	c.wlock.unlock()
	if err != nil {
		go c.closeWith(closeNormal, "terminated")
	}
}

// handle processes one message and reports whether to keep reading.
func (c *wsConn) handle(data []byte) bool {
	var m wsMessage
	if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
		return c.invalid("Invalid message received: not a JSON object with a type")
	}
	id := ""
	if m.ID != nil {
		id = *m.ID
	}
	switch {
	case m.Type == "connection_init":
		return c.init(m.Payload)
	case !c.legacy && m.Type == "ping":
		c.send(wsMessage{Type: "pong", Payload: m.Payload})
		return true
	case !c.legacy && m.Type == "pong":
		return true
	case !c.legacy && m.Type == "subscribe", c.legacy && m.Type == "start":
		return c.subscribe(id, m.ID != nil, m.Payload)
	case !c.legacy && m.Type == "complete", c.legacy && m.Type == "stop":
		c.stop(id)
		return true
	case c.legacy && m.Type == "connection_terminate":
		c.closeWith(closeNormal, "terminated")
		return false
	}
	if c.legacy {
		c.sendErrors(id, gqlerror.Errorf("unknown message type %q", m.Type))
		return true
	}
	return c.invalid(fmt.Sprintf("Invalid message received: unexpected message type %q", m.Type))
}

// invalid answers a malformed message and reports whether to keep reading.
func (c *wsConn) invalid(reason string) bool {
	if c.legacy {
		c.send(wsMessage{Type: legacyConnectionError, Payload: mustJSON(gqlerror.Errorf("%s", reason))})
		return true
	}
	c.closeWith(closeBadRequest, reason)
	return false
}

func (c *wsConn) init(payload json.RawMessage) bool {
	c.mu.Lock()
	again := c.inited
	c.inited = true
	c.mu.Unlock()
	if again {
		c.refuse(closeTooManyInits, "Too many initialisation requests")
		return false
	}
	var p map[string]any
	if len(payload) > 0 && !bytes.Equal(payload, []byte("null")) {
		if err := json.Unmarshal(payload, &p); err != nil {
			return c.invalid("Invalid message received: connection_init payload must be an object")
		}
	}
	ctx := c.connContext()
	caller, err := c.t.auth.authenticate(ctx, initAuthorization(p))
	switch {
	case errors.Is(err, errNoCredential):
		// The upgrade request's Authorization header, if any, stands.
	case err == nil:
		ctx = switchyard.NewContextWithCaller(ctx, caller)
	case switchyard.ErrorCode(err) == switchyard.EUNAUTHENTICATED:
		c.refuse(closeForbidden, "Forbidden: "+switchyard.ErrorMessage(err))
		return false
	default:
		id := RequestIDFromContext(ctx)
		c.t.log.ErrorContext(ctx, "websocket: authenticate", "request_id", id, "error", err.Error())
		c.refuse(closeInternalError, internalMessage+"; request id "+id)
		return false
	}
	c.mu.Lock()
	c.ctx, c.acked = ctx, true
	c.mu.Unlock()
	c.send(wsMessage{Type: "connection_ack"})
	if c.legacy {
		c.send(wsMessage{Type: "ka"})
	}
	return true
}

// initAuthorization reads the token from a connection_init payload:
// {"Authorization": "Bearer <token>"}, the key in any case.
func initAuthorization(p map[string]any) string {
	for k, v := range p {
		if strings.EqualFold(k, "Authorization") {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// refuse ends the connection; legacy clients read why in connection_error.
func (c *wsConn) refuse(code int, reason string) {
	if c.legacy {
		c.send(wsMessage{Type: legacyConnectionError, Payload: mustJSON(gqlerror.Errorf("%s", reason))})
	}
	c.closeWith(code, reason)
}

func (c *wsConn) subscribe(id string, hasID bool, payload json.RawMessage) bool {
	if !c.isAcked() {
		c.refuse(closeUnauthorized, "Unauthorized")
		return false
	}
	var params graphql.RawParams
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	valid := hasID && id != "" && len(payload) > 0 && dec.Decode(&params) == nil && (params.Query != "" || params.Extensions != nil)
	if !valid {
		if c.legacy {
			c.sendErrors(id, gqlerror.Errorf("a start message needs an id and a payload with a query"))
			return true
		}
		return c.invalid("Invalid message received: subscribe needs an id and a payload with a query")
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if _, dup := c.ops[id]; dup {
		c.mu.Unlock()
		if c.legacy {
			c.sendErrors(id, gqlerror.Errorf("an operation with id %q is already running on this connection", id))
			return true
		}
		c.closeWith(closeDuplicateID, fmt.Sprintf("Subscriber for %s already exists", id))
		return false
	}
	if len(c.ops) >= c.t.maxOps {
		c.mu.Unlock()
		e := gqlerror.Errorf("this connection already runs %d operations, the limit; complete one or open another connection", c.t.maxOps)
		e.Extensions = map[string]any{"code": switchyard.ERATELIMITED}
		c.sendErrors(id, e)
		return true
	}
	ctx, cancel := context.WithCancel(c.ctx)
	op := &wsOp{cancel: cancel}
	c.ops[id] = op
	c.wg.Add(1)
	c.mu.Unlock()

	go c.run(ctx, id, op, &params)
	return true
}

func (c *wsConn) stop(id string) {
	c.mu.Lock()
	op := c.ops[id]
	if op != nil {
		// The id is the client's again at once: it may reuse it before this
		// operation has wound down.
		op.stopped.Store(true)
		delete(c.ops, id)
	}
	c.mu.Unlock()
	if op != nil {
		op.cancel()
	}
}

// run executes one operation and reports its results under id. A
// subscription is handed to a liveStream once open, and run returns: the
// stream finishes the operation when it ends.
func (c *wsConn) run(ctx context.Context, id string, op *wsOp, params *graphql.RawParams) {
	live := false
	defer func() {
		if !live {
			c.finish(id, op)
		}
	}()
	defer func() {
		if v := recover(); v != nil {
			rid := RequestIDFromContext(ctx)
			c.t.log.ErrorContext(ctx, "websocket: panic", "request_id", rid, "panic", fmt.Sprint(v))
			e := gqlerror.Errorf("%s", internalMessage)
			e.Extensions = map[string]any{"code": switchyard.EINTERNAL, "requestId": rid}
			c.sendErrors(id, e)
		}
	}()
	if caller := switchyard.CallerFromContext(ctx); caller != nil && !caller.ExpiresAt.IsZero() && !time.Now().Before(caller.ExpiresAt) {
		e := gqlerror.Errorf("token expired; reconnect with a new token")
		e.Extensions = map[string]any{"code": switchyard.EUNAUTHENTICATED}
		c.sendErrors(id, e)
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: graphql.Now(), End: graphql.Now()}
	data := "next"
	if c.legacy {
		data = "data"
	}
	out, end := c.op.run(ctx, params, "", runHooks{
		refused: func(errs gqlerror.List, resp *graphql.Response) {
			// Parse and validation errors have the protocol's error message;
			// other refusals before execution are a result, then complete,
			// as graphql-ws's reference server sends them.
			if errcode.GetErrorKind(errs) == errcode.KindProtocol {
				c.sendErrors(id, resp.Errors...)
				return
			}
			c.send(wsMessage{ID: &id, Type: data, Payload: mustJSON(resp)})
			c.send(wsMessage{ID: &id, Type: "complete"})
		},
		result: func(r result) bool {
			return !op.stopped.Load() && c.sendRaw(appendMessage(nil, id, data, r.resp))
		},
		live: func(ls *liveStream) {
			live = true
			prefix := appendMessagePrefix(nil, id, data)
			ls.deliver = func(r *sharedResult) bool {
				return !op.stopped.Load() && c.sendPayload(prefix, r.payload)
			}
			ls.tryDeliver = func(r *sharedResult) quickOutcome {
				if op.stopped.Load() {
					return quickGone
				}
				return c.trySendPayload(prefix, r.payload)
			}
			ls.end = func(out outcome, end *gqlerror.Error) {
				defer c.finish(id, op)
				c.last(id, op, out, end)
			}
			ls.start()
		},
	})
	if out != outcomeLive {
		c.last(id, op, out, end)
	}
}

// finish releases an operation that has said its last word.
func (c *wsConn) finish(id string, op *wsOp) {
	op.cancel()
	c.mu.Lock()
	if c.ops[id] == op {
		delete(c.ops, id)
	}
	c.mu.Unlock()
	c.wg.Done()
}

// last sends how an operation ended, unless the client ended it.
func (c *wsConn) last(id string, op *wsOp, out outcome, end *gqlerror.Error) {
	if op.stopped.Load() {
		return // the client ended it and expects nothing more
	}
	switch out {
	case outcomeCompleted:
		c.send(wsMessage{ID: &id, Type: "complete"})
	case outcomeFailed:
		c.sendErrors(id, end)
	}
}

func (c *wsConn) sendErrors(id string, errs ...*gqlerror.Error) {
	m := wsMessage{Type: "error", Payload: mustJSON(errs)}
	if id != "" {
		m.ID = &id
	}
	c.send(m)
}

// send writes m and reports whether the connection still takes writes.
func (c *wsConn) send(m wsMessage) bool {
	if c.isClosed() {
		return false
	}
	c.wlock.lock()
	defer c.wlock.unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.conn.WriteJSON(m); err != nil {
		// A peer that cannot be written to is gone.
		go c.closeWith(closeNormal, "terminated")
		return false
	}
	return true
}

// appendMessage appends the message {"id":id,"type":typ,"payload":resp}
// without the second encoding pass WriteJSON would make over the payload:
// gqlgen's data is compact JSON already.
func appendMessage(b []byte, id, typ string, resp *graphql.Response) []byte {
	b = appendMessagePrefix(b, id, typ)
	b = appendResponse(b, resp)
	return append(b, '}')
}

// appendMessagePrefix appends a message up to its payload.
func appendMessagePrefix(b []byte, id, typ string) []byte {
	b = append(b, `{"id":`...)
	b = appendJSON(b, id)
	b = append(b, `,"type":`...)
	b = appendJSON(b, typ)
	return append(b, `,"payload":`...)
}

// appendResponse writes resp as json.Marshal would, copying Data as it is.
func appendResponse(b []byte, resp *graphql.Response) []byte {
	if len(resp.Errors) > 0 || resp.Label != "" || resp.Path != nil || resp.HasNext != nil || len(resp.Data) == 0 {
		return append(b, mustJSON(resp)...)
	}
	b = append(b, `{"data":`...)
	b = append(b, resp.Data...)
	if len(resp.Extensions) > 0 {
		b = append(b, `,"extensions":`...)
		b = appendJSON(b, resp.Extensions)
	}
	return append(b, '}')
}

func appendJSON(b []byte, v any) []byte { return append(b, mustJSON(v)...) }

// sendRaw writes one prepared text message.
func (c *wsConn) sendRaw(msg []byte) bool {
	if c.isClosed() {
		return false
	}
	c.wlock.lock()
	defer c.wlock.unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
		go c.closeWith(closeNormal, "terminated")
		return false
	}
	return true
}

// sendPayload writes the message prefix + payload + "}" without building it:
// the payload is shared by every subscriber of the operation.
func (c *wsConn) sendPayload(prefix, payload []byte) bool {
	if c.isClosed() {
		return false
	}
	c.wlock.lock()
	defer c.wlock.unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	w, err := c.conn.NextWriter(websocket.TextMessage)
	if err == nil {
		_, _ = w.Write(prefix)
		_, _ = w.Write(payload)
		_, _ = w.Write(closingBrace)
		err = w.Close()
	}
	if err != nil {
		go c.closeWith(closeNormal, "terminated")
		return false
	}
	return true
}

var closingBrace = []byte{'}'}

// trySendPayload is sendPayload without blocking: the message goes out as
// one frame built here, straight to the socket. When the socket takes only
// part of it, a goroutine writes the rest, holding the write lock until it
// has.
func (c *wsConn) trySendPayload(prefix, payload []byte) quickOutcome {
	if c.raw == nil {
		return quickBusy
	}
	if c.isClosed() {
		return quickGone
	}
	if !c.wlock.tryLock() {
		return quickBusy
	}
	buf := frameBuffers.Get().(*[]byte)
	frame := appendTextFrame((*buf)[:0], prefix, payload, closingBrace)
	rest, err := startWrite(c.raw, frame)
	*buf = frame
	frameBuffers.Put(buf)
	switch {
	case err != nil:
		c.wlock.unlock()
		go c.closeWith(closeNormal, "terminated")
		return quickGone
	case rest == nil:
		c.wlock.unlock()
		return quickSent
	}
	go func() {
		defer c.wlock.unlock()
		conn := c.conn.NetConn()
		_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := conn.Write(rest); err != nil {
			go c.closeWith(closeNormal, "terminated")
		}
	}()
	return quickSent
}

var frameBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendTextFrame appends one unmasked, final text frame (RFC 6455 5.2)
// holding the parts, as a server sends it.
func appendTextFrame(b []byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b = append(b, 0x80|websocket.TextMessage)
	switch {
	case n <= 125:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// closeWith closes the connection once, with code and reason, and ends its
// operations.
func (c *wsConn) closeWith(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	ops := make([]*wsOp, 0, len(c.ops))
	for _, op := range c.ops {
		ops = append(ops, op)
	}
	c.mu.Unlock()
	for _, op := range ops {
		op.cancel()
	}
	if len(reason) > maxCloseReasonBytes {
		reason = reason[:maxCloseReasonBytes]
	}
	// A write stuck on a peer that reads nothing keeps the lock until its
	// deadline: then the connection closes without the close frame.
	if c.wlock.lockWithin(time.Second) {
		_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		c.wlock.unlock()
	}
	_ = c.conn.Close()
}

func (c *wsConn) connContext() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctx
}

func (c *wsConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *wsConn) isAcked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked
}
