package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/realtime/brokertest"
)

const servicesHint = "run `make services` and `eval \"$(make -s env)\"`"

func TestMemoryBroker(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) switchyard.Broker { return NewMemoryBroker() })
}

func TestRedisBroker(t *testing.T) {
	client := redisClient(t)
	brokertest.Run(t, func(t *testing.T) switchyard.Broker { return NewRedisBroker(client, testChannel(t)) })
}

// redisClient connects to REDIS_URL. Without a reachable Redis the test
// fails: a missing service is never a skip.
func redisClient(t testing.TB) *redis.Client {
	t.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		t.Fatalf("REDIS_URL is not set: %s", servicesHint)
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("REDIS_URL %q: %v", url, err)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis at REDIS_URL=%s does not answer (%v): %s", url, err, servicesHint)
	}
	return client
}

// testChannel is a channel no other test (or package) publishes on.
func testChannel(t testing.TB) string {
	b := make([]byte, 8)
	rand.Read(b)
	return "switchyard-test-" + hex.EncodeToString(b)
}

func TestLossyQueue(t *testing.T) {
	seqs := func(q *lossyQueue) []string {
		var out []string
		for len(q.ch) > 0 {
			if e := <-q.ch; e == nil {
				out = append(out, "nil")
			} else {
				out = append(out, strconv.FormatInt(e.Seq, 10))
			}
		}
		return out
	}
	ev := func(seq int64) *switchyard.Event { return &switchyard.Event{Seq: seq} }
	tests := []struct {
		name  string
		steps func(q *lossyQueue) []string
		want  string
	}{
		{"fits", func(q *lossyQueue) []string {
			q.offer(ev(1))
			q.offer(ev(2))
			q.offer(ev(3))
			return seqs(q)
		}, "[1 2 3]"},
		{"overflow leaves a nil in the last slot", func(q *lossyQueue) []string {
			for i := range 10 {
				q.offer(ev(int64(i + 1)))
			}
			return seqs(q)
		}, "[1 2 3 nil]"},
		{"events resume once the nil is read", func(q *lossyQueue) []string {
			for i := range 10 {
				q.offer(ev(int64(i + 1)))
			}
			out := seqs(q)
			q.offer(ev(11))
			return append(out, seqs(q)...)
		}, "[1 2 3 nil 11]"},
		{"no second nil while one is unread", func(q *lossyQueue) []string {
			for i := range 5 {
				q.offer(ev(int64(i + 1)))
			}
			<-q.ch // the reader takes one: there is room, but a nil is pending
			q.offer(ev(6))
			q.offer(nil)
			return seqs(q)
		}, "[2 3 nil]"},
		{"an explicit nil is queued", func(q *lossyQueue) []string {
			q.offer(ev(1))
			q.offer(nil)
			q.offer(ev(2))
			return seqs(q)
		}, "[1 nil 2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(tt.steps(newLossyQueue(4))); got != tt.want {
				t.Fatalf("got %s; want %s", got, tt.want)
			}
		})
	}
}

// A subscriber that does not read never blocks the publisher: it gets a nil
// where it lost events, and events again once it reads.
func TestMemoryBrokerSlowSubscriber(t *testing.T) {
	b := NewMemoryBroker()
	b.buffer = 8
	slow, err := b.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	fast, err := b.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 100; i++ {
		if err := b.Publish(t.Context(), &switchyard.Event{Seq: i}); err != nil {
			t.Fatal(err)
		}
		if e := <-fast; e == nil || e.Seq != i {
			t.Fatalf("fast subscriber got %v; want seq %d", e, i)
		}
	}
	for i := int64(1); i <= 7; i++ {
		if e := <-slow; e == nil || e.Seq != i {
			t.Fatalf("slow subscriber got %v; want seq %d", e, i)
		}
	}
	if e := <-slow; e != nil {
		t.Fatalf("slow subscriber got seq %d where it lost events; want nil", e.Seq)
	}
	if err := b.Publish(t.Context(), &switchyard.Event{Seq: 101}); err != nil {
		t.Fatal(err)
	}
	if e := <-slow; e == nil || e.Seq != 101 {
		t.Fatalf("slow subscriber got %v after catching up; want seq 101", e)
	}
}

