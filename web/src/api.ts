// The queries the app runs and the shapes it reads back.

export const PAGE_SIZE = 20;

export const ME_QUERY = /* GraphQL */ `
  query Me {
    me {
      name
      email
      role
    }
  }
`;

export const ORDERS_QUERY = /* GraphQL */ `
  query Orders($first: Int, $after: String, $last: Int, $before: String) {
    orders(first: $first, after: $after, last: $last, before: $before) {
      totalCount
      pageInfo {
        hasNextPage
        hasPreviousPage
        startCursor
        endCursor
      }
      edges {
        cursor
        node {
          id
          number
          status
          total {
            amount
            currency
          }
          customer {
            name
          }
          project {
            name
          }
        }
      }
    }
  }
`;

export interface Me {
  name: string;
  email: string;
  role: 'ADMIN' | 'MEMBER';
}

export interface PageInfo {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

export interface OrderRow {
  id: string;
  number: string;
  status: string;
  total: { amount: string; currency: string };
  customer: { name: string };
  project: { name: string };
}

export interface OrdersPage {
  totalCount: number;
  pageInfo: PageInfo;
  edges: { cursor: string; node: OrderRow }[];
}

/** Where to go from the page on screen. */
export type PageRequest =
  | { kind: 'first' }
  | { kind: 'next'; after: string }
  | { kind: 'previous'; before: string };

/** Variables for ORDERS_QUERY: forwards with first/after, backwards with last/before. */
export function pageVariables(req: PageRequest, size = PAGE_SIZE): Record<string, unknown> {
  switch (req.kind) {
    case 'first':
      return { first: size };
    case 'next':
      return { first: size, after: req.after };
    case 'previous':
      return { last: size, before: req.before };
  }
}
