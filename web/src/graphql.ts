// A small client for POST /graphql. Errors come back as GraphQLRequestError
// carrying the server's extensions.code, so the UI can tell "sign in" apart
// from "something broke".

export interface GraphQLErrorEntry {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

export class GraphQLRequestError extends Error {
  readonly code: string | undefined;
  readonly status: number;
  readonly errors: GraphQLErrorEntry[];

  constructor(message: string, status: number, errors: GraphQLErrorEntry[] = []) {
    super(message);
    this.name = 'GraphQLRequestError';
    this.status = status;
    this.errors = errors;
    this.code = errors[0]?.extensions?.code;
  }
}

export interface RequestOptions {
  token?: string | null;
  endpoint?: string;
  signal?: AbortSignal;
  /** Injected in tests; the browser's fetch otherwise. */
  fetch?: typeof fetch;
}

export async function graphql<T>(
  query: string,
  variables: Record<string, unknown> = {},
  { token, endpoint = '/graphql', signal, fetch: doFetch = globalThis.fetch }: RequestOptions = {},
): Promise<T> {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    Accept: 'application/graphql-response+json, application/json',
  };
  if (token) headers.Authorization = `Bearer ${token}`;

  const res = await doFetch(endpoint, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
    signal,
  });

  let body: { data?: T | null; errors?: GraphQLErrorEntry[] };
  try {
    body = await res.json();
  } catch {
    throw new GraphQLRequestError(`HTTP ${res.status}: the server did not answer with JSON`, res.status);
  }
  if (body.errors && body.errors.length > 0) {
    throw new GraphQLRequestError(body.errors.map((e) => e.message).join('; '), res.status, body.errors);
  }
  if (!res.ok || body.data == null) {
    throw new GraphQLRequestError(`HTTP ${res.status}: no data in the response`, res.status);
  }
  return body.data;
}
