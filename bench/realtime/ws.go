package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// The generator's WebSocket client (RFC 6455), written for the one job:
// many connections that each carry one graphql-transport-ws subscription
// and mostly read. The handshake and connection_init/connection_ack run
// synchronously on the connection; then the connection goes to the readers
// (reader.go), and wsStream parses what arrives.

// localDial dials from 127.0.0.1, so every connection stays on loopback.
func localDial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, Timeout: 30 * time.Second}
	return d.DialContext(ctx, network, addr)
}

// openWS connects, upgrades, authenticates with connection_init and
// subscribes; it returns once the subscribe message is written. The
// subscription is live on the server some time later: the driver learns it
// from a delivery.
func openWS(ctx context.Context, wsURL, token string, sub []byte, idx int, rec *recorder, rd readers) (subscriberConn, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return nil, err
	}
	conn, err := localDial(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("websocket dial: %w", err)
	}
	br, err := wsHandshake(conn, u)
	if err == nil {
		err = wsInit(conn, br, token, sub)
	}
	if err != nil {
		resetClose(conn)
		return nil, err
	}
	// What the reader already holds past connection_ack belongs to the
	// stream.
	leftover, _ := br.Peek(br.Buffered())
	s := &wsStream{idx: idx, rec: rec}
	send, closeConn, err := rd.add(conn, bytes.Clone(leftover), s)
	if err != nil {
		resetClose(conn)
		return nil, err
	}
	s.send = send
	return openStream(closeConn), nil
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsHandshake sends the upgrade request asking for graphql-transport-ws
// and checks the server's answer.
func wsHandshake(conn net.Conn, u *url.URL) (*bufio.Reader, error) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n",
		u.RequestURI(), u.Host, key)
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, fmt.Errorf("websocket upgrade: %w", err)
	}
	br := bufio.NewReaderSize(conn, 1024)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return nil, fmt.Errorf("websocket upgrade: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return nil, fmt.Errorf("websocket upgrade: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, errors.New("websocket upgrade: wrong Sec-WebSocket-Accept")
	}
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "graphql-transport-ws" {
		return nil, fmt.Errorf("server chose subprotocol %q", p)
	}
	return br, nil
}

