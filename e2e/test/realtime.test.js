// Live updates against a running Switchyard (issue 3), with the reference
// clients of each protocol: graphql-ws for graphql-transport-ws, raw `ws`
// frames for the legacy graphql-ws subprotocol, graphql-sse for GraphQL over
// SSE (distinct connections), and the `eventsource` package for EventSource
// semantics (id:, Last-Event-ID, reconnection) on /graphql and /events.
//
// What the process-level cases (two instances, Redis restart, relay
// fail-over, slow consumers, token expiry, out-of-order commits) need is in
// the Go package e2e/cluster.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { emailsWithRole, startSwitchyard } from '../lib/switchyard.js';
import {
  cursorOf,
  eventSeq,
  legacyConnect,
  openEventSource,
  pruneThrough,
  RawSocket,
  seqOf,
  settledCursor,
  sseSubscribe,
  transportConnect,
  wsSubscribe,
  wsURL,
} from '../lib/realtime.js';

const log = (msg) => process.stderr.write(`e2e: ${msg}\n`);

const ORDER_EVENTS = `subscription OrderEvents($after: String, $projectId: ID) {
  orderEvents(projectId: $projectId, after: $after) {
    cursor type previousStatus occurredAt order { id status }
  }
}`;

const NOTIFICATION_CREATED = `subscription Notifications($after: String) {
  notificationCreated(after: $after) {
    id kind title body readAt createdAt
    subject { __typename ... on Order { id status } ... on Project { id name } }
  }
}`;

// Every event type /events may send, for EventSource listeners.
const EVENT_TYPES = [
  'order.created',
  'order.status_changed',
  'order.shipment_set',
  'notification.created',
  'project.created',
  'project.updated',
  'project.member_added',
  'project.member_removed',
  'error',
];

function dataOf(res, what) {
  assert.equal(res.errors, undefined, `${what}: unexpected errors ${JSON.stringify(res.errors, null, 2)}`);
  assert.ok(res.data, `${what}: no data`);
  return res.data;
}

function codesOf(errors) {
  return (Array.isArray(errors) ? errors : [errors]).map((e) => e?.extensions?.code);
}

// The OrderEvents of a stream of `next` payloads ({ data, errors,
// extensions }), checked as they go: no errors, extensions.cursor is the
// event's cursor.
function orderEvents(payloads, who) {
  return payloads.map((p) => {
    assert.equal(p.errors, undefined, `${who}: a payload with errors: ${JSON.stringify(p)}`);
    const e = p.data.orderEvents;
    assert.equal(p.extensions?.cursor, e.cursor, `${who}: extensions.cursor differs from the event's cursor`);
    return { cursor: e.cursor, type: e.type, id: e.order.id, status: e.order.status, previous: e.previousStatus };
  });
}

// The order events of a legacy connection's `data` messages for id.
function legacyOrderEvents(sock, id) {
  return orderEvents(
    sock.of(id).filter((m) => m.type === 'data').map((m) => m.payload),
    `legacy ${id}`,
  );
}

// /events records ({ type, id, data }) as changes.
function streamEvents(items, who) {
  return items.map((ev) => {
    assert.equal(ev.id, ev.data.cursor, `${who}: id: differs from the data's cursor`);
    return { cursor: ev.data.cursor, type: ev.type, id: ev.data.subjectId, status: ev.data.data?.status };
  });
}

// What a test expects, in the shape of orderEvents' output.
const created = (id) => ({ type: 'CREATED', id, status: 'PENDING' });
const stepped = (id, status) => ({ type: 'STATUS_CHANGED', id, status });
const shape = (events) => events.map(({ type, id, status }) => ({ type, id, status }));

// Exactly want, in order, with rising cursors: no gap, no duplicate.
function assertExactly(events, want, who) {
  assert.deepEqual(shape(events), want, `${who}: received ${JSON.stringify(shape(events))}`);
  for (let i = 1; i < events.length; i++) {
    assert.ok(seqOf(events[i].cursor) > seqOf(events[i - 1].cursor), `${who}: cursors not rising at ${i}: ${events.map((e) => e.cursor)}`);
  }
}

const FIXTURES_QUERY = `{
  projects(first: 10) { edges { node {
    id name
    owner { id email role }
    members(first: 50) { edges { node { id email role } } }
  } } }
}`;

// From the seeded data: member A of project PA with no part in PB, member B
// of PB with no part in PA.
function pickTenants(projects) {
  const people = (p) => [p.owner, ...p.members.edges.map((e) => e.node)];
  for (const pa of projects) {
    for (const pb of projects) {
      if (pa.id === pb.id) continue;
      const inA = new Set(people(pa).map((u) => u.id));
      const inB = new Set(people(pb).map((u) => u.id));
      const memberA = people(pa).find((u) => u.role === 'MEMBER' && !inB.has(u.id));
      const memberB = people(pb).find((u) => u.role === 'MEMBER' && !inA.has(u.id));
      if (memberA && memberB) return { pa, pb, memberA, memberB };
    }
  }
  throw new Error(`the seeded data has no two projects with distinct members: ${JSON.stringify(projects.map((p) => p.name))}`);
}

