import { useEffect, useState } from 'react';
import { graphql, GraphQLRequestError } from './graphql';

export type QueryState<T> =
  | { status: 'loading' }
  | { status: 'error'; error: GraphQLRequestError | Error }
  | { status: 'ok'; data: T };

/** Runs `query` whenever the query, its variables or the token change; a stale answer is dropped. */
export function useQuery<T>(query: string, variables: Record<string, unknown>, token: string | null): QueryState<T> {
  const [state, setState] = useState<QueryState<T>>({ status: 'loading' });
  const key = JSON.stringify(variables);

  useEffect(() => {
    const ctrl = new AbortController();
    setState({ status: 'loading' });
    graphql<T>(query, JSON.parse(key), { token, signal: ctrl.signal }).then(
      (data) => {
        if (!ctrl.signal.aborted) setState({ status: 'ok', data });
      },
      (error: unknown) => {
        if (ctrl.signal.aborted) return;
        setState({ status: 'error', error: error instanceof Error ? error : new Error(String(error)) });
      },
    );
    return () => ctrl.abort();
  }, [query, key, token]);

  return state;
}
