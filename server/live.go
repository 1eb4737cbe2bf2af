package server

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/resolvers"
)

// Live subscriptions, delivered by the transport itself.
//
// gqlgen runs a subscription as a goroutine that waits on the resolver's
// channel and executes the selection set for every value, per subscriber:
// with 10,000 subscribers of one event that is 10,000 executions of the same
// selection over the same data, and two or three parked goroutines per idle
// subscriber. Instead the streaming transports detach a subscription once
// its resolver has checked and opened it (resolvers.Stream.Detach) and read
// its EventStream subscription themselves:
//
//   - nothing waits on an idle subscription: the EventStream notifies, and a
//     goroutine starts to drain what it queued, then ends;
//   - each event is executed once per distinct operation (query and
//     variables), and every subscriber of that operation gets the same bytes
//     (sharedResults); once per operation and caller when the execution ran
//     a resolver below the subscription field, whose answer may depend on
//     who asks (callerDependence). Who receives an event at all is still
//     decided per subscriber by the EventStream at delivery time.
//
// The EventStream's bounded queue stays the slow-consumer rule: a
// subscriber whose socket does not take its events fills it and is ended
// there with the cursor to resume after.

// liveStream is one detached subscription being delivered.
type liveStream struct {
	sub switchyard.Subscription
	// exec, rc and ctx execute one event (resolvers.WithEvent). ctx has the
	// operation's values but not its cancellation: a result may be shared
	// with other subscribers, who must not see it fail because this one
	// left.
	exec    graphql.GraphExecutor
	rc      *graphql.OperationContext
	ctx     context.Context
	opCtx   context.Context // the operation's own: ended when it is over
	present graphql.ErrorPresenterFunc
	log     *slog.Logger
	results *sharedResults
	op      resultKey // the operation's results
	mine    resultKey // this caller's results of the operation
	field   string    // the subscription field's alias: the path of its error

	// Set by the transport before start. deliver writes one result and
	// reports whether the client still takes them; end says the last word
	// (outcomeCompleted, outcomeFailed with the error, or outcomeGone).
	// tryDeliver, if set, is deliver without blocking (livewrite.go).
	deliver    func(r *sharedResult) bool
	tryDeliver func(r *sharedResult) quickOutcome
	end        func(out outcome, err *gqlerror.Error)

	reader eventReader
	gone   bool // the reader's: the client stopped taking results
}

// start begins delivery; from here the stream is the transport's until end
// is called, once.
func (l *liveStream) start() {
	if l.tryDeliver != nil {
		l.reader.quick = l.quick
	}
	l.reader.start(l.sub, func(e *switchyard.Event) {
		if !l.gone && !l.deliver(l.result(e)) {
			// Keep reading to the end without writing: the transport ends
			// the operation's context, which ends the stream.
			l.gone = true
		}
	}, l.finish)
}

// quick delivers e if that needs no waiting: its result was executed
// already and the connection takes the bytes now. False leaves e to the
// blocking way.
func (l *liveStream) quick(e *switchyard.Event) bool {
	if l.gone {
		return true
	}
	r, shared := l.results.ready(l.op, l.mine, e.Seq)
	if r == nil {
		// A result of this caller's own reads through the services, for
		// each caller: those run side by side on goroutines of their own.
		if !shared {
			return false
		}
		if r = l.awaitResult(e); r == nil {
			return false
		}
	}
	switch l.tryDeliver(r) {
	case quickSent:
		return true
	case quickGone:
		l.gone = true
		return true
	default:
		return false
	}
}

// awaitResult executes e for the operation, or waits for the execution
// that is under way, for as long as an execution of an event's own data
// takes: each new event is new to the first subscribers a deliverer takes,
// and handing them all to goroutines of their own while it runs would undo
// the pool. An execution that reads the database can take longer; it goes
// on, and nil sends e the blocking way, where its result will be waited
// for.
func (l *liveStream) awaitResult(e *switchyard.Event) *sharedResult {
	done := make(chan *sharedResult, 1)
	go func() { done <- l.result(e) }()
	t := time.NewTimer(quickExecutionWait)
	defer t.Stop()
	select {
	case r := <-done:
		return r
	case <-t.C:
		return nil
	}
}

// quickExecutionWait is how long a deliverer waits for an execution: about
// ten times what one of an event's own fields takes.
const quickExecutionWait = 2 * time.Millisecond

// eventReader reads a Subscription with no goroutine while it is idle: the
// subscription notifies, and a goroutine starts to take what it queued, then
// returns. Calls to event and to end, which comes last and once, are
// serialized.
type eventReader struct {
	sub   switchyard.Subscription
	event func(*switchyard.Event)
	// quick, if set, delivers an event without blocking or says it cannot
	// (false): then event delivers it on a goroutine of the reader's own.
	quick   func(*switchyard.Event) bool
	end     func()
	running atomic.Bool // a goroutine is reading
	pending atomic.Bool // notified since the reader last looked
}

