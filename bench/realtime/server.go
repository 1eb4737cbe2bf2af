package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ownServer is a Switchyard the generator builds, gives a fresh database and
// runs, so a run measures nothing but its own subscribers.
type ownServer struct {
	repo     string
	dir      string // scratch: the binary, the server's log
	bin      string
	adminURL string
	dbName   string
	dbURL    string
	redisURL string
	secret   string
	env      []string

	profile   bool
	extraEnv  []string
	debugAddr string // the overlay's listener, with --profile

	cmd     *exec.Cmd
	addr    string
	done    chan struct{}
	logPath string

	gcMu  sync.Mutex
	gcs   []gcLine
	runNo int
}

// gcLine is what one GODEBUG=gctrace=1 line says about the heap.
type gcLine struct {
	at                 time.Time
	heapLive, heapGoal int64 // bytes: live heap after the cycle, next goal
	stacks             int64 // bytes of goroutine stacks scanned
}

var gcTraceRE = regexp.MustCompile(`^gc \d+ @[0-9.]+s .*?(\d+)->(\d+)->(\d+) MB, (\d+) MB goal, (\d+) MB stacks`)

// parseGCTrace reads one gctrace line; ok is false for any other line.
func parseGCTrace(line string) (gcLine, bool) {
	m := gcTraceRE.FindStringSubmatch(line)
	if m == nil {
		return gcLine{}, false
	}
	n := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v << 20 }
	return gcLine{heapLive: n(m[3]), heapGoal: n(m[4]), stacks: n(m[5])}, true
}

// findRepo walks up from the working directory to the module's go.mod.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/switchyard/switchyard\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the Switchyard repository (no go.mod of github.com/switchyard/switchyard above the working directory)")
		}
		dir = parent
	}
}

