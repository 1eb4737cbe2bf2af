// Federation against a running Switchyard (issue 2, item 5): its live SDL
// composes with a second subgraph, one query through @apollo/gateway returns
// fields from both, and `_entities` obeys the same authorization as direct
// queries, whether asked directly or by the gateway on a caller's behalf.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compose, SWITCHYARD_SUBGRAPH_NAME } from '../lib/compose.js';
import { startGateway } from '../lib/gateway.js';
import {
  carbonFootprintKg,
  loyaltyTier,
  SHIPPING_SUBGRAPH_NAME,
  shippingTypeDefs,
  startShippingSubgraph,
} from '../lib/shipping.js';
import { emailsWithRole, postGraphQL, startSwitchyard } from '../lib/switchyard.js';

const log = (msg) => process.stderr.write(`e2e: ${msg}\n`);

// Fails with the errors in the message, so a failure says what the server said.
function dataOf(res, what) {
  assert.equal(res.errors, undefined, `${what}: unexpected errors ${JSON.stringify(res.errors, null, 2)}`);
  assert.ok(res.data, `${what}: no data`);
  return res.data;
}

// Small pages: the server's complexity limit counts page sizes, and a few
// projects with a few orders each are all the picking needs.
const FIXTURES_QUERY = `
  query Fixtures {
    projects(first: 10) {
      edges { node {
        id
        name
        owner { id email role }
        members(first: 50) { edges { node { id email role } } }
        orders(first: 20) { edges { node { id number customer { id } } } }
      } }
    }
  }`;

// From the seeded data, as the admin sees it: member A of project PA who has no
// part in project PB, member B of PB who has no part in PA, an order in PA, and
// an order in PB whose customer is not A. A may read the first and not the second.
function pickTenants(projects) {
  const people = (p) => [p.owner, ...p.members.edges.map((e) => e.node)];
  const ids = (p) => new Set(people(p).map((u) => u.id));
  for (const pa of projects) {
    for (const pb of projects) {
      if (pa.id === pb.id) continue;
      const inA = ids(pa);
      const inB = ids(pb);
      const memberA = people(pa).find((u) => u.role === 'MEMBER' && !inB.has(u.id));
      const memberB = people(pb).find((u) => u.role === 'MEMBER' && !inA.has(u.id));
      if (!memberA || !memberB) continue;
      const ownOrder = pa.orders.edges.map((e) => e.node)[0];
      const foreignOrder = pb.orders.edges.map((e) => e.node).find((o) => o.customer.id !== memberA.id);
      if (ownOrder && foreignOrder) return { pa, pb, memberA, memberB, ownOrder, foreignOrder };
    }
  }
  throw new Error(
    'the seeded data has no two projects with distinct members and orders; ' +
      `projects seen: ${JSON.stringify(projects.map((p) => ({ name: p.name, people: people(p).length, orders: p.orders.edges.length })))}`,
  );
}