func (r *eventReader) start(sub switchyard.Subscription, event func(*switchyard.Event), end func()) {
	r.sub, r.event, r.end = sub, event, end
	sub.Notify(r.wake)
}

// wake runs on the EventStream's delivering goroutine: it must not block.
func (r *eventReader) wake() {
	r.pending.Store(true)
	if r.running.CompareAndSwap(false, true) {
		if r.quick == nil || !deliverers.submit(r) {
			go r.drain(nil, false)
		}
	}
}

// drain delivers taken, if not nil, and takes what is queued, then
// returns; a later wake starts another. Setting pending before trying to
// start one, and clearing it before looking, is what keeps a wake between
// the last look and running's reset from being lost. On a deliverer, which
// must not block, the first event quick cannot deliver, and the end, go on
// in a goroutine of their own.
func (r *eventReader) drain(taken *switchyard.Event, onDeliverer bool) {
	if taken != nil {
		r.event(taken)
	}
	for {
		r.pending.Store(false)
		for {
			e, more := r.sub.TryNext()
			if e == nil {
				if !more {
					if onDeliverer {
						go r.end()
					} else {
						r.end()
					}
					return // running stays set: the stream is over
				}
				break
			}
			if r.quick != nil && r.quick(e) {
				continue
			}
			if onDeliverer {
				go r.drain(e, false)
				return
			}
			r.event(e)
		}
		r.running.Store(false)
		if !r.pending.Load() || !r.running.CompareAndSwap(false, true) {
			return
		}
	}
}

// finish says how the stream ended, once its queue has closed.
func (l *liveStream) finish() {
	err := l.sub.Err()
	switch {
	case l.gone || l.opCtx.Err() != nil:
		l.end(outcomeGone, nil)
	case err == nil:
		l.end(outcomeCompleted, nil)
	default:
		e := l.present(l.ctx, err)
		if l.field != "" {
			e.Path = ast.Path{ast.PathName(l.field)}
		}
		l.end(outcomeFailed, e)
	}
}

// result is e executed for this stream's operation, shared with every
// subscriber of the same operation.
func (l *liveStream) result(e *switchyard.Event) *sharedResult {
	return l.results.get(l.op, l.mine, e.Seq, func(r *sharedResult) {
		r.cursor = switchyard.EventCursor(e.Seq)
		executors.run(func() { r.payload, r.universal = l.execute(e, r.cursor) })
	})
}

// executors run event executions on goroutines that live on. A reader's
// goroutine is new for each burst of events and starts with a small stack;
// gqlgen's execution is deep, and growing a stack to fit it, copy by copy,
// cost a fresh goroutine more than the execution itself.
var executors = newExecutorPool(4 * runtime.GOMAXPROCS(0))

type executorPool struct {
	jobs  chan executorJob
	start sync.Once
	n     int
}

type executorJob struct {
	run  func()
	done chan struct{}
}

func newExecutorPool(n int) *executorPool {
	return &executorPool{jobs: make(chan executorJob), n: n}
}

// run runs f on an idle executor and waits for it, or runs it here when
// every executor is busy (executions that read PostgreSQL take a while).
func (p *executorPool) run(f func()) {
	p.start.Do(func() {
		for range p.n {
			go p.work()
		}
	})
	job := executorJob{run: f, done: make(chan struct{})}
	select {
	case p.jobs <- job:
		<-job.done
	default:
		f()
	}
}

func (p *executorPool) work() {
	for job := range p.jobs {
		job.run()
		close(job.done)
	}
}

// executeTimeout bounds the execution of one event: selections that load
// data read PostgreSQL.
const executeTimeout = 10 * time.Second

// execute runs the operation for e alone and returns the response payload
// with the event's cursor in extensions.cursor; universal reports that no
// resolver below the subscription field ran, so any caller would have got
// the same payload.
func (l *liveStream) execute(e *switchyard.Event, cursor string) (payload []byte, universal bool) {
	dep := &callerDependence{}
	ctx, cancel := context.WithTimeout(context.WithValue(resolvers.WithEvent(l.ctx, e), callerDependenceKey{}, dep), executeTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			rid := RequestIDFromContext(l.ctx)
			l.log.ErrorContext(l.ctx, "live: panic executing an event", "request_id", rid, "seq", e.Seq, "panic", fmt.Sprint(v))
			payload, universal = internalErrorPayload(rid), false
		}
	}()
	responses, ctx := l.exec.DispatchOperation(graphql.StartOperationTrace(ctx), l.rc)
	resp := responses(ctx)
	if resp == nil {
		rid := RequestIDFromContext(l.ctx)
		l.log.ErrorContext(l.ctx, "live: executing an event gave no response", "request_id", rid, "seq", e.Seq)
		return internalErrorPayload(rid), false
	}
	if resp.Extensions == nil {
		resp.Extensions = map[string]any{}
	}
	resp.Extensions["cursor"] = cursor
	return appendResponse(nil, resp), !dep.dependent.Load()
}