// prepareOwnServer builds the binary, creates and fills a fresh database and
// mints the tokens. cleanup undoes it all, also after a failure.
func prepareOwnServer(ctx context.Context, o *options) (s *ownServer, err error) {
	adminURL := os.Getenv("DATABASE_URL")
	if adminURL == "" {
		return nil, errors.New(`DATABASE_URL is not set: run 'make services' and eval "$(make -s env)" (or pass --url and --token for a running server)`)
	}
	repo := o.repo
	if repo == "" {
		if repo, err = findRepo(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "switchyard-bench-")
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s = &ownServer{repo: repo, dir: dir, adminURL: adminURL, redisURL: os.Getenv("REDIS_URL"), secret: hex.EncodeToString(secret), extraEnv: o.serverEnv}
	defer func() {
		if err != nil {
			s.cleanup()
			s = nil
		}
	}()

	if o.bin != "" {
		s.bin = o.bin
	} else {
		s.bin = filepath.Join(dir, "switchyard")
		args := []string{"build", "-o", s.bin}
		if o.profileDir != "" {
			overlay, err := writeOverlay(dir, repo)
			if err != nil {
				return s, err
			}
			args = append(args, "-overlay", overlay)
			s.profile = true
			step("building ./cmd/switchyard with the profiling listener (build overlay)")
		} else {
			step("building ./cmd/switchyard")
		}
		build := exec.CommandContext(ctx, "go", append(args, "./cmd/switchyard")...)
		build.Dir = repo
		if out, err := build.CombinedOutput(); err != nil {
			return s, fmt.Errorf("go build ./cmd/switchyard: %v\n%s", err, out)
		}
	}

	s.dbName = fmt.Sprintf("switchyard_bench_%d_%d", time.Now().Unix(), os.Getpid())
	step("creating database " + s.dbName)
	if err := s.adminExec(ctx, "CREATE DATABASE "+pgx.Identifier{s.dbName}.Sanitize()); err != nil {
		s.dbName = ""
		return s, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return s, fmt.Errorf("DATABASE_URL: %w", err)
	}
	u.Path = "/" + s.dbName
	s.dbURL = u.String()

	s.env = childEnv(map[string]string{
		"DATABASE_URL":          s.dbURL,
		"REDIS_URL":             s.redisURL,
		"SWITCHYARD_JWT_SECRET": s.secret,
		"SWITCHYARD_ENV":        "development",
	})
	step("migrating and seeding (scale " + strconv.Itoa(o.seedScale) + ")")
	if _, err := s.run(ctx, "migrate", "up"); err != nil {
		return s, err
	}
	if _, err := s.run(ctx, "seed", "--scale", strconv.Itoa(o.seedScale)); err != nil {
		return s, err
	}
	step("minting tokens for " + o.subscriberEmail + " and " + o.triggerEmail)
	if o.token, err = s.token(ctx, o.subscriberEmail); err != nil {
		return s, err
	}
	if o.triggerToken, err = s.token(ctx, o.triggerEmail); err != nil {
		return s, err
	}
	return s, nil
}

// childEnv is this process's environment with set replacing (or, when its
// value is empty, removing) the named variables.
func childEnv(set map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; !ok {
			env = append(env, kv)
		}
	}
	for k, v := range set {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func (s *ownServer) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = s.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("switchyard %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out), nil
}

func (s *ownServer) token(ctx context.Context, email string) (string, error) {
	out, err := s.run(ctx, "token", "--email", email, "--ttl", "6h")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

func (s *ownServer) adminExec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// start runs `switchyard serve` on a free loopback port, with gctrace on so
// the Go heap can be read from its log, and waits until it is ready.
func (s *ownServer) start(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.runNo++
	s.addr = fmt.Sprintf("127.0.0.1:%d", port)
	s.logPath = filepath.Join(s.dir, fmt.Sprintf("server-%d.log", s.runNo))
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return err
	}
	// Not CommandContext: the server gets SIGTERM and time to shut down.
	cmd := exec.Command(s.bin, "serve", "--addr", s.addr)
	cmd.Env = append(append([]string(nil), s.env...), "GODEBUG=gctrace=1")
	cmd.Env = append(cmd.Env, s.extraEnv...)
	s.debugAddr = ""
	if s.profile {
		dport, err := freePort()
		if err != nil {
			logFile.Close()
			return err
		}
		s.debugAddr = fmt.Sprintf("127.0.0.1:%d", dport)
		cmd.Env = append(cmd.Env, "BENCH_PPROF_ADDR="+s.debugAddr)
	}
	cmd.Stdout = logFile
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start server: %w", err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	s.gcMu.Lock()
	s.gcs = nil
	s.gcMu.Unlock()
	go func() {
		defer close(s.done)
		defer logFile.Close()
		s.scanLog(stderr, logFile)
		_ = cmd.Wait()
	}()

	deadline := time.Now().Add(60 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get("http://" + s.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("the server exited while starting; its log: %s\n%s", s.logPath, tail(s.logPath, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server was not ready within 60s; its log: %s\n%s", s.logPath, tail(s.logPath, 20))
		}
	}
}

func (s *ownServer) scanLog(r io.Reader, w io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(w, line)
		if g, ok := parseGCTrace(line); ok {
			g.at = time.Now()
			s.gcMu.Lock()
			s.gcs = append(s.gcs, g)
			s.gcMu.Unlock()
		}
	}
}

// lastGC is the last collection the server reported, if any.
func (s *ownServer) lastGC() (gcLine, bool) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	if len(s.gcs) == 0 {
		return gcLine{}, false
	}
	return s.gcs[len(s.gcs)-1], true
}

// gcCount is how many collections the server has reported; 0 for a server
// that is not ours.
func (s *ownServer) gcCount() int {
	if s == nil {
		return 0
	}
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	return len(s.gcs)
}

func (s *ownServer) pid() int {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// stop shuts the server down the way an operator does (SIGTERM), and kills
// it if it has not exited within 20 seconds.
func (s *ownServer) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		fmt.Fprintln(os.Stderr, "bench: the server did not stop within 20s of SIGTERM; killing it")
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// cleanup stops the server, drops the database and removes the scratch
// directory.
func (s *ownServer) cleanup() {
	s.stop()
	if s.dbName != "" {
		step("dropping database " + s.dbName)
		// FORCE ends our own leftover sessions; a session of another role
		// (an autovacuum worker, someone's psql) makes it fail, and such
		// sessions are short, so it is tried for a while.
		var err error
		for attempt := range 10 {
			if attempt > 0 {
				time.Sleep(time.Second)
			}
			if err = s.adminExec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{s.dbName}.Sanitize()+" WITH (FORCE)"); err == nil {
				break
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: drop database %s: %v (drop it by hand)\n", s.dbName, err)
		}
	}
	if os.Getenv("BENCH_KEEP_LOGS") == "" {
		_ = os.RemoveAll(s.dir)
	} else {
		fmt.Fprintln(os.Stderr, "bench: server logs kept in", s.dir)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	var keep []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "gc ") {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "\n")
}
