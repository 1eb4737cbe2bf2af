//go:build unix

package server

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// startWrite on a real socket: what fits goes at once; once the peer stops
// reading it hands back, as its own copy, exactly what the socket did not
// take, without waiting; a peer that reset the connection is an error.
func TestStartWriteNeverWaits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	raw := rawConnOf(server)
	if raw == nil {
		t.Fatal("no raw socket for a TCP connection")
	}

	msg := []byte("hello")
	if rest, err := startWrite(raw, msg); rest != nil || err != nil {
		t.Fatalf("startWrite(%q) = %q, %v; want all of it taken", msg, rest, err)
	}
	got := make([]byte, len(msg))
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("the peer read %q, %v", got, err)
	}

	// The client reads nothing more: the buffers fill up, and a write then
	// returns at once with what is left.
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	var sent int
	var rest []byte
	deadline := time.Now().Add(10 * time.Second)
	for rest == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the socket still took bytes after %d", sent)
		}
		start := time.Now()
		rest, err = startWrite(raw, chunk)
		if err != nil {
			t.Fatalf("startWrite after %d bytes: %v", sent, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("startWrite waited %v", d)
		}
		sent += len(chunk) - len(rest)
	}
	if len(rest) == 0 || len(rest) > len(chunk) || !bytes.Equal(rest, chunk[len(chunk)-len(rest):]) {
		t.Fatalf("rest is %d bytes, not the %d-byte chunk's tail", len(rest), len(chunk))
	}
	rest[0] = 'y'
	if chunk[len(chunk)-len(rest)] != 'x' {
		t.Fatal("rest shares the caller's buffer")
	}

	// A reset peer: an error, at once (after at most one write the kernel
	// still accepted before the reset arrived).
	_ = client.(*net.TCPConn).SetLinger(0)
	_ = client.Close()
	for i := 0; ; i++ {
		if _, err := startWrite(raw, msg); err != nil {
			break
		}
		if i == 100 {
			t.Fatal("writes to a reset connection kept succeeding")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