// callerDependence records whether an execution of one event ran a field
// resolver (or method) below the subscription field. Those read through the
// services, which answer per caller; every other field is the event's own
// data, the same for whoever may receive the event at all.
type callerDependence struct{ dependent atomic.Bool }

type callerDependenceKey struct{}

// noteCallerDependence is field middleware: cheap for the fields that are
// plain data, and a no-op outside live executions.
func noteCallerDependence(ctx context.Context, next graphql.Resolver) (any, error) {
	if fc := graphql.GetFieldContext(ctx); fc != nil && (fc.IsResolver || fc.IsMethod) && fc.Object != "Subscription" {
		if dep, ok := ctx.Value(callerDependenceKey{}).(*callerDependence); ok {
			dep.dependent.Store(true)
		}
	}
	return next(ctx)
}

func internalErrorPayload(requestID string) []byte {
	e := gqlerror.Errorf("%s", internalMessage)
	e.Extensions = map[string]any{"code": switchyard.EINTERNAL, "requestId": requestID}
	return mustJSON(&graphql.Response{Errors: gqlerror.List{e}})
}

// resultKey names a set of subscribers whose results are the same bytes:
// those of one operation (document, operation name, variables), or of one
// operation and one caller.
type resultKey struct {
	hash [sha256.Size]byte
}

// newResultKeys returns the keys of rc's results and of caller's.
func newResultKeys(rc *graphql.OperationContext, caller *switchyard.Caller) (op, mine resultKey, err error) {
	vars, err := json.Marshal(keyVariables(rc)) // map keys sorted: stable
	if err != nil {
		return op, mine, err
	}
	if caller == nil {
		caller = &switchyard.Caller{}
	}
	op = hashParts(rc.RawQuery, rc.OperationName, string(vars))
	mine = hashParts(string(op.hash[:]), caller.UserID, string(caller.Role), caller.Email)
	return op, mine, nil
}

// keyVariables are the variables that can change an event's result: all but
// those only the subscription field's own arguments use. Those choose which
// events a subscriber gets (after, projectId, id), not what an event's
// result holds, so subscribers resuming from different cursors still share
// results.
func keyVariables(rc *graphql.OperationContext) map[string]any {
	if len(rc.Operation.SelectionSet) != 1 {
		return rc.Variables
	}
	root, ok := rc.Operation.SelectionSet[0].(*ast.Field)
	if !ok {
		return rc.Variables
	}
	inArgs := map[string]bool{}
	for _, a := range root.Arguments {
		valueVariables(a.Value, inArgs)
	}
	if len(inArgs) == 0 {
		return rc.Variables
	}
	elsewhere := map[string]bool{}
	directiveVariables(root.Directives, elsewhere)
	selectionVariables(root.SelectionSet, elsewhere, map[string]bool{})
	vars := make(map[string]any, len(rc.Variables))
	for name, v := range rc.Variables {
		if !inArgs[name] || elsewhere[name] {
			vars[name] = v
		}
	}
	return vars
}

func selectionVariables(set ast.SelectionSet, into, fragments map[string]bool) {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			for _, a := range sel.Arguments {
				valueVariables(a.Value, into)
			}
			directiveVariables(sel.Directives, into)
			selectionVariables(sel.SelectionSet, into, fragments)
		case *ast.InlineFragment:
			directiveVariables(sel.Directives, into)
			selectionVariables(sel.SelectionSet, into, fragments)
		case *ast.FragmentSpread:
			directiveVariables(sel.Directives, into)
			if sel.Definition != nil && !fragments[sel.Name] {
				fragments[sel.Name] = true
				directiveVariables(sel.Definition.Directives, into)
				selectionVariables(sel.Definition.SelectionSet, into, fragments)
			}
		}
	}
}

func directiveVariables(ds ast.DirectiveList, into map[string]bool) {
	for _, d := range ds {
		for _, a := range d.Arguments {
			valueVariables(a.Value, into)
		}
	}
}

func valueVariables(v *ast.Value, into map[string]bool) {
	if v == nil {
		return
	}
	if v.Kind == ast.Variable {
		into[v.Raw] = true
	}
	for _, c := range v.Children {
		valueVariables(c.Value, into)
	}
}

