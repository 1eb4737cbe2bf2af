// Command realtime is Switchyard's live-update load generator: it opens N
// subscribers over graphql-transport-ws (WebSocket) or GraphQL over SSE
// (distinct connections), makes order changes through the API, and measures
// how long each change takes to reach every subscriber, how many deliveries
// per second the server sustains, and how much server memory an idle
// subscriber costs.
//
// By default it builds ./cmd/switchyard, runs it on a fresh database (created
// from DATABASE_URL, dropped at the end) with REDIS_URL set, and measures
// that process; --url and --token point it at a running server instead.
// bench/README.md explains the figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	transports      []string
	sizes           []int
	events          int
	burst           int
	subscription    string
	distinct        bool
	trigger         string
	projectFilter   bool
	connConcurrency int
	reader          string
	gap             time.Duration
	perChange       bool
	eventTimeout    time.Duration
	confirmTimeout  time.Duration
	settle          time.Duration
	maxDuration     time.Duration

	url             string
	token           string
	triggerToken    string
	serverPID       int
	subscriberEmail string
	triggerEmail    string
	bin             string
	seedScale       int
	markdown        bool
	cpuProfile      string
	profileDir      string
	repo            string
	serverEnv       []string
}

const usageText = `Usage: go run ./bench/realtime [flags]

Opens N live subscribers on 127.0.0.1, fans order changes out to them and
reports event-to-client latency (p50/p90/p99/max), deliveries per second and
server memory per idle subscriber. Every combination of --transport and -n is
one run; each run against its own freshly started server.

Without --url it needs DATABASE_URL (an admin URL: a database is created and
dropped) and, to exercise the Redis broker, REDIS_URL:
  make services && eval "$(make -s env)"

It raises its open-file limit (RLIMIT_NOFILE) to fit N, and the server it
starts inherits it; a server given with --url needs its own limit raised.

Flags:
`

func main() {
	o, err := parseOptions(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.maxDuration)
	defer cancel()
	if o.profileDir != "" {
		abs, err := filepath.Abs(o.profileDir)
		if err == nil {
			err = os.MkdirAll(abs, 0o755)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: --profile:", err)
			os.Exit(2)
		}
		o.profileDir = abs
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: --cpuprofile:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		stop()
		os.Exit(1)
	}
}

