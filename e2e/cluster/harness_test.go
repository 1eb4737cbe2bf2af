package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/postgres"
	"github.com/switchyard/switchyard/postgres/postgrestest"
	"github.com/switchyard/switchyard/server"
)

// Deadlines. Generous for a loaded two-core machine; a healthy run finishes
// far inside them, and every wait ends as soon as what it waits for happens.
const (
	buildTimeout   = 8 * time.Minute
	readyTimeout   = 60 * time.Second
	stopTimeout    = 15 * time.Second
	deliverTimeout = 20 * time.Second
	requestTimeout = 30 * time.Second
)

// The binary under test, built once per run from this checkout (or
// SWITCHYARD_BIN).
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func switchyardBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SWITCHYARD_BIN"); p != "" {
		return p
	}
	binOnce.Do(func() {
		root, err := filepath.Abs(filepath.Join("..", ".."))
		if err == nil {
			_, err = os.Stat(filepath.Join(root, "go.mod"))
		}
		if err != nil {
			binErr = fmt.Errorf("find the repository root: %w", err)
			return
		}
		if binDir, binErr = os.MkdirTemp("", "switchyard-cluster-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "switchyard")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", binPath, "./cmd/switchyard")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/switchyard: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// freePort asks the kernel for a free loopback port; it is released just
// before the process that uses it binds it.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// logTail keeps the last lines a process wrote, for failure messages, and
// lets tests wait for a line.
type logTail struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
}

func newLogTail() *logTail { return &logTail{changed: make(chan struct{})} }

func (l *logTail) consume(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		if len(l.lines) > 4000 {
			l.lines = l.lines[len(l.lines)-2000:]
		}
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	}
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := l.lines
	if len(lines) > 300 {
		lines = lines[len(lines)-300:]
	}
	return strings.Join(lines, "\n")
}

// process is a child process whose output is kept and which is killed when
// the test ends, whatever happens.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    *logTail
	exited chan struct{}
	state  *os.ProcessState
}

func startProcess(t testing.TB, name, bin string, args []string, env []string) *process {
	t.Helper()
	p := &process{name: name, log: newLogTail(), exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	// Its own process group, so a SIGKILL reaches nothing else.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go p.log.consume(pr)
	go func() {
		_ = p.cmd.Wait()
		p.state = p.cmd.ProcessState
		pw.Close()
		close(p.exited)
	}()
	return p
}

func (p *process) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill(t testing.TB) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		t.Fatalf("%s did not die after SIGKILL", p.name)
	}
}

// stop asks the process to end (SIGTERM) and kills it if it does not.
func (p *process) stop() {
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
}

// redisServer is a private redis-server on a port of its own, which a test
// may kill and start again on the same port.
type redisServer struct {
	t    testing.TB
	port int
	dir  string
	proc *process
}

