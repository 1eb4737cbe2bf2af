package main

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// rawDelivery is a message as received: it is parsed only after the phase,
// so that while the server fans out, the generator spends as little of the
// machine's CPU as it can on each message (read it, stamp it, keep it).
type rawDelivery struct {
	sub   int32
	frame bool // msg is a whole graphql-transport-ws message, not just its payload
	recv  int64
	msg   []byte
}

// delivery is one event received by one subscriber.
type delivery struct {
	sub      int32
	event    int32 // index in the event table; -1 for an event the driver did not make
	recv     int64 // unix nanoseconds, taken as soon as the message was read
	occurred int64 // the event's occurredAt, unix nanoseconds
}

// eventTable maps the tag of each change the driver makes to its index, so
// a delivery can be matched to the mutation that caused it.
type eventTable struct {
	mu     sync.RWMutex
	byTag  map[string]int32
	events []*triggered
}

// triggered is one change the driver made through the API.
type triggered struct {
	tag       string
	phase     string
	sent      time.Time // the mutation request was written
	responded time.Time // its response was read: the change had committed
	err       error
}

func newEventTable() *eventTable { return &eventTable{byTag: make(map[string]int32)} }

func (t *eventTable) add(tag, phase string) *triggered {
	t.mu.Lock()
	defer t.mu.Unlock()
	ev := &triggered{tag: tag, phase: phase}
	t.byTag[tag] = int32(len(t.events))
	t.events = append(t.events, ev)
	return ev
}

func (t *eventTable) lookup(tag string) int32 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if i, ok := t.byTag[tag]; ok {
		return i
	}
	return -1
}

func (t *eventTable) snapshot() []*triggered {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return append([]*triggered(nil), t.events...)
}

const recorderShards = 64

// recorder collects what every subscriber receives. Subscribers record
// concurrently; the driver watches the counters and reads the deliveries
// once a phase is over.
type recorder struct {
	field   string
	trigger string
	events  *eventTable

	delivered atomic.Int64
	confirmed atomic.Int64 // subscribers that received at least one event
	got       []atomic.Bool
	started   atomic.Int64 // SSE responses whose headers arrived
	ended     atomic.Int64 // streams that ended while the run still wanted them
	failed    atomic.Int64 // subscribers that could not be opened
	badFrames atomic.Int64
	unknown   atomic.Int64 // events no mutation of the driver's explains

	shards [recorderShards]struct {
		mu    sync.Mutex
		d     []rawDelivery
		arena []byte // where the messages of d are kept
	}

	errMu sync.Mutex
	errs  map[string]int

	meanMsg int // bytes per message recorded up to the last take
}

func newRecorder(n int, field, trigger string, events *eventTable) *recorder {
	return &recorder{field: field, trigger: trigger, events: events, got: make([]atomic.Bool, n), errs: make(map[string]int)}
}

// receive records a next message sub read at recv (unix nanoseconds): a
// whole graphql-transport-ws message when frame is set, else a next
// payload. msg is copied: readers reuse their buffers.
func (r *recorder) receive(sub int, msg []byte, frame bool, recv int64) {
	s := &r.shards[sub%recorderShards]
	s.mu.Lock()
	if cap(s.arena)-len(s.arena) < len(msg) {
		// Copies into large blocks: an allocation per message would make
		// the generator collect garbage while the server fans out.
		s.arena = make([]byte, 0, max(1<<20, len(msg)))
	}
	at := len(s.arena)
	s.arena = append(s.arena, msg...)
	s.d = append(s.d, rawDelivery{sub: int32(sub), frame: frame, recv: recv, msg: s.arena[at:len(s.arena):len(s.arena)]})
	s.mu.Unlock()
	if !r.got[sub].Load() && !r.got[sub].Swap(true) { // a read: the two readers share these cache lines
		r.confirmed.Add(1)
	}
	r.delivered.Add(1)
}

// parse turns a received message into a delivery; ok is false for one that
// is not a well-formed event (counted and noted).
func (r *recorder) parse(raw rawDelivery) (delivery, bool) {
	payload := raw.msg
	if raw.frame {
		f, err := parseWSFrame(raw.msg)
		if err != nil || f.Type != "next" {
			r.badFrames.Add(1)
			r.noteError(fmt.Sprintf("not a next message: %.200s", raw.msg))
			return delivery{}, false
		}
		payload = f.Payload
	}
	e, err := parseNext(payload, r.field)
	if err != nil {
		r.badFrames.Add(1)
		r.noteError("payload: " + err.Error())
		return delivery{}, false
	}
	idx := r.events.lookup(e.tag(r.trigger))
	if idx < 0 {
		r.unknown.Add(1)
	}
	return delivery{sub: raw.sub, event: idx, recv: raw.recv, occurred: e.OccurredAt.UnixNano()}, true
}

// streamEnded records a stream the server ended (or lost) during the run.
func (r *recorder) streamEnded(sub int, why error) {
	r.ended.Add(1)
	r.noteError(fmt.Sprintf("stream ended: %v", why))
}

func (r *recorder) openFailed(err error) {
	r.failed.Add(1)
	r.noteError(fmt.Sprintf("open: %v", err))
}

// noteError counts errors by message, so ten thousand of the same one print
// as one line.
func (r *recorder) noteError(msg string) {
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if len(r.errs) < 50 || r.errs[msg] > 0 {
		r.errs[msg]++
	}
}

func (r *recorder) errorSummary() string {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	type kv struct {
		msg string
		n   int
	}
	var list []kv
	for m, n := range r.errs {
		list = append(list, kv{m, n})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].n > list[j].n })
	var b strings.Builder
	for i, e := range list {
		if i == 8 {
			fmt.Fprintf(&b, "  … and %d more kinds\n", len(list)-i)
			break
		}
		fmt.Fprintf(&b, "  %6d × %s\n", e.n, e.msg)
	}
	return b.String()
}

// reserve makes room for deliveries more messages of the size seen so far
// and touches it: a phase then records without allocating or faulting in
// fresh pages, work the generator would otherwise do on the cores it shares
// with the server while it fans out.
func (r *recorder) reserve(deliveries int) {
	perShard := deliveries/recorderShards + 1
	size := perShard * (r.meanMsg + r.meanMsg/4 + 64)
	for i := range r.shards {
		s := &r.shards[i]
		d := make([]rawDelivery, perShard+len(s.d))
		for j := range d {
			d[j].sub = 1
		}
		arena := make([]byte, size)
		for at := 0; at < len(arena); at += 4096 {
			arena[at] = 1
		}
		s.mu.Lock()
		s.d = append(d[:0], s.d...)
		s.arena = arena[:0] // messages already recorded stay where they are
		s.mu.Unlock()
	}
}

// take returns, parsed, every delivery recorded so far, and forgets them.
func (r *recorder) take() []delivery {
	var raws []rawDelivery
	var bytes int
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		raws = append(raws, s.d...)
		for _, d := range s.d {
			bytes += len(d.msg)
		}
		s.d, s.arena = nil, nil
		s.mu.Unlock()
	}
	if len(raws) > 0 {
		r.meanMsg = bytes / len(raws)
	}
	all := make([]delivery, 0, len(raws))
	for _, raw := range raws {
		if d, ok := r.parse(raw); ok {
			all = append(all, d)
		}
	}
	return all
}
