package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// With --profile the generator builds the server with one extra file,
// added through `go build -overlay` so the repository is not touched: when
// BENCH_PPROF_ADDR is set it serves net/http/pprof, expvar's memstats, a
// goroutine count and two hooks (a forced GC, a CPU profile started and
// stopped on request) on that loopback address, apart from the API's
// listener. The server's own code is unchanged.
const profileOverlay = `package main

import (
	"expvar"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
)

func init() {
	addr := os.Getenv("BENCH_PPROF_ADDR")
	if addr == "" {
		return
	}
	expvar.Publish("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
	http.HandleFunc("/bench/gc", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
	})
	var mu sync.Mutex
	var f *os.File
	http.HandleFunc("/bench/cpu/start", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var err error
		if f, err = os.Create(r.URL.Query().Get("file")); err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	http.HandleFunc("/bench/cpu/stop", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		pprof.StopCPUProfile()
		if f != nil {
			f.Close()
			f = nil
		}
	})
	go http.ListenAndServe(addr, nil)
}
`

// writeOverlay writes the extra file and the overlay description into dir
// and returns the overlay's path.
func writeOverlay(dir, repo string) (string, error) {
	src := filepath.Join(dir, "zz_bench_pprof.go")
	if err := os.WriteFile(src, []byte(profileOverlay), 0o644); err != nil {
		return "", err
	}
	overlay := filepath.Join(dir, "overlay.json")
	b, _ := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(repo, "cmd", "switchyard", "zz_bench_pprof.go"): src}})
	return overlay, os.WriteFile(overlay, b, 0o644)
}

// debugClient talks to the overlay's listener.
type debugClient struct {
	base string
	http *http.Client
}

// goStats is what expvar reports about the Go runtime.
type goStats struct {
	Goroutines int `json:"goroutines"`
	MemStats   struct {
		HeapInuse   int64
		HeapAlloc   int64
		HeapObjects int64
		StackInuse  int64
		Sys         int64
		NumGC       int64
	} `json:"memstats"`
}

func (d *debugClient) get(ctx context.Context, path string, timeout time.Duration) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.base+path, nil)
	resp, err := d.http.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("%s: %s %s", path, resp.Status, body)
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error { c.cancel(); return c.ReadCloser.Close() }

// stats forces a collection first, so the figures are the live heap.
func (d *debugClient) stats(ctx context.Context) (goStats, error) {
	var st goStats
	if resp, err := d.get(ctx, "/bench/gc", time.Minute); err != nil {
		return st, err
	} else {
		resp.Body.Close()
	}
	resp, err := d.get(ctx, "/debug/vars", 30*time.Second)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func (d *debugClient) save(ctx context.Context, path, file string) error {
	resp, err := d.get(ctx, path, time.Minute)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (d *debugClient) hook(ctx context.Context, path string) error {
	resp, err := d.get(ctx, path, 30*time.Second)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