func hashParts(parts ...string) resultKey {
	h := sha256.New()
	for _, part := range parts {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	var k resultKey
	h.Sum(k.hash[:0])
	return k
}

// sharedResults remembers recent results per (operation, event) so that
// each is executed once for all its subscribers, also those a few events
// behind the others. It is a set-associative cache of fixed size: memory
// does not grow with subscribers or operations, and an eviction only costs
// an execution again. Results are only worth keeping while an event is
// being fanned out, so a sweep drops those older than sharedResultTTL:
// otherwise the slots would hold old payloads, however large, for good.
type sharedResults struct {
	sets [sharedResultSets]struct {
		mu sync.Mutex
		r  [sharedResultWays]*sharedResult
	}
	sweeping atomic.Bool
}

const (
	sharedResultSets = 4096
	sharedResultWays = 2
	sharedResultTTL  = 10 * time.Second
)

// sharedResult is one event executed for one operation, or for one
// operation and caller. by, cursor, payload and universal are set inside
// once and only read after it.
type sharedResult struct {
	key       resultKey
	seq       int64
	created   time.Time
	once      sync.Once
	by        resultKey // the caller whose execution it is
	cursor    string
	payload   []byte
	universal bool        // the same for every caller
	done      atomic.Bool // the fields above are set

	sseOnce sync.Once
	sse     []byte
}

// sseChunk is the result as a `next` event of an event stream, framed as
// one HTTP/1.1 chunk: the same bytes for every SSE subscriber, written as
// they are.
func (r *sharedResult) sseChunk() []byte {
	r.sseOnce.Do(func() {
		n := len(sseID) + len(r.cursor) + len(sseNewline) + len(sseNextEvent) + len(r.payload) + len(sseEventEnd)
		b := make([]byte, 0, n+16+2*len(chunkEnd))
		b = strconv.AppendInt(b, int64(n), 16)
		b = append(b, chunkEnd...)
		b = append(b, sseID...)
		b = append(b, r.cursor...)
		b = append(b, sseNewline...)
		b = append(b, sseNextEvent...)
		b = append(b, r.payload...)
		b = append(b, sseEventEnd...)
		r.sse = append(b, chunkEnd...)
	})
	return r.sse
}

// get returns event seq's result for the subscriber whose keys are op and
// mine, computed with fill once for the operation, or once for the caller
// when the operation's result turned out to be the first caller's own.
func (c *sharedResults) get(op, mine resultKey, seq int64, fill func(*sharedResult)) *sharedResult {
	r := c.entry(op, seq)
	r.once.Do(func() { r.by = mine; fill(r); r.done.Store(true) })
	if r.universal || r.by == mine {
		return r
	}
	own := c.entry(mine, seq)
	own.once.Do(func() { own.by = mine; fill(own); own.done.Store(true) })
	return own
}

// ready is get's result if it has been computed already, else nil; shared
// then says whether the missing result is the operation's, which every
// subscriber of it may share, rather than the caller's own.
func (c *sharedResults) ready(op, mine resultKey, seq int64) (r *sharedResult, shared bool) {
	r = c.entry(op, seq)
	if !r.done.Load() {
		return nil, true
	}
	if r.universal || r.by == mine {
		return r, true
	}
	if own := c.entry(mine, seq); own.done.Load() {
		return own, false
	}
	return nil, false
}

// entry finds or makes the slot of (key, seq).
func (c *sharedResults) entry(key resultKey, seq int64) *sharedResult {
	i := (binary.LittleEndian.Uint64(key.hash[:8]) ^ uint64(seq)*0x9e3779b97f4a7c15) % sharedResultSets
	set := &c.sets[i]
	set.mu.Lock()
	var r *sharedResult
	victim := 0
	for w, x := range set.r {
		if x != nil && x.seq == seq && x.key == key {
			r = x
			break
		}
		// Evict an empty way, else the one of the older event.
		if x == nil || (set.r[victim] != nil && x.seq < set.r[victim].seq) {
			victim = w
		}
	}
	if r == nil {
		r = &sharedResult{key: key, seq: seq, created: time.Now()}
		set.r[victim] = r
	}
	set.mu.Unlock()
	if c.sweeping.CompareAndSwap(false, true) {
		time.AfterFunc(sharedResultTTL, c.sweep)
	}
	return r
}

// sweep drops results older than sharedResultTTL and comes back while any
// remain.
func (c *sharedResults) sweep() {
	cutoff := time.Now().Add(-sharedResultTTL)
	left := false
	for i := range c.sets {
		set := &c.sets[i]
		set.mu.Lock()
		for w, r := range set.r {
			switch {
			case r == nil:
			case r.created.Before(cutoff):
				set.r[w] = nil
			default:
				left = true
			}
		}
		set.mu.Unlock()
	}
	if left {
		time.AfterFunc(sharedResultTTL, c.sweep)
		return
	}
	c.sweeping.Store(false)
}
