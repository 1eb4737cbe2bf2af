// Composition helpers shared by the schema-file test and the live-server test.
import { composeServices } from '@apollo/composition';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'graphql';

export const SWITCHYARD_SUBGRAPH_NAME = 'switchyard';

// The subgraph schema exactly as the repository holds it: the *.graphqls files in
// name order, as gqlgen reads them. Nothing is prepended; the files carry their
// own `extend schema @link(...)`.
export function readSchemaFiles(schemaDir) {
  return readdirSync(schemaDir)
    .filter((f) => f.endsWith('.graphqls'))
    .sort()
    .map((f) => readFileSync(join(schemaDir, f), 'utf8'))
    .join('\n');
}

// Composes the subgraphs ({ name, url, sdl }) and returns the result of
// composeServices with its errors rendered as one readable string.
export function compose(subgraphs) {
  const result = composeServices(
    subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })),
  );
  const errorText = (result.errors ?? []).map((e) => `- ${e.message}`).join('\n');
  return { ...result, errorText };
}
