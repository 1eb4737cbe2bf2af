// Clients for Switchyard's live updates, each a reference implementation of
// its protocol, and the bookkeeping tests need around them:
//
//   - graphql-transport-ws: the `graphql-ws` client (npm), over `ws`;
//   - the legacy `graphql-ws` subprotocol (subscriptions-transport-ws): raw
//     frames over `ws`, since its own client is unmaintained;
//   - GraphQL over SSE, distinct connections mode: the `graphql-sse` client;
//   - EventSource semantics (id:, Last-Event-ID, reconnect): the `eventsource`
//     package, for /graphql over SSE and for /events;
//   - raw WebSockets (`ws`) for frames no well-behaved client would send.
//
// Every client records what it receives in a Recorder, which tests wait on
// with a deadline: nothing here sleeps for a fixed time.
import { once } from 'node:events';
import { EventSource } from 'eventsource';
import { createClient as createSSEClient } from 'graphql-sse';
import { createClient as createWSClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';

export const DEFAULT_WAIT_MS = 20_000;

// The cursor of the event with publication sequence `seq`, as the server
// encodes it (switchyard.EventCursor). Tests decode cursors only to check
// order; clients never need to.
export const cursorOf = (seq) => Buffer.from(`ev:${seq}`).toString('base64url');

export function seqOf(cursor) {
  const raw = Buffer.from(String(cursor), 'base64url').toString();
  if (!/^ev:\d+$/.test(raw)) throw new Error(`${cursor} is not an event cursor`);
  return Number(raw.slice(3));
}

/**
 * Collects what a client receives, and lets a test wait until a condition
 * holds, failing at a deadline with everything received so far.
 */
export class Recorder {
  constructor(name) {
    this.name = name;
    this.items = [];
    // Set once the stream ended: { complete: true } or { error }.
    this.end = null;
    this.waiters = new Set();
  }

  push(item) {
    this.items.push(item);
    this.#wake();
  }

  finish(end) {
    if (!this.end) this.end = end;
    this.#wake();
  }

  #wake() {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves with the items once pred(items, end) is true. */
  waitFor(pred, what, timeoutMs = DEFAULT_WAIT_MS) {
    return new Promise((resolve, reject) => {
      const check = () => {
        let ok;
        try {
          ok = pred(this.items, this.end);
        } catch (err) {
          done();
          reject(err);
          return;
        }
        if (ok) {
          done();
          resolve(this.items);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `${this.name}: no ${what} within ${timeoutMs} ms; received ${this.items.length}: ` +
              `${JSON.stringify(this.items.slice(-10)).slice(0, 3000)}; ended: ${describeEnd(this.end)}`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Waits for at least n items. */
  count(n, timeoutMs) {
    return this.waitFor((items) => items.length >= n, `${n} item(s)`, timeoutMs);
  }

  /** Waits until the stream ended and returns how. */
  async ended(timeoutMs) {
    await this.waitFor((_, end) => end !== null, 'end of the stream', timeoutMs);
    return this.end;
  }
}

function describeEnd(end) {
  if (!end) return 'no';
  if (end.error) return `with error ${JSON.stringify(end.error, Object.getOwnPropertyNames(end.error ?? {})).slice(0, 500)}`;
  return JSON.stringify(end);
}

// ---------------------------------------------------------------------------
// graphql-transport-ws with the graphql-ws client

export const wsURL = (sy) => `${sy.url.replace(/^http/, 'ws')}/graphql`;

/**
 * Opens a graphql-ws client for token and starts one subscription. Each
 * `next` payload ({ data, errors, extensions }) is recorded; an `error`
 * message or a closed socket ends the recorder with { error }.
 */
export function wsSubscribe(sy, token, request, name = 'graphql-transport-ws') {
  const rec = new Recorder(name);
  const client = createWSClient({
    url: wsURL(sy),
    webSocketImpl: WebSocket,
    connectionParams: token ? { Authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: true,
    shouldRetry: () => false,
  });
  const unsubscribe = client.subscribe(request, {
    next: (payload) => rec.push(payload),
    error: (error) => rec.finish({ error }),
    complete: () => rec.finish({ complete: true }),
  });
  return {
    rec,
    async close() {
      unsubscribe();
      await client.dispose();
    },
  };
}

// ---------------------------------------------------------------------------
// GraphQL over SSE with the graphql-sse client (distinct connections mode)

export function sseSubscribe(sy, token, request, name = 'graphql-sse') {
  const rec = new Recorder(name);
  const client = createSSEClient({
    url: sy.graphqlUrl,
    singleConnection: false,
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
  });
  const unsubscribe = client.subscribe(request, {
    next: (payload) => rec.push(payload),
    error: (error) => rec.finish({ error }),
    complete: () => rec.finish({ complete: true }),
  });
  return {
    rec,
    async close() {
      unsubscribe();
      client.dispose();
    },
  };
}

// ---------------------------------------------------------------------------
// Raw WebSockets: the legacy protocol, and frames for bad-input tests

/**
 * A WebSocket that records every message (parsed as JSON when it is) and how
 * it closed.
 */
export class RawSocket {
  constructor(url, protocol, { headers } = {}) {
    this.rec = new Recorder(`ws ${protocol ?? '(no subprotocol)'}`);
    this.closed = null;
    this.ws = new WebSocket(url, protocol, { headers });
    this.ws.on('message', (data) => {
      let msg;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        msg = { raw: data.toString() };
      }
      this.rec.push(msg);
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.rec.finish({ closed: this.closed });
    });
    this.ws.on('error', (error) => this.rec.finish({ error }));
  }

  async open() {
    if (this.ws.readyState === WebSocket.OPEN) return this;
    const [err] = await Promise.race([once(this.ws, 'open').then(() => []), once(this.ws, 'error')]);
    if (err) throw err;
    return this;
  }

  send(msg) {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** The messages of one operation id. */
  of(id) {
    return this.rec.items.filter((m) => m.id === id);
  }

  /** Waits for a message matching pred and returns it. */
  async message(pred, what, timeoutMs) {
    const items = await this.rec.waitFor((xs) => xs.some(pred), what, timeoutMs);
    return items.find(pred);
  }

  /** Waits until the server closed the socket; returns { code, reason }. */
  async closedBy(timeoutMs = DEFAULT_WAIT_MS) {
    await this.rec.waitFor(() => this.closed !== null, 'close', timeoutMs);
    return this.closed;
  }

  close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

/** A legacy graphql-ws (subscriptions-transport-ws) connection, acknowledged. */
export async function legacyConnect(sy, token) {
  const sock = new RawSocket(wsURL(sy), 'graphql-ws');
  await sock.open();
  assertProtocol(sock, 'graphql-ws');
  sock.send({ type: 'connection_init', payload: token ? { Authorization: `Bearer ${token}` } : {} });
  await sock.message((m) => m.type === 'connection_ack', 'connection_ack');
  return sock;
}

/** A graphql-transport-ws connection, acknowledged. */
export async function transportConnect(sy, token) {
  const sock = new RawSocket(wsURL(sy), 'graphql-transport-ws');
  await sock.open();
  assertProtocol(sock, 'graphql-transport-ws');
  sock.send({ type: 'connection_init', payload: token ? { Authorization: `Bearer ${token}` } : {} });
  await sock.message((m) => m.type === 'connection_ack', 'connection_ack');
  return sock;
}

function assertProtocol(sock, want) {
  if (sock.ws.protocol !== want) throw new Error(`the server chose subprotocol ${JSON.stringify(sock.ws.protocol)}, want ${want}`);
}

// ---------------------------------------------------------------------------
// EventSource (the `eventsource` package): id:, Last-Event-ID, reconnection

/**
 * Opens an EventSource on url and records every event named in `names`
 * ({ type, id, data }) and every connection error. Since EventSource cannot
 * send headers, a token is added by a fetch wrapper, as a server-side
 * EventSource polyfill would; with a ticket URL, pass no token.
 *
 * The wrapper also lets a test cut the connection as a network would
 * (drop()), see each request's headers (requests), and hold reconnections
 * until it releases them (hold()), so it can make changes while the client
 * is certainly disconnected.
 */
export function openEventSource(url, { token, names }) {
  const rec = new Recorder(`EventSource ${new URL(url).pathname}`);
  const errors = new Recorder(`EventSource errors ${new URL(url).pathname}`);
  const requests = [];
  let current = null;
  let gate = null;

  const wrappedFetch = async (input, init) => {
    const headers = { ...(init?.headers ?? {}) };
    if (token) headers.Authorization = `Bearer ${token}`;
    requests.push({ url: String(input), headers });
    if (gate) await gate.promise;
    const res = await fetch(input, { ...init, headers });
    if (!res.body) return res;
    const reader = res.body.getReader();
    let ctrl;
    let closed = false;
    const body = new ReadableStream({
      start(c) {
        ctrl = c;
      },
      async pull(c) {
        try {
          const { done, value } = await reader.read();
          if (closed) return;
          if (done) {
            closed = true;
            c.close();
          } else c.enqueue(value);
        } catch (err) {
          if (!closed) {
            closed = true;
            c.error(err);
          }
        }
      },
      cancel(reason) {
        closed = true;
        return reader.cancel(reason);
      },
    });
    current = {
      // The stream ends for the client, and the TCP connection closes for
      // the server, as when a network drops a long request.
      drop() {
        if (!closed) {
          closed = true;
          ctrl.error(new TypeError('network connection lost'));
        }
        reader.cancel().catch(() => {});
      },
    };
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };

  const es = new EventSource(url, { fetch: wrappedFetch });
  for (const type of names) {
    es.addEventListener(type, (ev) => {
      // A server event named "error" is a MessageEvent with data; the
      // client's own connection errors carry none.
      if (type === 'error' && ev.data === undefined) return;
      rec.push({ type, id: ev.lastEventId, data: ev.data === undefined ? undefined : JSON.parse(ev.data) });
    });
  }
  es.addEventListener('error', (ev) => {
    if (ev.data === undefined) errors.push({ code: ev.code, message: ev.message, readyState: es.readyState });
  });

  return {
    es,
    rec,
    errors,
    requests,
    drop: () => current?.drop(),
    hold() {
      let release;
      gate = { promise: new Promise((r) => (release = r)) };
      gate.release = release;
    },
    release() {
      const g = gate;
      gate = null;
      g?.release();
    },
    close: () => es.close(),
  };
}

// ---------------------------------------------------------------------------
// The database, for what clients cannot see

async function withDB(databaseURL, fn) {
  const client = new pg.Client({ connectionString: databaseURL, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Waits until the relay has sequenced and published every committed event,
 * and returns the cursor of the last one: a subscription that resumes after
 * it gets exactly what commits from now on, however long it takes to set up.
 */
export async function settledCursor(databaseURL, timeoutMs = DEFAULT_WAIT_MS) {
  return withDB(databaseURL, async (c) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await c.query(
        'SELECT (SELECT count(*) FROM events WHERE seq IS NULL)::int AS pending, last_seq::text, published_seq::text FROM relay_state',
      );
      const { pending, last_seq: last, published_seq: published } = rows[0];
      if (pending === 0 && last === published) return cursorOf(Number(last));
      if (Date.now() > deadline) throw new Error(`the relay did not settle: ${JSON.stringify(rows[0])}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  });
}

/**
 * Deletes the published events up to and including seq and records it as
 * pruned, as the relay's retention pruning (postgres.PruneEvents) does: a
 * cursor before it is then older than the log keeps.
 */
export async function pruneThrough(databaseURL, seq) {
  await withDB(databaseURL, async (c) => {
    await c.query('BEGIN');
    try {
      const { rows } = await c.query('SELECT published_seq::text FROM relay_state FOR UPDATE');
      if (Number(rows[0].published_seq) < seq) throw new Error(`cannot prune through ${seq}: published_seq is ${rows[0].published_seq}`);
      await c.query('DELETE FROM events WHERE seq <= $1', [seq]);
      await c.query('UPDATE relay_state SET pruned_through = greatest(pruned_through, $1)', [seq]);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK');
      throw err;
    }
  });
}

/** The seq of the event of type about subject, once it has one. */
export async function eventSeq(databaseURL, type, subjectId) {
  return withDB(databaseURL, async (c) => {
    const { rows } = await c.query('SELECT seq::text FROM events WHERE type = $1 AND subject_id = $2 AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1', [type, subjectId]);
    if (!rows.length) throw new Error(`no sequenced ${type} event for ${subjectId}`);
    return Number(rows[0].seq);
  });
}
