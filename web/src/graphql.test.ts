import { describe, expect, it } from 'vitest';
import { graphql, GraphQLRequestError } from './graphql';

type Call = { url: string; init: RequestInit };

function fakeFetch(status: number, body: string) {
  const calls: Call[] = [];
  const fn = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    return new Response(body, { status, headers: { 'Content-Type': 'application/json' } });
  }) as unknown as typeof fetch;
  return { fn, calls };
}

describe('graphql', () => {
  it('posts the query and variables as JSON with the bearer token', async () => {
    const { fn, calls } = fakeFetch(200, JSON.stringify({ data: { me: { name: 'Alice' } } }));
    const data = await graphql<{ me: { name: string } }>('{ me { name } }', { a: 1 }, { token: 'tok', fetch: fn });

    expect(data).toEqual({ me: { name: 'Alice' } });
    expect(calls).toHaveLength(1);
    expect(calls[0].url).toBe('/graphql');
    expect(calls[0].init.method).toBe('POST');
    const headers = calls[0].init.headers as Record<string, string>;
    expect(headers.Authorization).toBe('Bearer tok');
    expect(headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(calls[0].init.body as string)).toEqual({ query: '{ me { name } }', variables: { a: 1 } });
  });

  it('sends no Authorization header without a token', async () => {
    const { fn, calls } = fakeFetch(200, JSON.stringify({ data: { me: null } }));
    await graphql('{ me { name } }', {}, { token: null, fetch: fn });
    expect(calls[0].init.headers as Record<string, string>).not.toHaveProperty('Authorization');
  });

  const failures: { name: string; status: number; body: string; message: RegExp; code?: string }[] = [
    {
      name: 'GraphQL errors carry the first extensions.code',
      status: 200,
      body: JSON.stringify({
        data: null,
        errors: [{ message: 'sign in first', extensions: { code: 'UNAUTHENTICATED' } }],
      }),
      message: /sign in first/,
      code: 'UNAUTHENTICATED',
    },
    {
      name: 'errors next to partial data still fail',
      status: 200,
      body: JSON.stringify({ data: { orders: null }, errors: [{ message: 'boom', extensions: { code: 'INTERNAL' } }] }),
      message: /boom/,
      code: 'INTERNAL',
    },
    { name: 'a body that is not JSON', status: 502, body: '<html>bad gateway</html>', message: /HTTP 502/ },
    { name: 'JSON without data', status: 500, body: '{}', message: /HTTP 500/ },
  ];

  it.each(failures)('$name', async ({ status, body, message, code }) => {
    const { fn } = fakeFetch(status, body);
    const err = await graphql('{ orders { totalCount } }', {}, { fetch: fn }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraphQLRequestError);
    expect((err as GraphQLRequestError).message).toMatch(message);
    expect((err as GraphQLRequestError).status).toBe(status);
    expect((err as GraphQLRequestError).code).toBe(code);
  });
});
