package server

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// Pinger is a dependency /readyz checks.
type Pinger interface {
	Ping(ctx context.Context) error
}

// PingFunc adapts a function to Pinger.
type PingFunc func(ctx context.Context) error

func (f PingFunc) Ping(ctx context.Context) error { return f(ctx) }

// Check is a named dependency of readiness: "postgres", "redis", "search".
// Only configured dependencies are listed.
type Check struct {
	Name   string
	Pinger Pinger
	// Optional marks a dependency the API works without (search): while it
	// is down /readyz reports it and the status "degraded" but still answers
	// 200, so load balancers keep sending traffic to an instance that serves
	// everything else. With a shared backend (Elasticsearch) every instance
	// would fail at once, and the whole API would go dark for one feature.
	Optional bool
}

type checkResult struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

type readiness struct {
	Status string                 `json:"status"`
	Checks map[string]checkResult `json:"checks"`
}

// healthz answers whether the process is alive; it touches no dependency, so
// a database outage never gets the process restarted.
func healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz pings every dependency at once and answers 503 while any required
// one is down, so a load balancer stops sending traffic until it recovers.
func readyz(checks []Check, timeout time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		res := readiness{Status: "ok", Checks: make(map[string]checkResult, len(checks))}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range checks {
			wg.Go(func() {
				result := checkResult{Status: "ok"}
				if err := c.Pinger.Ping(ctx); err != nil {
					result = checkResult{Status: "down", Error: err.Error()}
				}
				mu.Lock()
				res.Checks[c.Name] = result
				switch {
				case result.Status == "ok":
				case !c.Optional:
					res.Status = "unavailable"
				case res.Status == "ok":
					res.Status = "degraded"
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		status := http.StatusOK
		if res.Status == "unavailable" {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(res)
	}
}