// redisServer is a private redis-server the test can restart.
type redisServer struct {
	t    testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
}

func startRedisServer(t testing.TB) *redisServer {
	t.Helper()
	s := newRedisServer(t)
	s.start()
	return s
}

// newRedisServer reserves a port for a server that is not started yet.
func newRedisServer(t testing.TB) *redisServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &redisServer{t: t, port: port, dir: t.TempDir()}
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		s.t.Fatalf("redis-server is not installed (%v): %s", err, servicesHint)
	}
	s.cmd = exec.Command(bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--loglevel", "warning")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.addr(), DialerRetries: 1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer: %v", s.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server the hard way, as a crash would.
func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGCONT) // in case a test froze it
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

func (s *redisServer) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

func TestRedisBrokerSurvivesRestart(t *testing.T) {
	srv := startRedisServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.addr()})
	t.Cleanup(func() { client.Close() })
	b := NewRedisBroker(client, testChannel(t))

	ch, err := b.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	publish := func(seq int64) {
		t.Helper()
		// The publisher's pooled connections died with the server; the
		// client redials, but the first attempt may see the broken one.
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := b.Publish(t.Context(), &switchyard.Event{Seq: seq, Type: switchyard.EventOrderCreated})
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish seq %d: %v", seq, err)
			}
		}
	}
	next := func() *switchyard.Event {
		t.Helper()
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatal("the subscription closed when Redis restarted")
			}
			return e
		case <-time.After(20 * time.Second):
			t.Fatal("nothing received within 20s")
		}
		return nil
	}

	publish(1)
	if e := next(); e == nil || e.Seq != 1 {
		t.Fatalf("got %v; want seq 1", e)
	}
	for round := range 2 {
		srv.restart()
		if e := next(); e != nil {
			t.Fatalf("round %d: got seq %d after the restart; want the nil loss signal first", round, e.Seq)
		}
		seq := int64(round + 2)
		publish(seq)
		if e := next(); e == nil || e.Seq != seq {
			t.Fatalf("round %d: got %v; want seq %d", round, e, seq)
		}
	}
	if err := b.Ping(t.Context()); err != nil {
		t.Fatalf("Ping after restarts: %v", err)
	}
}

// A Redis that stops answering without closing the connection (a frozen
// process, a network partition) is detected by the idle ping, and the
// subscriber reconnects once it answers again.
func TestRedisBrokerHalfOpen(t *testing.T) {
	srv := startRedisServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.addr()})
	t.Cleanup(func() { client.Close() })
	b := NewRedisBroker(client, testChannel(t))
	b.idle = 100 * time.Millisecond
	ch, err := b.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	recv := func() *switchyard.Event {
		t.Helper()
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatal("the subscription closed")
			}
			return e
		case <-time.After(30 * time.Second):
			t.Fatal("nothing received within 30s")
		}
		return nil
	}
	if err := b.Publish(t.Context(), &switchyard.Event{Seq: 1, Type: "t"}); err != nil {
		t.Fatal(err)
	}
	if e := recv(); e == nil || e.Seq != 1 {
		t.Fatalf("got %v; want seq 1", e)
	}

	srv.cmd.Process.Signal(syscall.SIGSTOP)
	deadline := time.Now().Add(10 * time.Second)
	for b.replaced.Load() == 0 {
		if time.Now().After(deadline) {
			srv.cmd.Process.Signal(syscall.SIGCONT)
			t.Fatal("a frozen Redis was not noticed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.cmd.Process.Signal(syscall.SIGCONT)

	if e := recv(); e != nil {
		t.Fatalf("got seq %d; want the nil loss signal after reconnecting", e.Seq)
	}
	if err := b.Publish(t.Context(), &switchyard.Event{Seq: 2, Type: "t"}); err != nil {
		t.Fatal(err)
	}
	if e := recv(); e == nil || e.Seq != 2 {
		t.Fatalf("got %v; want seq 2", e)
	}
}
