// The development token lives in localStorage so a reload keeps the session.

export const TOKEN_KEY = 'switchyard.token';

type KeyValue = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

export interface TokenStore {
  get(): string | null;
  /** Saves a pasted token; an empty one clears it. Returns what was stored. */
  set(raw: string): string | null;
  clear(): void;
}

/** Accepts what people paste: the bare JWT, "Bearer <jwt>", or either with whitespace. */
export function normalizeToken(raw: string): string | null {
  const token = raw.trim().replace(/^bearer(\s+|$)/i, '').trim();
  return token === '' ? null : token;
}

/**
 * A store over `storage`. Storage can be missing or throw (private browsing,
 * blocked cookies): the token then lives in memory for the page's lifetime.
 */
export function tokenStore(storage: KeyValue | undefined): TokenStore {
  let memory: string | null = null;
  const attempt = <T>(fn: (s: KeyValue) => T): T | undefined => {
    if (!storage) return undefined;
    try {
      return fn(storage);
    } catch {
      return undefined;
    }
  };
  return {
    get() {
      return attempt((s) => s.getItem(TOKEN_KEY)) ?? memory;
    },
    set(raw) {
      const token = normalizeToken(raw);
      if (token === null) {
        this.clear();
        return null;
      }
      memory = token;
      attempt((s) => s.setItem(TOKEN_KEY, token));
      return token;
    },
    clear() {
      memory = null;
      attempt((s) => s.removeItem(TOKEN_KEY));
    },
  };
}