// wsInit sends connection_init, waits for connection_ack (answering pings)
// and sends the subscription.
func wsInit(conn net.Conn, br *bufio.Reader, token string, sub []byte) error {
	if _, err := conn.Write(clientFrame(opText, initFrame(token))); err != nil {
		return err
	}
	for {
		op, payload, err := readServerFrame(br)
		if err != nil {
			return fmt.Errorf("waiting for connection_ack: %w", err)
		}
		switch op {
		case opPing:
			if _, err := conn.Write(clientFrame(opPong, payload)); err != nil {
				return err
			}
			continue
		case opPong:
			continue
		case opClose:
			return fmt.Errorf("waiting for connection_ack: %w", closeError(payload))
		case opText:
		default:
			return fmt.Errorf("waiting for connection_ack: frame opcode %d", op)
		}
		f, err := parseWSFrame(payload)
		if err != nil {
			return err
		}
		switch f.Type {
		case "connection_ack":
			_ = conn.SetDeadline(time.Time{})
			_, err := conn.Write(clientFrame(opText, sub))
			return err
		case "ping":
			if _, err := conn.Write(clientFrame(opText, pongFrame)); err != nil {
				return err
			}
		case "pong":
		default:
			return fmt.Errorf("waiting for connection_ack, got %s %s", f.Type, f.Payload)
		}
	}
}

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// clientFrame is one final frame from the client: masked, as RFC 6455 5.3
// requires.
func clientFrame(op byte, payload []byte) []byte {
	n := len(payload)
	b := make([]byte, 0, 14+n)
	b = append(b, 0x80|op)
	switch {
	case n <= 125:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// parseServerFrame reads one frame from the front of p: its opcode, FIN
// bit, payload and size; size 0 when p does not hold all of it yet.
func parseServerFrame(p []byte) (op byte, fin bool, payload []byte, size int, err error) {
	if len(p) < 2 {
		return 0, false, nil, 0, nil
	}
	if p[0]&0x70 != 0 {
		return 0, false, nil, 0, errors.New("frame with reserved bits set")
	}
	if p[1]&0x80 != 0 {
		return 0, false, nil, 0, errors.New("masked frame from the server")
	}
	op, fin = p[0]&0x0f, p[0]&0x80 != 0
	n, hdr := uint64(p[1]&0x7f), 2
	switch n {
	case 126:
		if len(p) < 4 {
			return 0, false, nil, 0, nil
		}
		n, hdr = uint64(binary.BigEndian.Uint16(p[2:])), 4
	case 127:
		if len(p) < 10 {
			return 0, false, nil, 0, nil
		}
		n, hdr = binary.BigEndian.Uint64(p[2:]), 10
	}
	if n > 16<<20 {
		return 0, false, nil, 0, fmt.Errorf("frame of %d bytes", n)
	}
	if uint64(len(p)-hdr) < n {
		return 0, false, nil, 0, nil
	}
	return op, fin, p[hdr : hdr+int(n)], hdr + int(n), nil
}

// readServerFrame reads one whole, unfragmented frame from br.
func readServerFrame(br *bufio.Reader) (op byte, payload []byte, err error) {
	for need := 2; ; {
		p, err := br.Peek(need)
		if err != nil && len(p) < need {
			return 0, nil, err
		}
		op, fin, payload, size, err := parseServerFrame(p)
		if err != nil {
			return 0, nil, err
		}
		if size > 0 {
			if !fin {
				return 0, nil, errors.New("fragmented frame during the handshake")
			}
			payload = bytes.Clone(payload)
			_, _ = br.Discard(size)
			return op, payload, nil
		}
		need = len(p) + 1
		if need > br.Size() {
			return 0, nil, errors.New("frame larger than the handshake buffer")
		}
	}
}

// afterLeftover is b, or b appended to what an earlier read left
// unfinished in *left: a read that completes everything it holds is parsed
// where it was read, without a copy.
func afterLeftover(left *[]byte, b []byte) []byte {
	if len(*left) == 0 {
		return b
	}
	*left = append(*left, b...)
	return *left
}

func closeError(payload []byte) error {
	if len(payload) < 2 {
		return errors.New("websocket closed")
	}
	return fmt.Errorf("websocket closed: %d %s", binary.BigEndian.Uint16(payload), payload[2:])
}

// wsStream parses the server's frames as they arrive and handles the
// graphql-transport-ws messages they carry.
type wsStream struct {
	idx  int
	rec  *recorder
	send func([]byte) error

	pending []byte // the start of a frame not read whole yet
	message []byte // the fragments of a message not finished yet
}

func (s *wsStream) data(b []byte, recv int64) bool {
	p := afterLeftover(&s.pending, b)
	for {
		op, fin, payload, size, err := parseServerFrame(p)
		if err != nil {
			s.end(err)
			return false
		}
		if size == 0 {
			break
		}
		p = p[size:]
		switch op {
		case opPing:
			if err := s.send(clientFrame(opPong, payload)); err != nil {
				s.end(fmt.Errorf("answering a ping: %w", err))
				return false
			}
		case opPong:
		case opClose:
			s.end(closeError(payload))
			return false
		case opText, opContinuation:
			if !fin || len(s.message) > 0 {
				s.message = append(s.message, payload...)
				if !fin {
					continue
				}
				payload, s.message = s.message, nil
			}
			if !s.handle(payload, recv) {
				return false
			}
		default:
			s.end(fmt.Errorf("frame opcode %d", op))
			return false
		}
	}
	s.pending = append(s.pending[:0], p...) // p may be a tail of pending: copy moves it down
	return true
}

// handle records a next message as it is, for parsing after the phase, and
// handles the rare others here.
func (s *wsStream) handle(msg []byte, recv int64) bool {
	if bytes.Contains(msg, nextType) {
		s.rec.receive(s.idx, msg, true, recv)
		return true
	}
	f, err := parseWSFrame(msg)
	if err != nil {
		s.rec.badFrames.Add(1)
		s.rec.noteError(err.Error())
		return true
	}
	switch f.Type {
	case "next":
		s.rec.receive(s.idx, msg, true, recv)
	case "ping":
		if err := s.send(clientFrame(opText, pongFrame)); err != nil {
			s.end(fmt.Errorf("answering a ping: %w", err))
			return false
		}
	case "pong":
	case "error":
		s.end(fmt.Errorf("error message: %w", parseErrorPayload(f.Payload)))
		return false
	case "complete":
		s.end(errors.New("complete"))
		return false
	default:
		s.rec.badFrames.Add(1)
		s.rec.noteError("unexpected message type " + f.Type)
	}
	return true
}

func (s *wsStream) end(why error) { s.rec.streamEnded(s.idx, why) }

func (s *wsStream) lost(err error) { s.rec.streamEnded(s.idx, err) }

// nextType marks a next message. No event payload can contain it: the
// OrderEvent fields selected hold no such string.
var nextType = []byte(`"type":"next"`)