describe('federation through a running Switchyard', () => {
  let sy;
  let shipping;
  let gateway;
  const tokens = {};
  let tenants;
  // A failed setup fails every test (rather than leaving them "cancelled"), the
  // first with the whole story and the rest with its first line.
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

  before(
    async () => {
      try {
        await setup();
      } catch (err) {
        setupError = err;
      }
    },
    { timeout: 20 * 60_000 },
  );

  async function setup() {
    sy = await startSwitchyard({ log });
    shipping = await startShippingSubgraph();
    log(`shipping-estimates subgraph on ${shipping.url}`);

    const [adminEmail] = await emailsWithRole(sy.databaseURL, 'ADMIN');
    assert.ok(adminEmail, `the seed created no admin; seed output:\n${sy.seedOutput}`);
    tokens.admin = await sy.token(adminEmail);

    const data = dataOf(await sy.graphql(FIXTURES_QUERY, {}, tokens.admin), 'fixtures as admin');
    tenants = pickTenants(data.projects.edges.map((e) => e.node));
    tokens.memberA = await sy.token(tenants.memberA.email);
    tokens.memberB = await sy.token(tenants.memberB.email);
    log(
      `admin ${adminEmail}; member A ${tenants.memberA.email} (${tenants.pa.name}); ` +
        `member B ${tenants.memberB.email} (${tenants.pb.name})`,
    );

    gateway = await startGateway([
      { name: SWITCHYARD_SUBGRAPH_NAME, url: sy.graphqlUrl },
      { name: SHIPPING_SUBGRAPH_NAME, url: shipping.url },
    ]);
    log(`gateway on ${gateway.url}`);
  }

  after(async () => {
    // Each one stops even if another fails to.
    const results = await Promise.allSettled([gateway?.stop(), shipping?.stop()]);
    await sy?.stop();
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  const viaGateway = (query, variables, token) => postGraphQL(gateway.url, query, variables, token);

  test('the live _service { sdl } composes with the shipping-estimates subgraph', async () => {
    ready();
    // Fetched without credentials, as a gateway or schema registry would.
    const sdl = dataOf(await sy.graphql('{ _service { sdl } }'), '_service')._service?.sdl;
    assert.equal(typeof sdl, 'string', '_service.sdl is not a string');
    assert.match(sdl, /@link\(\s*url:\s*"https:\/\/specs\.apollo\.dev\/federation\/v2\.\d+"/, 'SDL does not link federation v2');

    const result = compose([
      { name: SWITCHYARD_SUBGRAPH_NAME, url: sy.graphqlUrl, sdl },
      { name: SHIPPING_SUBGRAPH_NAME, url: shipping.url, sdl: shippingTypeDefs },
    ]);
    assert.equal(result.errors, undefined, `composition failed:\n${result.errorText}`);

    const api = result.schema.toAPISchema().toGraphQLJSSchema();
    const order = api.getType('Order').getFields();
    for (const f of ['id', 'number', 'total', 'status', 'customer', 'project', 'carbonFootprintKg']) {
      assert.ok(order[f], `supergraph Order lacks ${f}`);
    }
    const user = api.getType('User').getFields();
    for (const f of ['id', 'email', 'role', 'loyaltyTier']) assert.ok(user[f], `supergraph User lacks ${f}`);
    const query = api.getQueryType().getFields();
    for (const f of ['me', 'order', 'orders', 'project', 'projects', 'user', 'users', 'carbonEstimate']) {
      assert.ok(query[f], `supergraph Query lacks ${f}`);
    }
  });

  test('one query through the gateway returns fields from both subgraphs', async () => {
    ready();
    const GATEWAY_QUERY = `{
      orders(first: 3) { edges { node { id number total { amount currency } carbonFootprintKg } } }
    }`;
    const DIRECT_QUERY = `{ orders(first: 3) { edges { node { id number total { amount currency } } } } }`;

    for (const who of ['admin', 'memberA']) {
      const federated = dataOf(await viaGateway(GATEWAY_QUERY, {}, tokens[who]), `gateway orders as ${who}`);
      const direct = dataOf(await sy.graphql(DIRECT_QUERY, {}, tokens[who]), `direct orders as ${who}`);
      const got = federated.orders.edges.map((e) => e.node);
      const want = direct.orders.edges.map((e) => e.node);

      assert.equal(got.length, 3, `${who}: expected 3 orders through the gateway`);
      // Numbers and totals come from Switchyard, as that caller sees them: the
      // gateway forwarded the caller's Authorization header.
      assert.deepEqual(
        got.map(({ id, number, total }) => ({ id, number, total })),
        want,
        `${who}: the gateway's Switchyard fields differ from a direct query`,
      );
      for (const o of got) {
        assert.match(o.number, /^SO-\d+$/, `${who}: order number ${o.number} is not like SO-000123`);
        // The extra field comes from the second subgraph, resolved from the id.
        assert.equal(o.carbonFootprintKg, carbonFootprintKg(o.id), `${who}: carbonFootprintKg of ${o.id}`);
      }
    }
  });

  test('the gateway extends User too: me { email loyaltyTier }', async () => {
    ready();
    const me = dataOf(await viaGateway('{ me { id email loyaltyTier } }', {}, tokens.memberA), 'gateway me').me;
    assert.equal(me.email, tenants.memberA.email);
    assert.equal(me.loyaltyTier, loyaltyTier(me.id));
  });

  test('without an Authorization header the gateway gets nothing private', async () => {
    ready();
    const res = await viaGateway('{ orders(first: 3) { edges { node { id number } } } }', {});
    assert.equal(res.data?.orders ?? null, null, `anonymous read orders: ${JSON.stringify(res.data)}`);
    const codes = (res.errors ?? []).map((e) => e.extensions?.code);
    assert.ok(codes.includes('UNAUTHENTICATED'), `expected UNAUTHENTICATED, got ${JSON.stringify(res.errors)}`);
  });

  const ENTITIES_QUERY = `
    query Entities($representations: [_Any!]!) {
      _entities(representations: $representations) { __typename ... on Order { id number } }
    }`;

  test('_entities on the Switchyard subgraph obeys authorization', async () => {
    ready();
    const { ownOrder, foreignOrder } = tenants;
    const representations = [
      { __typename: 'Order', id: foreignOrder.id },
      { __typename: 'Order', id: ownOrder.id },
    ];
    const expect = (o) => ({ __typename: 'Order', id: o.id, number: o.number });

    const cases = [
      { who: 'memberA', want: [null, expect(ownOrder)] },
      { who: 'memberB', want: [expect(foreignOrder), null] },
      { who: 'admin', want: [expect(foreignOrder), expect(ownOrder)] },
    ];
    for (const { who, want } of cases) {
      const res = await sy.graphql(ENTITIES_QUERY, { representations }, tokens[who]);
      // Another tenant's order answers as if it did not exist: null, and no
      // error that would tell it exists.
      assert.deepEqual(res.data?._entities, want, `${who}: _entities answered ${JSON.stringify(res)}`);
    }

    const anonymous = await sy.graphql(ENTITIES_QUERY, { representations });
    const entities = anonymous.data?._entities ?? [null, null];
    assert.deepEqual(entities, [null, null], `anonymous read entities: ${JSON.stringify(anonymous)}`);
  });

  test('_entities through the gateway obeys authorization', async () => {
    ready();
    // carbonEstimate starts at the second subgraph, which knows only the order's
    // id; the gateway fetches `number` from Switchyard's _entities as the caller.
    const QUERY = `
      query Estimate($id: ID!) { carbonEstimate(orderId: $id) { orderId kg order { number } } }`;
    const { foreignOrder } = tenants;

    for (const who of ['admin', 'memberB']) {
      const data = dataOf(await viaGateway(QUERY, { id: foreignOrder.id }, tokens[who]), `estimate as ${who}`);
      assert.deepEqual(
        data.carbonEstimate,
        { orderId: foreignOrder.id, kg: carbonFootprintKg(foreignOrder.id), order: { number: foreignOrder.number } },
        `${who} should read ${foreignOrder.number} through the gateway`,
      );
    }

    const res = await viaGateway(QUERY, { id: foreignOrder.id }, tokens.memberA);
    const estimate = res.data?.carbonEstimate;
    assert.ok(estimate, `member A got no estimate at all: ${JSON.stringify(res)}`);
    assert.equal(estimate.kg, carbonFootprintKg(foreignOrder.id), 'the second subgraph still answers its own field');
    assert.equal(estimate.order?.number ?? null, null, `member A read another tenant's order: ${JSON.stringify(res)}`);
    assert.doesNotMatch(JSON.stringify(res), new RegExp(foreignOrder.number), 'the order number leaked');
  });
});