describe('live updates through a running Switchyard', () => {
  let sy;
  const tokens = {};
  let fx;
  const closers = [];
  let setupError;
  let setupReported = false;
  const ready = () => {
    if (!setupError) return;
    if (!setupReported) {
      setupReported = true;
      throw setupError;
    }
    throw new Error(`setup failed (see the first failure): ${setupError.message.split('\n')[0]}`);
  };
  // Everything a test opens is closed at the end, whatever happened.
  const track = (x) => {
    closers.push(x);
    return x;
  };

  before(
    async () => {
      try {
        sy = await startSwitchyard({ log });
        const [adminEmail] = await emailsWithRole(sy.databaseURL, 'ADMIN');
        assert.ok(adminEmail, `the seed created no admin; seed output:\n${sy.seedOutput}`);
        tokens.admin = await sy.token(adminEmail);
        fx = pickTenants(dataOf(await sy.graphql(FIXTURES_QUERY, {}, tokens.admin), 'fixtures').projects.edges.map((e) => e.node));
        tokens.memberA = await sy.token(fx.memberA.email);
        tokens.memberB = await sy.token(fx.memberB.email);
        log(`member A ${fx.memberA.email} (${fx.pa.name}); member B ${fx.memberB.email} (${fx.pb.name})`);
        // A first event, so that every cursor a test starts from names one:
        // `after` the cursor of seq 0 would mean "live only".
        await newOrder(fx.pa.id);
      } catch (err) {
        setupError = err;
      }
    },
    { timeout: 20 * 60_000 },
  );

  after(async () => {
    for (const c of closers.reverse()) {
      try {
        await c.close();
      } catch {
        // closing what already closed
      }
    }
    await sy?.stop();
  });

  const gql = async (query, variables, token, what = 'request') => dataOf(await sy.graphql(query, variables, token), what);

  async function newOrder(projectId, customerId) {
    const input = { projectId, currency: 'USD', items: [{ sku: 'RT-1', name: 'Realtime widget', quantity: 1, unitPrice: '4.50' }] };
    if (customerId) input.customerId = customerId;
    const d = await gql('mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }', { input }, tokens.admin, 'createOrder');
    return d.createOrder.id;
  }

  async function step(id, status) {
    await gql('mutation($id: ID!, $s: OrderStatus!) { updateOrderStatus(id: $id, status: $s) { id status } }', { id, s: status }, tokens.admin, `updateOrderStatus ${status}`);
  }

  const settled = () => settledCursor(sy.databaseURL);

  // -------------------------------------------------------------------------
  test('a status change reaches a subscriber on every transport', async () => {
    ready();
    const id = await newOrder(fx.pa.id);
    const from = await settled();
    const req = { query: ORDER_EVENTS, variables: { after: from, projectId: fx.pa.id } };

    const ws = track(wsSubscribe(sy, tokens.memberA, req));
    const sse = track(sseSubscribe(sy, tokens.memberA, req));
    const legacy = track(await legacyConnect(sy, tokens.memberA));
    legacy.send({ id: 'l1', type: 'start', payload: req });
    const { createEventStreamTicket: ticket } = await gql(
      'mutation { createEventStreamTicket(topics: [ORDERS]) { ticket expiresAt url } }',
      {},
      tokens.memberA,
      'createEventStreamTicket',
    );
    const es = track(openEventSource(`${sy.url}${ticket.url}&after=${from}`, { names: EVENT_TYPES }));

    await step(id, 'PAID');
    const want = [stepped(id, 'PAID')];

    const got = {
      'graphql-transport-ws': orderEvents(await ws.rec.count(1), 'graphql-transport-ws'),
      'graphql-sse': orderEvents(await sse.rec.count(1), 'graphql-sse'),
      'legacy graphql-ws': await legacy.message((m) => m.id === 'l1' && m.type === 'data', 'data').then(() => legacyOrderEvents(legacy, 'l1')),
      '/events': streamEvents(await es.rec.count(1), '/events'),
    };
    got['/events'] = got['/events'].map((e) => ({ ...e, type: e.type === 'order.status_changed' ? 'STATUS_CHANGED' : e.type }));
    for (const [transport, events] of Object.entries(got)) {
      assertExactly(events, want, transport);
    }
    // One event, one cursor, whichever transport carried it.
    assert.equal(new Set(Object.values(got).map((events) => events[0].cursor)).size, 1, `cursors differ: ${JSON.stringify(got)}`);
    const ev = (await ws.rec.count(1))[0].data.orderEvents;
    assert.equal(ev.previousStatus, 'PENDING');
    assert.ok(!Number.isNaN(Date.parse(ev.occurredAt)), `occurredAt ${ev.occurredAt}`);
  });

  // -------------------------------------------------------------------------
  test('orderUpdated and projectUpdated follow one subject; one the caller cannot read is NOT_FOUND', async () => {
    ready();
    const id = await newOrder(fx.pa.id);
    // No cursor to start from: these fields have no `after`. Until the
    // subscription is in place a change may go by unseen, so shipments are
    // set until one arrives; the status change after it must arrive too.
    const ws = track(
      wsSubscribe(sy, tokens.memberA, {
        query: 'subscription($id: ID!) { orderUpdated(id: $id) { cursor type previousStatus order { id status shipment { trackingNumber } } } }',
        variables: { id },
      }),
    );
    for (let i = 1; ; i++) {
      await gql(
        'mutation($id: ID!, $t: String!) { setOrderShipment(id: $id, input: { carrier: "UPS", trackingNumber: $t }) { id } }',
        { id, t: `1Z${i}` },
        tokens.admin,
        'setOrderShipment',
      );
      try {
        await ws.rec.count(1, 1_000);
        break;
      } catch (err) {
        if (i === 20) throw err;
      }
    }
    const before = ws.rec.items.length;
    await step(id, 'PAID');
    const items = await ws.rec.waitFor((xs) => xs.slice(before).some((p) => p.data?.orderUpdated?.type === 'STATUS_CHANGED'), 'STATUS_CHANGED');
    for (const p of items) {
      assert.equal(p.errors, undefined, JSON.stringify(p));
      assert.equal(p.data.orderUpdated.order.id, id);
    }
    assert.equal(items.at(-1).data.orderUpdated.order.status, 'PAID');

    const pws = track(wsSubscribe(sy, tokens.memberA, { query: 'subscription($id: ID!) { projectUpdated(id: $id) { id description } }', variables: { id: fx.pa.id } }));
    for (let i = 1; ; i++) {
      await gql('mutation($id: ID!, $d: String!) { updateProject(id: $id, input: { description: $d }) { id } }', { id: fx.pa.id, d: `realtime ${i}` }, tokens.admin, 'updateProject');
      try {
        const [p] = await pws.rec.count(1, 1_000);
        assert.equal(p.data.projectUpdated.id, fx.pa.id);
        assert.match(p.data.projectUpdated.description, /^realtime \d+$/);
        break;
      } catch (err) {
        if (i === 20) throw err;
      }
    }

    // Member B may read neither.
    for (const [query, variables] of [
      ['subscription($id: ID!) { orderUpdated(id: $id) { cursor } }', { id }],
      ['subscription($id: ID!) { projectUpdated(id: $id) { id } }', { id: fx.pa.id }],
    ]) {
      const sub = track(wsSubscribe(sy, tokens.memberB, { query, variables }, `member B ${query.slice(0, 30)}`));
      const errors = await sub.rec.waitFor((xs, end) => xs.some((p) => p.errors) || end?.error, 'an error');
      const errs = errors.find((p) => p.errors)?.errors ?? sub.rec.end.error;
      assert.ok(codesOf(errs).includes('NOT_FOUND'), `member B: ${JSON.stringify(errs)}`);
      assert.ok(!errors.some((p) => p.data?.orderUpdated || p.data?.projectUpdated), 'member B received data');
    }
  });

  // -------------------------------------------------------------------------
  test('another member never receives an event of a project they cannot read, live or replayed, on any transport', async () => {
    ready();
    const from = await settled();
    const req = { query: ORDER_EVENTS, variables: { after: from } };
    const b = tokens.memberB;

    // Member B on every transport, live from `from`.
    const live = {
      ws: track(wsSubscribe(sy, b, req, 'B graphql-transport-ws')),
      sse: track(sseSubscribe(sy, b, req, 'B graphql-sse')),
      notifications: track(wsSubscribe(sy, b, { query: NOTIFICATION_CREATED, variables: { after: from } }, 'B notifications')),
      legacy: track(await legacyConnect(sy, b)),
      events: track(openEventSource(`${sy.url}/events?topics=orders,notifications,projects&after=${from}`, { token: b, names: EVENT_TYPES })),
    };
    live.legacy.send({ id: 'b', type: 'start', payload: req });
    // Member A, as a control: the events below do reach those who may see them.
    const control = track(wsSubscribe(sy, tokens.memberA, req, 'A control'));

    const id = await newOrder(fx.pa.id);
    await step(id, 'PAID');
    await step(id, 'SHIPPED');
    await gql('mutation($id: ID!) { updateProject(id: $id, input: { description: "isolation" }) { id } }', { id: fx.pa.id }, tokens.admin);
    const marker = await newOrder(fx.pb.id);
    const wantB = [created(marker)];

    assertExactly(
      orderEvents(await control.rec.count(3), 'A control'),
      [created(id), stepped(id, 'PAID'), stepped(id, 'SHIPPED')],
      'member A (control)',
    );
    assertExactly(orderEvents(await live.ws.rec.count(1), 'B ws'), wantB, 'member B, graphql-transport-ws');
    assertExactly(orderEvents(await live.sse.rec.count(1), 'B sse'), wantB, 'member B, graphql-sse');
    await live.legacy.message((m) => m.id === 'b' && m.type === 'data', 'data');
    assertExactly(legacyOrderEvents(live.legacy, 'b'), wantB, 'member B, legacy graphql-ws');
    const streamed = streamEvents(await live.events.rec.count(1), 'B /events');
    assert.deepEqual(streamed.map((e) => [e.type, e.id]), [['order.created', marker]], `member B, /events: ${JSON.stringify(streamed)}`);

    // Replayed from the same cursor, on every transport: the same answer.
    const fence = await newOrder(fx.pb.id);
    const wantReplay = [created(marker), created(fence)];
    const replay = {
      ws: track(wsSubscribe(sy, b, req, 'B replay graphql-transport-ws')),
      sse: track(sseSubscribe(sy, b, req, 'B replay graphql-sse')),
      legacy: track(await legacyConnect(sy, b)),
      events: track(openEventSource(`${sy.url}/events?topics=orders,notifications,projects&after=${from}`, { token: b, names: EVENT_TYPES })),
    };
    replay.legacy.send({ id: 'r', type: 'start', payload: req });
    assertExactly(orderEvents(await replay.ws.rec.count(2), 'B replay ws'), wantReplay, 'member B replay, graphql-transport-ws');
    assertExactly(orderEvents(await replay.sse.rec.count(2), 'B replay sse'), wantReplay, 'member B replay, graphql-sse');
    await replay.legacy.rec.waitFor(() => replay.legacy.of('r').filter((m) => m.type === 'data').length >= 2, '2 data');
    assertExactly(legacyOrderEvents(replay.legacy, 'r'), wantReplay, 'member B replay, legacy graphql-ws');
    const replayed = streamEvents(await replay.events.rec.count(2), 'B replay /events');
    assert.deepEqual(replayed.map((e) => [e.type, e.id]), [['order.created', marker], ['order.created', fence]], `member B replay, /events: ${JSON.stringify(replayed)}`);

    // And live, the fence too, and still nothing else.
    assertExactly(orderEvents(await live.ws.rec.count(2), 'B ws'), wantReplay, 'member B, graphql-transport-ws, after the fence');
    assert.equal((await live.events.rec.count(2)).length, 2, 'member B, /events, after the fence');
    assert.deepEqual(live.notifications.rec.items, [], 'member B received notifications about project A');
  });

  // -------------------------------------------------------------------------
  test('a member removed from a project stops receiving its events at once, and replay obeys the removal', async () => {
    ready();
    const b = tokens.memberB;
    await gql('mutation($p: ID!, $u: ID!) { addProjectMember(projectId: $p, userId: $u) { id } }', { p: fx.pa.id, u: fx.memberB.id }, tokens.admin);
    try {
      const from = await settled();
      const req = { query: ORDER_EVENTS, variables: { after: from } };
      const sub = track(wsSubscribe(sy, b, req, 'B while a member of A'));
      const id = await newOrder(fx.pa.id);
      assertExactly(orderEvents(await sub.rec.count(1), 'B member'), [created(id)], 'member B while a member of A');

      await gql('mutation($p: ID!, $u: ID!) { removeProjectMember(projectId: $p, userId: $u) { id } }', { p: fx.pa.id, u: fx.memberB.id }, tokens.admin);
      await step(id, 'PAID');
      const marker = await newOrder(fx.pb.id);
      assertExactly(orderEvents(await sub.rec.count(2), 'B removed'), [created(id), created(marker)], 'member B after removal');

      // Replayed now, from before they were removed: project A's events are
      // no longer theirs to see.
      const again = track(wsSubscribe(sy, b, req, 'B replay after removal'));
      assertExactly(orderEvents(await again.rec.count(1), 'B replay after removal'), [created(marker)], 'member B replaying after removal');
    } finally {
      await sy.graphql('mutation($p: ID!, $u: ID!) { removeProjectMember(projectId: $p, userId: $u) { id } }', { p: fx.pa.id, u: fx.memberB.id }, tokens.admin);
    }
  });

  // -------------------------------------------------------------------------
  test('resume after a disconnect over WebSocket with `after`: no gap, no duplicate, in order', async () => {
    ready();
    for (const transport of ['graphql-transport-ws', 'legacy graphql-ws']) {
      const from = await settled();
      const req = (after) => ({ query: ORDER_EVENTS, variables: { after, projectId: fx.pa.id } });
      const open = async (after) => {
        if (transport === 'graphql-transport-ws') {
          const c = track(wsSubscribe(sy, tokens.memberA, req(after), transport));
          return { close: () => c.close(), events: async (n) => orderEvents(await c.rec.count(n), transport) };
        }
        const s = track(await legacyConnect(sy, tokens.memberA));
        s.send({ id: 'x', type: 'start', payload: req(after) });
        return {
          close: () => s.close(),
          events: async (n) => {
            await s.rec.waitFor(() => s.of('x').filter((m) => m.type === 'data').length >= n, `${n} data`);
            return legacyOrderEvents(s, 'x');
          },
        };
      };

      const first = await open(from);
      const id = await newOrder(fx.pa.id);
      const [one] = await first.events(1);
      await first.close();

      // While disconnected: five changes.
      await step(id, 'PAID');
      await step(id, 'FULFILLED');
      await step(id, 'SHIPPED');
      const id2 = await newOrder(fx.pa.id);
      await step(id, 'DELIVERED');
      const missed = [stepped(id, 'PAID'), stepped(id, 'FULFILLED'), stepped(id, 'SHIPPED'), created(id2), stepped(id, 'DELIVERED')];

      const second = await open(one.cursor);
      assertExactly(await second.events(5), missed, `${transport}, replayed`);
      await step(id2, 'CANCELLED');
      assertExactly(await second.events(6), [...missed, stepped(id2, 'CANCELLED')], `${transport}, replayed then live`);
      await second.close();
    }
  });

  // -------------------------------------------------------------------------
  test('resume after a disconnect over SSE with Last-Event-ID, as EventSource does by itself', async () => {
    ready();
    for (const endpoint of ['/graphql', '/events']) {
      const from = await settled();
      const url =
        endpoint === '/graphql'
          ? `${sy.graphqlUrl}?${new URLSearchParams({ query: ORDER_EVENTS, variables: JSON.stringify({ after: from, projectId: fx.pa.id }) })}`
          : `${sy.url}/events?topics=orders&after=${from}`;
      const es = track(openEventSource(url, { token: tokens.memberA, names: endpoint === '/graphql' ? ['next', 'complete'] : EVENT_TYPES }));
      const events = async (n) => {
        const items = await es.rec.count(n);
        if (endpoint === '/events') {
          return streamEvents(items, endpoint).map((e) => ({ ...e, type: { 'order.created': 'CREATED', 'order.status_changed': 'STATUS_CHANGED' }[e.type] ?? e.type }));
        }
        return items.map((ev) => {
          assert.equal(ev.type, 'next', `${endpoint}: ${JSON.stringify(ev)}`);
          const [e] = orderEvents([ev.data], endpoint);
          assert.equal(ev.id, e.cursor, `${endpoint}: id: is not the event's cursor`);
          return e;
        });
      };

      const id = await newOrder(fx.pa.id);
      const [one] = await events(1);

      // The network drops the stream; EventSource will reconnect by itself,
      // once the test lets it.
      es.hold();
      es.drop();
      await es.errors.count(1);
      await step(id, 'PAID');
      await step(id, 'SHIPPED');
      const id2 = await newOrder(fx.pa.id);
      await step(id2, 'PAID');
      await step(id, 'DELIVERED');
      const missed = [stepped(id, 'PAID'), stepped(id, 'SHIPPED'), created(id2), stepped(id2, 'PAID'), stepped(id, 'DELIVERED')];
      es.release();

      assertExactly(await events(6), [created(id), ...missed], `${endpoint}, across the reconnection`);
      const reconnect = es.requests.at(-1);
      assert.equal(es.requests.length, 2, `${endpoint}: ${es.requests.length} requests`);
      assert.equal(reconnect.headers['Last-Event-ID'], one.cursor, `${endpoint}: the reconnection's Last-Event-ID`);
      await step(id2, 'CANCELLED');
      assertExactly(await events(7), [created(id), ...missed, stepped(id2, 'CANCELLED')], `${endpoint}, then live`);
      es.close();
    }

    // The graphql-sse client has no Last-Event-ID; it resumes with `after`.
    const from = await settled();
    const id = await newOrder(fx.pa.id);
    await step(id, 'PAID');
    const sse = track(sseSubscribe(sy, tokens.memberA, { query: ORDER_EVENTS, variables: { after: from, projectId: fx.pa.id } }));
    const [first] = orderEvents(await sse.rec.count(1), 'graphql-sse');
    await sse.close();
    const again = track(sseSubscribe(sy, tokens.memberA, { query: ORDER_EVENTS, variables: { after: first.cursor, projectId: fx.pa.id } }));
    assertExactly(orderEvents(await again.rec.count(1), 'graphql-sse resumed'), [stepped(id, 'PAID')], 'graphql-sse resumed with after');
  });

  // -------------------------------------------------------------------------
  test('notifications are created and delivered; markNotificationRead, markAllNotificationsRead and unreadNotificationCount work', async () => {
    ready();
    const a = tokens.memberA;
    const count = async (token = a) => (await gql('{ unreadNotificationCount }', {}, token)).unreadNotificationCount;
    const unread0 = await count();
    const from = await settled();
    const ws = track(wsSubscribe(sy, a, { query: NOTIFICATION_CREATED, variables: { after: from } }, 'A notifications ws'));
    const sse = track(sseSubscribe(sy, a, { query: NOTIFICATION_CREATED, variables: { after: from } }, 'A notifications sse'));

    // Member A is the order's customer: its status changes are news to them.
    const id = await newOrder(fx.pa.id, fx.memberA.id);
    await step(id, 'PAID');
    const [p] = await ws.rec.count(1);
    assert.equal(p.errors, undefined, JSON.stringify(p));
    const n = p.data.notificationCreated;
    assert.equal(n.kind, 'ORDER_STATUS_CHANGED');
    assert.equal(n.readAt, null);
    assert.deepEqual(n.subject, { __typename: 'Order', id, status: 'PAID' });
    assert.ok(n.title && n.body, `title and body: ${JSON.stringify(n)}`);
    assert.ok(p.extensions?.cursor, 'a notification carries its cursor');
    const [q] = await sse.rec.count(1);
    assert.equal(q.data.notificationCreated.id, n.id, 'graphql-sse delivered another notification');

    // Exactly one per change for this user: the next one is the next change's.
    await step(id, 'SHIPPED');
    const items = await ws.rec.count(2);
    const ids = items.map((x) => x.data.notificationCreated.id);
    assert.equal(new Set(ids).size, ids.length, `duplicate notifications ${ids}`);
    assert.deepEqual(items.map((x) => x.data.notificationCreated.subject.status), ['PAID', 'SHIPPED']);

    assert.equal(await count(), unread0 + 2);
    const list = await gql('{ notifications(unreadOnly: true, first: 5) { totalCount edges { node { id kind readAt } } } }', {}, a);
    assert.deepEqual(list.notifications.edges.slice(0, 2).map((e) => e.node.id), [...ids].reverse(), 'newest first');

    const mark = 'mutation($id: ID!) { markNotificationRead(id: $id) { id readAt } }';
    const read = (await gql(mark, { id: n.id }, a)).markNotificationRead;
    assert.equal(read.id, n.id);
    assert.ok(read.readAt, 'readAt after markNotificationRead');
    assert.equal(await count(), unread0 + 1);
    const again = (await gql(mark, { id: n.id }, a)).markNotificationRead;
    assert.equal(again.readAt, read.readAt, 'marking again keeps the first readAt');

    // Nobody else reads or marks it.
    const foreign = await sy.graphql(mark, { id: n.id }, tokens.memberB);
    assert.ok(codesOf(foreign.errors).includes('NOT_FOUND'), `member B marking A's notification: ${JSON.stringify(foreign)}`);
    assert.equal(await count(), unread0 + 1);

    const all = (await gql('mutation { markAllNotificationsRead }', {}, a)).markAllNotificationsRead;
    assert.equal(all, unread0 + 1);
    assert.equal(await count(), 0);
    assert.equal((await gql('{ notifications(unreadOnly: true, first: 5) { totalCount } }', {}, a)).notifications.totalCount, 0);

    // Being added to a project is news too, to that member only.
    const fromB = await settled();
    const bws = track(wsSubscribe(sy, tokens.memberB, { query: NOTIFICATION_CREATED, variables: { after: fromB } }, 'B notifications'));
    const project = (await gql('mutation { createProject(input: { name: "Realtime notifications" }) { id } }', {}, tokens.admin)).createProject.id;
    await gql('mutation($p: ID!, $u: ID!) { addProjectMember(projectId: $p, userId: $u) { id } }', { p: project, u: fx.memberB.id }, tokens.admin);
    const [added] = await bws.rec.count(1);
    assert.equal(added.data.notificationCreated.kind, 'PROJECT_MEMBER_ADDED');
    assert.deepEqual(added.data.notificationCreated.subject, { __typename: 'Project', id: project, name: 'Realtime notifications' });
    await step(id, 'DELIVERED');
    const mine = await ws.rec.count(3);
    assert.deepEqual(mine.map((x) => x.data.notificationCreated.kind), ['ORDER_STATUS_CHANGED', 'ORDER_STATUS_CHANGED', 'ORDER_STATUS_CHANGED'], 'member A got member B\'s notification');
  });

  // -------------------------------------------------------------------------
  test('/events with a ticket from createEventStreamTicket; a ticket is good for one stream', async () => {
    ready();
    const anonymous = await sy.graphql('mutation { createEventStreamTicket { ticket } }', {});
    assert.ok(codesOf(anonymous.errors).includes('UNAUTHENTICATED'), JSON.stringify(anonymous));

    const from = await settled();
    const { createEventStreamTicket: t } = await gql('mutation { createEventStreamTicket(topics: [ORDERS]) { ticket expiresAt url } }', {}, tokens.memberA);
    assert.match(t.url, /^\/events\?/);
    const params = new URL(t.url, sy.url).searchParams;
    assert.equal(params.get('ticket'), t.ticket);
    assert.equal(params.get('topics'), 'orders');
    const ttl = Date.parse(t.expiresAt) - Date.now();
    assert.ok(ttl > 0 && ttl <= 61_000, `expiresAt ${t.expiresAt}`);

    const es = track(openEventSource(`${sy.url}${t.url}&after=${from}`, { names: EVENT_TYPES }));
    const id = await newOrder(fx.pa.id);
    await step(id, 'PAID');
    const got = await es.rec.count(2);
    assert.deepEqual(got.map((e) => [e.type, e.data.subjectId, e.data.data.status]), [
      ['order.created', id, 'PENDING'],
      ['order.status_changed', id, 'PAID'],
    ]);
    for (const e of got) {
      assert.equal(e.id, e.data.cursor);
      assert.equal(e.data.projectId, fx.pa.id);
    }
    assert.ok(seqOf(got[1].id) > seqOf(got[0].id));

    // The ticket was consumed: a second stream with it is refused, and so
    // is EventSource's own reconnection with the same URL.
    const second = await fetch(`${sy.url}${t.url}`, { headers: { accept: 'text/event-stream' }, signal: AbortSignal.timeout(10_000) });
    assert.equal(second.status, 401);
    const body = await second.json();
    assert.ok(codesOf(body.errors).includes('UNAUTHENTICATED'), JSON.stringify(body));
    es.drop();
    const [failure] = await es.errors.waitFor((xs) => xs.some((e) => e.code === 401), 'a 401 on reconnection');
    assert.ok(failure);
    await es.errors.waitFor(() => es.es.readyState === es.es.CLOSED, 'EventSource to give up');

    // A ticket covers its topics only.
    const { createEventStreamTicket: t2 } = await gql('mutation { createEventStreamTicket(topics: [ORDERS]) { url } }', {}, tokens.memberA);
    const other = await fetch(`${sy.url}${t2.url.replace('topics=orders', 'topics=notifications')}`, { headers: { accept: 'text/event-stream' }, signal: AbortSignal.timeout(10_000) });
    assert.equal(other.status, 403, `a ticket for orders used for notifications: ${other.status}`);
    await other.body?.cancel();
  });

  // -------------------------------------------------------------------------
  test('when the token expires, SSE and /events streams end with UNAUTHENTICATED naming the cursor; a new token resumes', async () => {
    ready();
    const short = await sy.token(fx.memberA.email, { ttl: '5s' });
    const from = await settled();
    const req = { query: ORDER_EVENTS, variables: { after: from, projectId: fx.pa.id } };
    const sse = track(sseSubscribe(sy, short, req, 'sse, short token'));
    const { createEventStreamTicket: t } = await gql('mutation { createEventStreamTicket(topics: [ORDERS]) { url } }', {}, short);
    const es = track(openEventSource(`${sy.url}${t.url}&after=${from}`, { names: EVENT_TYPES }));
    const id = await newOrder(fx.pa.id);
    const [first] = orderEvents(await sse.rec.count(1), 'sse');
    await es.rec.count(1);

    // The graphql-sse stream: a `next` with the error, then `complete`.
    const items = await sse.rec.waitFor((xs, end) => end !== null && xs.some((p) => p.errors), 'the expiry error', 15_000);
    const expired = items.find((p) => p.errors).errors;
    assert.ok(codesOf(expired).includes('UNAUTHENTICATED'), JSON.stringify(expired));
    assert.match(expired[0].message, new RegExp(first.cursor), `the message names the last cursor: ${expired[0].message}`);
    assert.deepEqual(sse.rec.end, { complete: true });

    // /events: an `error` event, then the stream closes.
    const ended = await es.rec.waitFor((xs) => xs.some((e) => e.type === 'error'), 'the expiry error event', 15_000);
    const errEvent = ended.find((e) => e.type === 'error').data;
    assert.equal(errEvent.extensions?.code, 'UNAUTHENTICATED', JSON.stringify(errEvent));
    assert.match(errEvent.message, new RegExp(first.cursor), JSON.stringify(errEvent));
    es.close();

    // Meanwhile, a change; a new token resumes after the cursor.
    await step(id, 'PAID');
    const fresh = await sy.token(fx.memberA.email);
    const again = track(sseSubscribe(sy, fresh, { query: ORDER_EVENTS, variables: { after: first.cursor, projectId: fx.pa.id } }, 'sse, new token'));
    assertExactly(orderEvents(await again.rec.count(1), 'sse resumed'), [stepped(id, 'PAID')], 'resumed with a new token');
  });

  // -------------------------------------------------------------------------
  describe('bad input gets the protocol\'s error or close code; the server and other connections carry on', () => {
    let bystanders;
    let from;

    before(async () => {
      if (setupError) return;
      from = await settled();
      const req = { query: ORDER_EVENTS, variables: { after: from, projectId: fx.pa.id } };
      const legacy = track(await legacyConnect(sy, tokens.memberA));
      legacy.send({ id: 'by', type: 'start', payload: req });
      bystanders = {
        ws: track(wsSubscribe(sy, tokens.memberA, req, 'bystander ws')),
        sse: track(sseSubscribe(sy, tokens.memberA, req, 'bystander sse')),
        legacy,
      };
    });

    // The error an operation ended with: an `error` message, or a `next`
    // whose payload carries only errors (then `complete`).
    async function operationErrors(sock, id) {
      const m = await sock.message((x) => x.id === id && (x.type === 'error' || ((x.type === 'next' || x.type === 'data') && x.payload?.errors)), `errors for ${id}`);
      return m.type === 'error' ? m.payload : m.payload.errors;
    }

    const bad = (after) => ({ query: ORDER_EVENTS, variables: { after } });

    test('graphql-transport-ws: unknown field, malformed or stale cursor are operation errors; the connection stays', async () => {
      ready();
      const sock = track(await transportConnect(sy, tokens.memberA));
      sock.send({ id: 'u', type: 'subscribe', payload: { query: 'subscription { noSuchField { id } }' } });
      const unknown = await operationErrors(sock, 'u');
      assert.ok(codesOf(unknown).includes('GRAPHQL_VALIDATION_FAILED'), JSON.stringify(unknown));
      assert.match(unknown[0].message, /noSuchField/);

      sock.send({ id: 'm', type: 'subscribe', payload: bad('not-a-cursor') });
      const malformed = await operationErrors(sock, 'm');
      assert.ok(codesOf(malformed).includes('BAD_USER_INPUT'), JSON.stringify(malformed));
      assert.equal(malformed[0].extensions.field, 'after', JSON.stringify(malformed));

      sock.send({ id: 'a', type: 'subscribe', payload: bad(cursorOf(10 ** 12)) });
      const ahead = await operationErrors(sock, 'a');
      assert.ok(codesOf(ahead).includes('BAD_USER_INPUT'), `a cursor ahead of the log: ${JSON.stringify(ahead)}`);

      assert.equal(sock.closed, null, `the connection closed: ${JSON.stringify(sock.closed)}`);
      // The same id is free again once its operation ended.
      sock.send({ id: 'm', type: 'subscribe', payload: { query: ORDER_EVENTS, variables: { after: from, projectId: fx.pa.id } } });
      sock.send({ type: 'ping' });
      await sock.message((x) => x.type === 'pong', 'pong');
      assert.equal(sock.closed, null);
    });

    const closes = [
      ['a malformed frame closes with 4400', async (s) => s.send('{"type": "subscribe", nope'), 4400, true],
      ['a frame without a type closes with 4400', async (s) => s.send({ id: '1', payload: {} }), 4400, true],
      ['subscribe before connection_init closes with 4401', async (s) => s.send({ id: '1', type: 'subscribe', payload: { query: ORDER_EVENTS } }), 4401, false],
      [
        'a duplicate operation id closes with 4409',
        async (s) => {
          s.send({ id: 'same', type: 'subscribe', payload: { query: ORDER_EVENTS, variables: { after: from } } });
          s.send({ id: 'same', type: 'subscribe', payload: { query: ORDER_EVENTS, variables: { after: from } } });
        },
        4409,
        true,
      ],
      ['a second connection_init closes with 4429', async (s) => s.send({ type: 'connection_init', payload: {} }), 4429, true],
      ['a message over the size limit closes with 1009', async (s) => s.send(JSON.stringify({ type: 'ping', payload: { pad: 'x'.repeat((1 << 20) + 16) } })), 1009, true],
    ];
    for (const [name, act, code, init] of closes) {
      test(`graphql-transport-ws: ${name}`, async () => {
        ready();
        const sock = init ? track(await transportConnect(sy, tokens.memberA)) : track(await new RawSocket(wsURL(sy), 'graphql-transport-ws').open());
        await act(sock);
        const closed = await sock.closedBy();
        assert.equal(closed.code, code, `closed with ${JSON.stringify(closed)}`);
        assert.ok(closed.reason.length > 0, 'a close reason');
      });
    }

    test('graphql-transport-ws: a refused token closes with 4403; an unknown subprotocol with 4406 or a refusal', async () => {
      ready();
      const sock = track(await new RawSocket(wsURL(sy), 'graphql-transport-ws').open());
      sock.send({ type: 'connection_init', payload: { Authorization: 'Bearer not.a.jwt' } });
      assert.equal((await sock.closedBy()).code, 4403);

      const other = track(new RawSocket(wsURL(sy), 'mqtt'));
      const end = await other.rec.ended();
      // ws refuses a handshake that picks no offered subprotocol; a server
      // that accepts it must close with 4406.
      assert.ok(end.error || end.closed?.code === 4406, JSON.stringify(end, Object.getOwnPropertyNames(end.error ?? {})));
    });

    test('graphql-transport-ws: a connection runs at most 100 operations; completing one frees its slot and its id at once', async () => {
      ready();
      const sock = track(await transportConnect(sy, tokens.memberA));
      const req = { query: ORDER_EVENTS, variables: { after: from, projectId: fx.pa.id } };
      for (let i = 0; i < 100; i++) sock.send({ id: `op${i}`, type: 'subscribe', payload: req });
      sock.send({ id: 'op100', type: 'subscribe', payload: req });
      const limited = await operationErrors(sock, 'op100');
      assert.ok(codesOf(limited).includes('RATE_LIMITED'), JSON.stringify(limited));
      assert.equal(sock.closed, null, 'the connection closed at the limit');
      // The protocol lets a client reuse an id it completed, right away.
      sock.send({ id: 'op0', type: 'complete' });
      sock.send({ id: 'op0', type: 'subscribe', payload: req });
      sock.send({ id: 'op101', type: 'subscribe', payload: req });
      const more = await operationErrors(sock, 'op101');
      assert.ok(codesOf(more).includes('RATE_LIMITED'), `the 101st again: ${JSON.stringify(more)}`);
      sock.send({ type: 'ping' });
      await sock.message((m) => m.type === 'pong', 'pong');
      assert.equal(sock.closed, null, `closed: ${JSON.stringify(sock.closed)}`);
      assert.ok(!sock.of('op0').some((m) => m.type === 'error'), JSON.stringify(sock.of('op0')));
    });

    test('a WebSocket upgrade from a foreign browser Origin is refused; the server\'s own origin and programs are not', async () => {
      ready();
      const foreign = new RawSocket(wsURL(sy), 'graphql-transport-ws', { headers: { Origin: 'https://evil.example' } });
      await assert.rejects(foreign.open(), /403/);
      foreign.close();
      const own = track(await new RawSocket(wsURL(sy), 'graphql-transport-ws', { headers: { Origin: sy.url } }).open());
      own.send({ type: 'connection_init', payload: { Authorization: `Bearer ${tokens.memberA}` } });
      await own.message((m) => m.type === 'connection_ack', 'connection_ack');
    });

    test('legacy graphql-ws: errors are messages, the connection stays; start before connection_init closes with 4401', async () => {
      ready();
      const sock = track(await legacyConnect(sy, tokens.memberA));
      await sock.message((m) => m.type === 'ka', 'the keep-alive after connection_ack');
      sock.send('{not json');
      await sock.message((m) => m.type === 'connection_error', 'connection_error');
      sock.send({ id: 'u', type: 'start', payload: { query: 'subscription { noSuchField { id } }' } });
      const unknown = await operationErrors(sock, 'u');
      assert.match(JSON.stringify(unknown), /noSuchField/);
      sock.send({ id: 'm', type: 'start', payload: bad('not-a-cursor') });
      const malformed = await operationErrors(sock, 'm');
      assert.ok(codesOf(malformed).includes('BAD_USER_INPUT'), JSON.stringify(malformed));
      sock.send({ id: 'd', type: 'start', payload: { query: ORDER_EVENTS, variables: { after: from, projectId: fx.pa.id } } });
      sock.send({ id: 'd', type: 'start', payload: { query: ORDER_EVENTS, variables: { after: from, projectId: fx.pa.id } } });
      const dup = await operationErrors(sock, 'd');
      assert.match(JSON.stringify(dup), /already/);
      assert.equal(sock.closed, null, `the legacy connection closed: ${JSON.stringify(sock.closed)}`);

      const early = track(await new RawSocket(wsURL(sy), 'graphql-ws').open());
      early.send({ id: '1', type: 'start', payload: { query: ORDER_EVENTS } });
      assert.equal((await early.closedBy()).code, 4401);
      assert.ok(early.rec.items.some((m) => m.type === 'connection_error'), `no connection_error before the close: ${JSON.stringify(early.rec.items)}`);
    });

    test('GraphQL over SSE: unknown field and bad cursors are errors in the stream', async () => {
      ready();
      const unknown = track(sseSubscribe(sy, tokens.memberA, { query: 'subscription { noSuchField { id } }' }, 'sse unknown field'));
      const [u] = await unknown.rec.count(1);
      assert.ok(codesOf(u.errors).includes('GRAPHQL_VALIDATION_FAILED'), JSON.stringify(u));
      assert.deepEqual(await unknown.rec.ended(), { complete: true });

      const malformed = track(sseSubscribe(sy, tokens.memberA, bad('not-a-cursor'), 'sse malformed after'));
      const [m] = await malformed.rec.count(1);
      assert.ok(codesOf(m.errors).includes('BAD_USER_INPUT'), JSON.stringify(m));

      // A malformed Last-Event-ID names that header.
      const res = await fetch(`${sy.graphqlUrl}?${new URLSearchParams({ query: ORDER_EVENTS })}`, {
        headers: { accept: 'text/event-stream', authorization: `Bearer ${tokens.memberA}`, 'last-event-id': 'garbage' },
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      assert.match(text, /BAD_USER_INPUT/, text);
      assert.match(text, /Last-Event-ID/, text);
    });

    test('/events: unknown topic, bad cursor, no credentials are HTTP errors', async () => {
      ready();
      const get = async (query, token) => {
        const headers = { accept: 'text/event-stream' };
        if (token) headers.authorization = `Bearer ${token}`;
        const res = await fetch(`${sy.url}/events?${query}`, { headers, signal: AbortSignal.timeout(10_000) });
        return { status: res.status, body: await res.json() };
      };
      const topic = await get('topics=orders,gossip', tokens.memberA);
      assert.equal(topic.status, 400);
      assert.ok(codesOf(topic.body.errors).includes('BAD_USER_INPUT'), JSON.stringify(topic.body));
      const cursor = await get('topics=orders&after=garbage', tokens.memberA);
      assert.equal(cursor.status, 400);
      assert.ok(codesOf(cursor.body.errors).includes('BAD_USER_INPUT'), JSON.stringify(cursor.body));
      const anonymous = await get('topics=orders');
      assert.equal(anonymous.status, 401);
      assert.ok(codesOf(anonymous.body.errors).includes('UNAUTHENTICATED'), JSON.stringify(anonymous.body));
    });

    test('a cursor older than the log keeps is refused on every transport, never a silent gap', async () => {
      ready();
      // Two events, then the first pruned as the relay's retention would:
      // resuming after the event before it would skip it.
      const before = await settled();
      const id = await newOrder(fx.pa.id);
      await step(id, 'PAID');
      await settled();
      const paid = await eventSeq(sy.databaseURL, 'order.status_changed', id);
      await pruneThrough(sy.databaseURL, paid - 1);
      const stale = bad(before);

      const sock = track(await transportConnect(sy, tokens.memberA));
      sock.send({ id: 's', type: 'subscribe', payload: stale });
      const ws = await operationErrors(sock, 's');
      assert.ok(codesOf(ws).includes('BAD_USER_INPUT'), JSON.stringify(ws));
      assert.equal(ws[0].extensions.field, 'after');

      const legacy = track(await legacyConnect(sy, tokens.memberA));
      legacy.send({ id: 's', type: 'start', payload: stale });
      assert.ok(codesOf(await operationErrors(legacy, 's')).includes('BAD_USER_INPUT'));

      const sse = track(sseSubscribe(sy, tokens.memberA, stale, 'sse stale'));
      const [m] = await sse.rec.count(1);
      assert.ok(codesOf(m.errors).includes('BAD_USER_INPUT'), JSON.stringify(m));

      const res = await fetch(`${sy.url}/events?topics=orders&after=${before}`, {
        headers: { accept: 'text/event-stream', authorization: `Bearer ${tokens.memberA}` },
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(res.status, 400);
      assert.ok(codesOf((await res.json()).errors).includes('BAD_USER_INPUT'));

      // The newest event is still there to resume after.
      const fine = track(wsSubscribe(sy, tokens.memberA, { query: ORDER_EVENTS, variables: { after: cursorOf(paid - 1), projectId: fx.pa.id } }, 'resume at the edge'));
      assertExactly(orderEvents(await fine.rec.count(1), 'edge'), [stepped(id, 'PAID')], 'resuming right at the pruned edge');
    });

    test('after all that, the server is up and the bystanders still receive', async () => {
      ready();
      const health = await fetch(`${sy.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
      assert.equal(health.status, 200);
      const id = await newOrder(fx.pa.id);
      const seen = (events) => events.some((e) => e.id === id);
      await bystanders.ws.rec.waitFor((xs) => seen(orderEvents(xs, 'bystander ws')), 'the new order');
      await bystanders.sse.rec.waitFor((xs) => seen(orderEvents(xs, 'bystander sse')), 'the new order');
      await bystanders.legacy.rec.waitFor(() => seen(legacyOrderEvents(bystanders.legacy, 'by')), 'the new order');
      for (const [name, rec] of [['ws', bystanders.ws.rec], ['sse', bystanders.sse.rec]]) {
        assert.equal(rec.end, null, `bystander ${name} ended: ${JSON.stringify(rec.end)}`);
      }
      assert.equal(bystanders.legacy.closed, null);
    });
  });
});