func parseOptions(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("realtime", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	transports := fs.String("transport", "ws", "`list` of transports to run, comma-separated: ws (graphql-transport-ws), sse (GraphQL over SSE, distinct connections)")
	sizes := fs.String("n", "1000", "`list` of subscriber counts to run, comma-separated, e.g. 1000,5000,10000")
	fs.IntVar(&o.events, "events", 20, "changes fanned out one at a time (each waits until every subscriber has it): the latency figures")
	fs.DurationVar(&o.gap, "gap", 0, "pause before each fan-out change, so that every change finds the machine idle, as sparse events do")
	fs.BoolVar(&o.perChange, "per-change", false, "print every fan-out change: its first and last subscriber, the server's and the generator's CPU, the machine's idle time and the server's garbage collections meanwhile")
	fs.IntVar(&o.burst, "burst", 20, "changes made back to back after that (0: none): the deliveries-per-second figure")
	fs.StringVar(&o.subscription, "subscription", "orderEvents", "`field` subscribed to: orderEvents (every order event the subscriber may see) or orderUpdated (one order)")
	fs.StringVar(&o.trigger, "trigger", "shipment", "`mutation` that makes each change: shipment (setOrderShipment on one order, repeatable) or status (updateOrderStatus PENDING→PAID, a new order each time; orderEvents only)")
	fs.BoolVar(&o.projectFilter, "project-filter", false, "subscribe with orderEvents(projectId:) for the changed order's project")
	fs.BoolVar(&o.distinct, "distinct", false, "give every subscriber an operation of its own (the query with a comment naming it), so the server executes each event once per subscriber, as for subscribers who are all different users")
	fs.IntVar(&o.connConcurrency, "connect-concurrency", 200, "subscribers being opened at once")
	fs.StringVar(&o.reader, "reader", "epoll", "how the generator reads its sockets: epoll (one loop per core, Linux) or goroutines (one per connection)")
	fs.DurationVar(&o.eventTimeout, "event-timeout", 30*time.Second, "how long one change may take to reach every subscriber")
	fs.DurationVar(&o.confirmTimeout, "subscribe-timeout", 3*time.Minute, "how long opening and confirming all subscribers may take")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "pause before each memory reading")
	fs.DurationVar(&o.maxDuration, "max-duration", 30*time.Minute, "the whole run stops after this")
	fs.StringVar(&o.url, "url", "", "`base URL` of a running server (http://127.0.0.1:8080); default: start one")
	fs.StringVar(&o.token, "token", "", "with --url: the subscribers' bearer token (switchyard token --email …)")
	fs.StringVar(&o.triggerToken, "trigger-token", "", "with --url: the token the changes are made with (default --token); it must be allowed to change orders the subscribers see")
	fs.IntVar(&o.serverPID, "server-pid", 0, "with --url: the server's process id, to read its memory from /proc (default: memory not measured)")
	fs.StringVar(&o.subscriberEmail, "subscriber-email", "alice@example.com", "own server: the subscribers' user (all subscribers are this user)")
	fs.StringVar(&o.triggerEmail, "trigger-email", "admin@example.com", "own server: the user who makes the changes")
	fs.StringVar(&o.bin, "bin", "", "own server: a prebuilt switchyard binary (default: go build ./cmd/switchyard)")
	fs.StringVar(&o.repo, "repo", "", "own server: the Switchyard source tree to build (default: the one holding the working directory), e.g. a git worktree with a change to measure")
	fs.Func("server-env", "own server: `NAME=VALUE` added to its environment, e.g. GOGC=200 (repeatable)", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("want NAME=VALUE, got %q", v)
		}
		o.serverEnv = append(o.serverEnv, v)
		return nil
	})
	fs.IntVar(&o.seedScale, "seed-scale", 1, "own server: switchyard seed --scale")
	fs.BoolVar(&o.markdown, "markdown", false, "also print the results as a Markdown table")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the generator's own CPU profile to `file`")
	fs.StringVar(&o.profileDir, "profile", "", "own server: build it with a pprof/expvar listener (a build overlay; the repository is untouched), report its Go heap, stacks and goroutines per subscriber, and write its heap profile (idle subscribers) and CPU profile (fan-out and burst) per run into `dir`")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q (see --help)", fs.Args())
	}
	for _, t := range strings.Split(*transports, ",") {
		switch t = strings.TrimSpace(t); t {
		case "ws", "sse":
			o.transports = append(o.transports, t)
		default:
			return nil, fmt.Errorf("--transport %q: use ws, sse or ws,sse", t)
		}
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(s), "_", ""))
		if err != nil || n < 1 || n > 50_000 {
			return nil, fmt.Errorf("-n %q: subscriber counts between 1 and 50000", s)
		}
		o.sizes = append(o.sizes, n)
	}
	switch {
	case o.subscription != "orderEvents" && o.subscription != "orderUpdated":
		return nil, fmt.Errorf("--subscription %q: use orderEvents or orderUpdated", o.subscription)
	case o.trigger != "shipment" && o.trigger != "status":
		return nil, fmt.Errorf("--trigger %q: use shipment or status", o.trigger)
	case o.trigger == "status" && o.subscription == "orderUpdated":
		return nil, errors.New("--trigger status changes a different order each time: use it with --subscription orderEvents")
	case o.trigger == "status" && o.projectFilter:
		return nil, errors.New("--project-filter needs --trigger shipment (one order, one project)")
	case o.events < 1 || o.burst < 0:
		return nil, errors.New("--events must be at least 1 and --burst at least 0")
	case o.connConcurrency < 1:
		return nil, errors.New("--connect-concurrency must be at least 1")
	case o.url != "" && o.token == "":
		return nil, errors.New("--url needs --token")
	case o.url == "" && (o.token != "" || o.serverPID != 0):
		return nil, errors.New("--token and --server-pid go with --url")
	case o.url != "" && len(o.serverEnv) > 0:
		return nil, errors.New("--server-env is for the server the generator starts, not --url")
	case o.profileDir != "" && (o.url != "" || o.bin != ""):
		return nil, errors.New("--profile builds and starts its own server: leave out --url and --bin")
	}
	o.url = strings.TrimRight(o.url, "/")
	if o.triggerToken == "" {
		o.triggerToken = o.token
	}
	return o, nil
}

// step prints a phase's start; phases that take long print progress too.
func step(msg string) {
	fmt.Fprintf(os.Stderr, "bench: %s\n", msg)
}

func run(ctx context.Context, o *options) error {
	maxN := 0
	for _, n := range o.sizes {
		maxN = max(maxN, n)
	}
	limit, err := raiseFileLimit(uint64(maxN) + 1024)
	if err != nil {
		return fmt.Errorf("raise the open-file limit: %w (run as root, or raise 'ulimit -Hn')", err)
	}
	step(fmt.Sprintf("open-file limit %d; load average %s; %d CPUs", limit, loadAvg(), numCPU()))

	var own *ownServer
	if o.url == "" {
		if own, err = prepareOwnServer(ctx, o); err != nil {
			return err
		}
		defer own.cleanup()
		if own.redisURL == "" {
			step("REDIS_URL is not set: the server uses its in-process broker, not Redis")
		}
	}

	var results []result
	for _, tr := range o.transports {
		for _, n := range o.sizes {
			tg := target{url: o.url, pid: o.serverPID}
			if own != nil {
				step(fmt.Sprintf("starting a fresh server for %s × %s", commas(n), tr))
				if err := own.start(ctx); err != nil {
					return err
				}
				tg = target{url: "http://" + own.addr, pid: own.pid(), own: own}
				if own.debugAddr != "" {
					tg.debug = &debugClient{base: "http://" + own.debugAddr, http: &http.Client{}}
				}
			}
			res, err := runOne(ctx, o, tg, tr, n)
			if own != nil {
				own.stop()
			}
			if err != nil {
				printResults(results, o.markdown)
				return fmt.Errorf("%s × %d: %w", tr, n, err)
			}
			res.print()
			results = append(results, res)
		}
	}
	printResults(results, o.markdown)
	return nil
}