// stablePort picks a free loopback port below the kernel's ephemeral range,
// for a server that a test stops and starts again on the same port: while
// it is down, no outgoing connection (its clients retrying, say) can be
// given that port as its local one and keep it from binding again.
func stablePort(t testing.TB) int {
	t.Helper()
	low := 32768
	if raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(raw)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const from = 10000
	if low <= from+100 {
		return freePort(t)
	}
	for range 100 {
		port := from + rand.IntN(low-from)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatalf("no free port between %d and %d", from, low)
	return 0
}

func startRedis(t testing.TB) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		bin = "/usr/bin/redis-server"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("redis-server not found (%v); install it with `make services`", err)
	}
	r := &redisServer{t: t, port: stablePort(t), dir: t.TempDir()}
	r.start(t, bin)
	t.Cleanup(func() {
		if r.proc != nil {
			r.proc.stop()
		}
	})
	return r
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start(t testing.TB, bin string) {
	t.Helper()
	if bin == "" {
		bin = r.proc.cmd.Path
	}
	r.proc = startProcess(t, "redis", bin, []string{
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
	}, os.Environ())
	deadline := time.Now().Add(readyTimeout)
	for {
		if err := redisPing(r.port); err == nil {
			return
		} else if !r.proc.alive() || time.Now().After(deadline) {
			t.Fatalf("redis-server on port %d not ready: %v\n%s", r.port, err, r.proc.log)
		}
		select {
		case <-r.proc.exited:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// restart starts redis-server again on the same port after kill.
func (r *redisServer) restart(t testing.TB) { r.start(t, "") }

func (r *redisServer) kill(t testing.TB) { r.proc.kill(t) }

// client is a go-redis client of this server, closed when t ends.
func (r *redisServer) client(t testing.TB) *redis.Client {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	t.Cleanup(func() { client.Close() })
	return client
}

// waitSubscribers waits until channel has n subscribers. A channel ending in
// "*" is a pattern that names one channel (a deployment's).
func (r *redisServer) waitSubscribers(t testing.TB, channel string, n int64) {
	t.Helper()
	client := r.client(t)
	deadline := time.Now().Add(deliverTimeout)
	pattern := channel
	for {
		if strings.HasSuffix(pattern, "*") {
			if names, err := client.PubSubChannels(context.Background(), pattern).Result(); err == nil && len(names) == 1 {
				channel = names[0]
			}
		}
		counts, err := client.PubSubNumSub(context.Background(), channel).Result()
		if err == nil && counts[channel] == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis channel %s: %v subscribers (%v), want %d", channel, counts[channel], err, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func redisPing(port int) error {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// fixtures are the users and projects every test works with: member A owns
// project A, member B owns project B, and neither belongs to the other's.
type fixtures struct {
	Admin, MemberA, MemberB *switchyard.User
	ProjectA, ProjectB      *switchyard.Project
}

// cluster is one database, one private Redis and the Switchyard instances a
// test starts over them.
type cluster struct {
	t      testing.TB
	dbURL  string
	db     *postgres.DB
	secret []byte
	redis  *redisServer
	env    []string
	fx     fixtures
	insts  []*instance
}

type clusterOptions struct {
	// noRedis runs without REDIS_URL: the in-process broker, one instance.
	noRedis bool
	// redis, when set, is another cluster's Redis to share.
	redis *redisServer
	// env is added to every instance's environment.
	env []string
}

func newCluster(t *testing.T, opts clusterOptions) *cluster {
	t.Helper()
	c := &cluster{t: t, dbURL: postgrestest.NewDatabaseURL(t), secret: []byte(strings.Repeat("k", 16) + strconv.FormatInt(time.Now().UnixNano(), 36) + "-cluster-test-secret")}
	db, err := postgres.Open(context.Background(), c.dbURL)
	if err != nil {
		t.Fatalf("open the test database: %v", err)
	}
	t.Cleanup(db.Close)
	c.db = db
	switch {
	case opts.redis != nil:
		c.redis = opts.redis
	case !opts.noRedis:
		c.redis = startRedis(t)
	}
	env := []string{}
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL", "SWITCHYARD_ADDR", "SWITCHYARD_JWT_SECRET", "SWITCHYARD_JWKS_URL", "SWITCHYARD_ENV":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "DATABASE_URL="+c.dbURL, "SWITCHYARD_JWT_SECRET="+string(c.secret))
	if c.redis != nil {
		env = append(env, "REDIS_URL="+c.redis.url())
	}
	c.env = append(env, opts.env...)
	c.fx = c.makeFixtures(t)
	// Logs of every process, when the test failed: what the servers said is
	// most of the story.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, in := range c.insts {
			t.Logf("--- log of %s (%s)\n%s", in.name, in.url, in.proc.log)
		}
		if c.redis != nil && c.redis.proc != nil && opts.redis == nil {
			t.Logf("--- log of redis\n%s", c.redis.proc.log)
		}
	})
	return c
}

func (c *cluster) makeFixtures(t testing.TB) fixtures {
	t.Helper()
	ctx := context.Background()
	users := postgres.NewUserService(c.db)
	projects := postgres.NewProjectService(c.db)
	// The first admin is created by a caller that is no row in users, as
	// `switchyard seed` would.
	root := switchyard.NewContextWithCaller(ctx, &switchyard.Caller{UserID: "00000000-0000-4000-8000-00000000ad01", Role: switchyard.RoleAdmin})
	mk := func(email string, role switchyard.Role) *switchyard.User {
		u, err := users.CreateUser(root, switchyard.UserCreate{Email: email, Name: strings.Split(email, "@")[0], Role: role})
		if err != nil {
			t.Fatalf("create user %s: %v", email, err)
		}
		return u
	}
	fx := fixtures{
		Admin:   mk("admin@cluster.test", switchyard.RoleAdmin),
		MemberA: mk("member.a@cluster.test", switchyard.RoleMember),
		MemberB: mk("member.b@cluster.test", switchyard.RoleMember),
	}
	asAdmin := switchyard.NewContextWithCaller(ctx, &switchyard.Caller{UserID: fx.Admin.ID, Email: fx.Admin.Email, Role: switchyard.RoleAdmin})
	mkProject := func(name string, owner *switchyard.User) *switchyard.Project {
		p, err := projects.CreateProject(asAdmin, switchyard.ProjectCreate{Name: name, OwnerID: &owner.ID})
		if err != nil {
			t.Fatalf("create project %s: %v", name, err)
		}
		return p
	}
	fx.ProjectA = mkProject("Project A", fx.MemberA)
	fx.ProjectB = mkProject("Project B", fx.MemberB)
	return fx
}

// token mints a bearer token for u, valid for ttl, as `switchyard token` does.
func (c *cluster) token(t testing.TB, u *switchyard.User, ttl time.Duration) string {
	t.Helper()
	tok, err := server.IssueToken(c.secret, u, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// instance is one `switchyard serve` process.
type instance struct {
	name string
	url  string
	ws   string
	proc *process
}

// start runs `switchyard serve` and waits until it answers /readyz.
func (c *cluster) start(t testing.TB, name string) *instance {
	t.Helper()
	return c.startUntil(t, name, "/readyz")
}

// startUntil runs `switchyard serve` and waits until it answers path with
// 200: /healthz for an instance whose dependencies are down.
func (c *cluster) startUntil(t testing.TB, name, path string) *instance {
	t.Helper()
	bin := switchyardBinary(t)
	port := freePort(t)
	in := &instance{name: name, url: fmt.Sprintf("http://127.0.0.1:%d", port), ws: fmt.Sprintf("ws://127.0.0.1:%d/graphql", port)}
	env := append(append([]string{}, c.env...), fmt.Sprintf("SWITCHYARD_ADDR=127.0.0.1:%d", port),
		// Each instance its own embedded search index, as on separate machines.
		"SWITCHYARD_SEARCH_DIR="+t.TempDir())
	in.proc = startProcess(t, name, bin, []string{"serve"}, env)
	c.insts = append(c.insts, in)
	t.Cleanup(in.proc.stop)
	deadline := time.Now().Add(readyTimeout)
	for {
		status, err := in.get(path)
		if err == nil && status == http.StatusOK {
			return in
		}
		if !in.proc.alive() || time.Now().After(deadline) {
			t.Fatalf("%s not ready on %s (last: %d %v)\n%s", name, in.url, status, err, in.proc.log)
		}
		select {
		case <-in.proc.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (in *instance) get(path string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, in.url+path, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}

// waitReady waits until the instance answers /readyz with 200: its
// database and broker are reachable.
func (in *instance) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(deliverTimeout)
	for {
		status, err := in.get("/readyz")
		if err == nil && status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s /readyz: %d %v", in.name, status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// requireUp fails t unless the instance's process runs and answers /healthz.
func (in *instance) requireUp(t testing.TB) {
	t.Helper()
	if !in.proc.alive() {
		t.Fatalf("%s exited: %v\n%s", in.name, in.proc.state, in.proc.log)
	}
	if status, err := in.get("/healthz"); err != nil || status != http.StatusOK {
		t.Fatalf("%s /healthz: %d %v", in.name, status, err)
	}
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// gql POSTs an operation to in as the token's holder and decodes data into
// out; any GraphQL error fails t.
func (in *instance) gql(t testing.TB, token, query string, vars map[string]any, out any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, in.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: POST /graphql: %v", in.name, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var resp struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatalf("%s: %d %s", in.name, res.StatusCode, raw)
	}
	if len(resp.Errors) > 0 {
		t.Fatalf("%s: %s: errors %s", in.name, strings.Join(strings.Fields(query), " "), raw)
	}
	if out != nil {
		if err := json.Unmarshal(resp.Data, out); err != nil {
			t.Fatalf("%s: decode %s: %v", in.name, resp.Data, err)
		}
	}
}

// createOrder creates a PENDING order in project through in, as token's
// holder, and returns its id.
func (in *instance) createOrder(t testing.TB, token, projectID string) string {
	t.Helper()
	var out struct {
		CreateOrder struct{ ID string } `json:"createOrder"`
	}
	in.gql(t, token, `mutation($p: ID!) {
		createOrder(input: {projectId: $p, currency: "USD", items: [{sku: "SKU-1", name: "Widget", quantity: 1, unitPrice: "9.99"}]}) { id }
	}`, map[string]any{"p": projectID}, &out)
	return out.CreateOrder.ID
}

// setStatus moves an order one step along its lifecycle through in.
func (in *instance) setStatus(t testing.TB, token, orderID, status string) {
	t.Helper()
	in.gql(t, token, `mutation($id: ID!, $s: OrderStatus!) { updateOrderStatus(id: $id, status: $s) { id status } }`,
		map[string]any{"id": orderID, "s": status}, nil)
}

// pool is the test's own connection to the cluster's database.
func (c *cluster) pool() *pgxpool.Pool { return c.db.Pool() }

// settledCursor waits until the relay has sequenced and published every
// committed event and returns the cursor of the last one: a subscription
// that resumes after it gets exactly what commits from now on.
func (c *cluster) settledCursor(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(deliverTimeout)
	for {
		var unsequenced, last, published int64
		err := c.pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM events WHERE seq IS NULL), last_seq, published_seq FROM relay_state`).
			Scan(&unsequenced, &last, &published)
		if err != nil {
			t.Fatal(err)
		}
		if unsequenced == 0 && last == published {
			return switchyard.EventCursor(last)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay did not settle: %d unsequenced, last_seq %d, published_seq %d", unsequenced, last, published)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sequencedCursor waits until the relay has sequenced every committed event
// (published or not: with the broker down, hubs read them from the log) and
// returns the cursor of the last one.
func (c *cluster) sequencedCursor(t testing.TB) string {
	t.Helper()
	deadline := time.Now().Add(deliverTimeout)
	for {
		var unsequenced, last int64
		err := c.pool().QueryRow(context.Background(), `SELECT (SELECT count(*) FROM events WHERE seq IS NULL), last_seq FROM relay_state`).Scan(&unsequenced, &last)
		if err != nil {
			t.Fatal(err)
		}
		if unsequenced == 0 && last > 0 {
			return switchyard.EventCursor(last)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay did not sequence: %d unsequenced, last_seq %d", unsequenced, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// relayLockKey is postgres.relayLockKey, split as pg_locks shows a bigint
// advisory lock: classid the high 32 bits, objid the low ones.
const relayLockKey int64 = 7_320_114_003

// relayLeader returns the instance whose relay holds the leader lock now, or
// nil. It finds the PostgreSQL session holding the lock, then the process
// owning that session's client socket.
func (c *cluster) relayLeader(t testing.TB) *instance {
	t.Helper()
	var port int32
	err := c.pool().QueryRow(context.Background(), `
		SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		  AND l.classid = $1 AND l.objid = $2
		  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
		uint32(relayLockKey>>32), uint32(relayLockKey&0xffffffff)).Scan(&port)
	if err != nil {
		if strings.Contains(err.Error(), "no rows") {
			return nil
		}
		t.Fatalf("find the relay's session: %v", err)
	}
	inode, err := socketInode(int(port))
	if err != nil {
		t.Fatalf("find the socket of local port %d: %v", port, err)
	}
	for _, in := range c.insts {
		if in.proc.alive() && ownsSocket(in.proc.cmd.Process.Pid, inode) {
			return in
		}
	}
	return nil
}

// waitLeader waits until one of the live instances leads the relay.
func (c *cluster) waitLeader(t testing.TB, timeout time.Duration) *instance {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if in := c.relayLeader(t); in != nil {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("no instance leads the relay after %v", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// socketInode finds the inode of the TCP socket bound to 127.0.0.1:port on
// this machine (the client side of a connection to PostgreSQL).
func socketInode(port int) (string, error) {
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		raw, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 {
				continue
			}
			local := f[1]
			i := strings.LastIndexByte(local, ':')
			p, err := strconv.ParseInt(local[i+1:], 16, 32)
			if err != nil || int(p) != port {
				continue
			}
			// The local address must not be PostgreSQL's own listening side.
			remote := f[2]
			if strings.HasSuffix(remote, ":0000") {
				continue
			}
			return f[9], nil
		}
	}
	return "", errors.New("no such socket")
}

func ownsSocket(pid int, inode string) bool {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	want := "socket:[" + inode + "]"
	for _, fd := range fds {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && target == want {
			return true
		}
	}
	return false
}
