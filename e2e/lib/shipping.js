// The second subgraph: a tiny "shipping-estimates" service that extends two of
// Switchyard's entities with fields of its own. It knows nothing but ids, which
// is the point: every other field of an Order or a User must come from
// Switchyard through the gateway's query plan.
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { createHash } from 'node:crypto';
import { parse } from 'graphql';

export const SHIPPING_SUBGRAPH_NAME = 'shipping-estimates';

export const shippingTypeDefs = `
extend schema
  @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

type Order @key(fields: "id") {
  id: ID!
  "Estimated kilograms of CO2 for shipping the order; derived from the id alone."
  carbonFootprintKg: Float!
}

type User @key(fields: "id") {
  id: ID!
  loyaltyTier: String!
}

"An estimate that starts at this subgraph and reaches into Switchyard for the order."
type CarbonEstimate {
  orderId: ID!
  kg: Float!
  order: Order
}

type Query {
  carbonEstimate(orderId: ID!): CarbonEstimate!
}
`;

// Deterministic, so a test can compute the value it expects for any id.
export function carbonFootprintKg(orderId) {
  const n = createHash('sha256').update(String(orderId)).digest().readUInt32BE(0);
  return (n % 100000) / 100;
}

export function loyaltyTier(userId) {
  const tiers = ['BRONZE', 'SILVER', 'GOLD'];
  return tiers[createHash('sha256').update(String(userId)).digest()[0] % tiers.length];
}

const resolvers = {
  Query: {
    carbonEstimate: (_, { orderId }) => ({ orderId, kg: carbonFootprintKg(orderId) }),
  },
  CarbonEstimate: {
    // A reference only: the gateway asks Switchyard's _entities for the rest,
    // under the caller's own authorization.
    order: ({ orderId }) => ({ __typename: 'Order', id: orderId }),
  },
  Order: {
    __resolveReference: ({ id }) => ({ id }),
    carbonFootprintKg: ({ id }) => carbonFootprintKg(id),
  },
  User: {
    __resolveReference: ({ id }) => ({ id }),
    loyaltyTier: ({ id }) => loyaltyTier(id),
  },
};

export function shippingSchema() {
  return buildSubgraphSchema([{ typeDefs: parse(shippingTypeDefs), resolvers }]);
}

// Starts the subgraph on 127.0.0.1 on a free port the kernel picks.
export async function startShippingSubgraph() {
  // Inline traces are for Apollo's cloud reporting, which a test has no use for.
  const server = new ApolloServer({ schema: shippingSchema(), plugins: [ApolloServerPluginInlineTraceDisabled()] });
  const { url } = await startStandaloneServer(server, { listen: { host: '127.0.0.1', port: 0 } });
  return { url, stop: () => server.stop() };
}
