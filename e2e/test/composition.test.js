// Composition from the schema files alone: no server, no database. Cheap, and it
// catches federation mistakes in schema/*.graphqls the moment they are made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSchema, isObjectType } from 'graphql';
import { compose, readSchemaFiles, SWITCHYARD_SUBGRAPH_NAME } from '../lib/compose.js';
import { SHIPPING_SUBGRAPH_NAME, shippingTypeDefs } from '../lib/shipping.js';

const schemaDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'schema');

test('schema/*.graphqls composes with a second subgraph that extends Order and User', () => {
  const result = compose([
    { name: SWITCHYARD_SUBGRAPH_NAME, url: 'http://switchyard.invalid/graphql', sdl: readSchemaFiles(schemaDir) },
    { name: SHIPPING_SUBGRAPH_NAME, url: 'http://shipping.invalid/graphql', sdl: shippingTypeDefs },
  ]);
  assert.equal(result.errors, undefined, `composition failed:\n${result.errorText}`);

  const api = result.schema.toAPISchema().toGraphQLJSSchema();
  const order = api.getType('Order');
  assert.ok(isObjectType(order));
  for (const field of ['id', 'number', 'total', 'customer', 'project', 'carbonFootprintKg']) {
    assert.ok(order.getFields()[field], `supergraph Order lacks ${field}`);
  }
  assert.ok(api.getType('User').getFields().loyaltyTier, 'supergraph User lacks loyaltyTier');
  for (const field of ['me', 'orders', 'order', 'projects', 'users', 'carbonEstimate']) {
    assert.ok(api.getQueryType().getFields()[field], `supergraph Query lacks ${field}`);
  }
  // The supergraph SDL is what a gateway or router loads; it must parse.
  assert.doesNotThrow(() => buildSchema(result.supergraphSdl, { assumeValidSDL: true }));
  for (const name of [SWITCHYARD_SUBGRAPH_NAME, SHIPPING_SUBGRAPH_NAME]) {
    assert.match(result.supergraphSdl, new RegExp(`name: "${name}"`), `supergraph does not list ${name}`);
  }
});

test('a second subgraph whose entity key names a missing field fails composition', () => {
  // Guards the test above against passing vacuously: the composer must reject a
  // subgraph whose entity key names a field that does not exist.
  const broken = shippingTypeDefs.replace('type Order @key(fields: "id")', 'type Order @key(fields: "orderNumber")');
  const result = compose([
    { name: SWITCHYARD_SUBGRAPH_NAME, url: 'http://switchyard.invalid/graphql', sdl: readSchemaFiles(schemaDir) },
    { name: SHIPPING_SUBGRAPH_NAME, url: 'http://shipping.invalid/graphql', sdl: broken },
  ]);
  assert.ok(result.errors?.length > 0, 'composition accepted a key on a missing field');
});
