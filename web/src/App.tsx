import { useMemo, useState } from 'react';
import { ME_QUERY, ORDERS_QUERY, pageVariables, type Me, type OrdersPage, type PageRequest } from './api';
import { GraphQLRequestError } from './graphql';
import { tokenStore } from './token';
import { useQuery, type QueryState } from './useQuery';

const store = tokenStore(typeof window === 'undefined' ? undefined : window.localStorage);

export function App() {
  const [token, setToken] = useState<string | null>(() => store.get());
  return (
    <main>
      <header>
        <h1>Switchyard</h1>
        <MeBadge token={token} />
      </header>
      <TokenBox token={token} onChange={setToken} />
      {/* key: a new token starts again at the first page. */}
      <Orders key={token ?? ''} token={token} />
      <footer>
        API at <a href="/graphql">/graphql</a> · <a href="/playground">playground</a>
      </footer>
    </main>
  );
}

function TokenBox({ token, onChange }: { token: string | null; onChange: (t: string | null) => void }) {
  const [draft, setDraft] = useState('');
  return (
    <form
      className="token"
      onSubmit={(e) => {
        e.preventDefault();
        onChange(store.set(draft));
        setDraft('');
      }}
    >
      <label htmlFor="token">Development token</label>
      <input
        id="token"
        type="password"
        autoComplete="off"
        placeholder={token ? 'a token is saved; paste another to replace it' : 'paste the output of: switchyard token --email <email>'}
        value={draft}
        onChange={(e) => setDraft(e.target.value)}
      />
      <button type="submit" disabled={draft.trim() === ''}>
        Save
      </button>
      <button
        type="button"
        disabled={!token}
        onClick={() => {
          store.clear();
          onChange(null);
        }}
      >
        Sign out
      </button>
    </form>
  );
}

function MeBadge({ token }: { token: string | null }) {
  const state = useQuery<{ me: Me | null }>(ME_QUERY, {}, token);
  if (state.status === 'loading') return <span className="me muted">…</span>;
  if (state.status === 'error' || state.data.me === null) return <span className="me muted">not signed in</span>;
  const { name, email, role } = state.data.me;
  return (
    <span className="me">
      <strong>{name}</strong> <span className="muted">{email}</span> <span className="role">{role}</span>
    </span>
  );
}

function Orders({ token }: { token: string | null }) {
  const [request, setRequest] = useState<PageRequest>({ kind: 'first' });
  const variables = useMemo(() => pageVariables(request), [request]);
  const state = useQuery<{ orders: OrdersPage }>(ORDERS_QUERY, variables, token);

  return (
    <section>
      <h2>Orders {state.status === 'ok' && <span className="muted">({state.data.orders.totalCount})</span>}</h2>
      <OrdersBody state={state} />
      {state.status === 'ok' && (
        <nav className="pager">
          <button
            type="button"
            disabled={!state.data.orders.pageInfo.hasPreviousPage || !state.data.orders.pageInfo.startCursor}
            onClick={() => setRequest({ kind: 'previous', before: state.data.orders.pageInfo.startCursor! })}
          >
            ← Previous
          </button>
          <button
            type="button"
            disabled={!state.data.orders.pageInfo.hasNextPage || !state.data.orders.pageInfo.endCursor}
            onClick={() => setRequest({ kind: 'next', after: state.data.orders.pageInfo.endCursor! })}
          >
            Next →
          </button>
        </nav>
      )}
    </section>
  );
}

function OrdersBody({ state }: { state: QueryState<{ orders: OrdersPage }> }) {
  if (state.status === 'loading') return <p className="muted">Loading…</p>;
  if (state.status === 'error') {
    const unauthenticated = state.error instanceof GraphQLRequestError && state.error.code === 'UNAUTHENTICATED';
    return (
      <p className={unauthenticated ? 'muted' : 'error'}>
        {unauthenticated ? 'Paste a token above to see your orders.' : state.error.message}
      </p>
    );
  }
  const { edges } = state.data.orders;
  if (edges.length === 0) return <p className="muted">No orders.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th>Number</th>
          <th>Status</th>
          <th className="num">Total</th>
          <th>Customer</th>
          <th>Project</th>
        </tr>
      </thead>
      <tbody>
        {edges.map(({ node }) => (
          <tr key={node.id}>
            <td>{node.number}</td>
            <td>
              <span className={`status status-${node.status.toLowerCase()}`}>{node.status}</span>
            </td>
            {/* Decimal strings are shown as sent: money never passes through a float. */}
            <td className="num">
              {node.total.amount} {node.total.currency}
            </td>
            <td>{node.customer.name}</td>
            <td>{node.project.name}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
