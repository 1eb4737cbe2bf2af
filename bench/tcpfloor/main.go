// Command tcpfloor measures what fanning one small message out to N
// loopback TCP connections costs on this machine with no GraphQL, JSON or
// WebSocket framing at all, through the standard library's net.Conn on
// both sides: a reference beside bench/realtime's figures (no longer a
// floor under them: the server and its generator have shed the runtime's
// poller and its hand-offs around each system call, which this still pays).
//
// A writer process (this program, re-run as a child) accepts N connections
// and, each round, writes one message stamped with the round's start to
// every connection in turn from one goroutine, as a server's fan-out would;
// the reader (this process) reads them, one goroutine per connection, and
// records stamp→receive latency. Two processes, so each needs only N file
// descriptors.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 10000, "connections")
	rounds := flag.Int("rounds", 20, "messages per connection")
	size := flag.Int("size", 300, "message size in bytes (a next message of bench/realtime is about 300)")
	writers := flag.Int("writers", 1, "writer goroutines, each writing to its share of the connections")
	gap := flag.Duration("gap", 0, "pause before each round, as between sparse events")
	writerAddr := flag.String("writer", "", "internal: run as the writer on this address")
	flag.Parse()
	raiseFileLimit(uint64(*n) + 100)
	if *writerAddr != "" {
		if err := write(*writerAddr, *n, *rounds, *size, *writers, *gap); err != nil {
			fmt.Fprintln(os.Stderr, "tcpfloor writer:", err)
			os.Exit(1)
		}
		return
	}
	if err := read(*n, *rounds, *size, *writers, *gap); err != nil {
		fmt.Fprintln(os.Stderr, "tcpfloor:", err)
		os.Exit(1)
	}
}

func raiseFileLimit(need uint64) {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < need {
		lim.Cur = min(need, lim.Max)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

func write(addr string, n, rounds, size, writers int, gap time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("listening") // the reader dials after this line
	conns := make([]net.Conn, 0, n)
	for len(conns) < n {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	// The first connection also carries the reader's "round complete" byte.
	ack := make([]byte, 1)
	msg := make([]byte, size)
	cpu0 := selfCPU()
	for range rounds {
		time.Sleep(gap)
		binary.LittleEndian.PutUint64(msg, uint64(time.Now().UnixNano()))
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := w; i < len(conns); i += writers {
					_, _ = conns[i].Write(msg)
				}
			})
		}
		wg.Wait()
		if _, err := io.ReadFull(conns[0], ack); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "tcpfloor: the writer's CPU: %.1f µs per message\n", float64(selfCPU()-cpu0)/1e3/float64(n*rounds))
	return nil
}

func read(n, rounds, size, writers int, gap time.Duration) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	child := exec.Command(os.Args[0], "-writer", addr, "-n", fmt.Sprint(n), "-rounds", fmt.Sprint(rounds), "-size", fmt.Sprint(size), "-writers", fmt.Sprint(writers), "-gap", gap.String())
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return err
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	if _, err := io.ReadFull(out, make([]byte, len("listening\n"))); err != nil {
		return fmt.Errorf("writer did not start: %w", err)
	}

	conns := make([]net.Conn, n)
	for i := range conns {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
		if conns[i], err = d.Dial("tcp", addr); err != nil {
			return fmt.Errorf("dial %d: %w", i, err)
		}
	}
	var got atomic.Int64
	lat := make([][]time.Duration, n)
	for i, c := range conns {
		go func() {
			buf := make([]byte, size)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				lat[i] = append(lat[i], time.Duration(time.Now().UnixNano()-int64(binary.LittleEndian.Uint64(buf))))
				got.Add(1)
			}
		}()
	}
	start := time.Now()
	for r := 1; r <= rounds; r++ {
		deadline := time.Now().Add(time.Minute)
		for got.Load() < int64(r*n) {
			if time.Now().After(deadline) {
				return fmt.Errorf("round %d: %d of %d messages after a minute", r, got.Load()-int64((r-1)*n), n)
			}
			time.Sleep(200 * time.Microsecond)
		}
		if _, err := conns[0].Write([]byte{1}); err != nil {
			return err
		}
	}
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p int) time.Duration { return all[max((len(all)*p+99)/100-1, 0)] }
	fmt.Printf("tcpfloor: %d connections × %d rounds of %d bytes, %d writer goroutine(s): p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms; %.0f messages/s\n",
		n, rounds, size, writers, msf(pct(50)), msf(pct(90)), msf(pct(99)), msf(all[len(all)-1]), float64(len(all))/elapsed.Seconds())
	return nil
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
