import { describe, expect, it } from 'vitest';
import { normalizeToken, TOKEN_KEY, tokenStore } from './token';
import { pageVariables } from './api';

class MemoryStorage {
  items = new Map<string, string>();
  getItem(k: string) {
    return this.items.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.items.set(k, v);
  }
  removeItem(k: string) {
    this.items.delete(k);
  }
}

class BrokenStorage {
  getItem(): string | null {
    throw new Error('SecurityError');
  }
  setItem() {
    throw new Error('QuotaExceededError');
  }
  removeItem() {
    throw new Error('SecurityError');
  }
}

describe('normalizeToken', () => {
  it.each([
    ['eyJ.abc.def', 'eyJ.abc.def'],
    ['  eyJ.abc.def\n', 'eyJ.abc.def'],
    ['Bearer eyJ.abc.def', 'eyJ.abc.def'],
    ['bearer   eyJ.abc.def ', 'eyJ.abc.def'],
    ['', null],
    ['   ', null],
    ['Bearer ', null],
  ])('%j -> %j', (raw, want) => {
    expect(normalizeToken(raw)).toBe(want);
  });
});

describe('tokenStore', () => {
  it('keeps the token in storage across stores (a page reload)', () => {
    const storage = new MemoryStorage();
    expect(tokenStore(storage).set('Bearer abc')).toBe('abc');
    expect(storage.getItem(TOKEN_KEY)).toBe('abc');
    expect(tokenStore(storage).get()).toBe('abc');
  });

  it('clears on sign-out and on an empty paste', () => {
    const storage = new MemoryStorage();
    const store = tokenStore(storage);
    store.set('abc');
    store.clear();
    expect(store.get()).toBeNull();
    store.set('abc');
    expect(store.set('  ')).toBeNull();
    expect(store.get()).toBeNull();
    expect(storage.items.size).toBe(0);
  });

  it('falls back to memory when storage throws or is missing', () => {
    for (const storage of [new BrokenStorage(), undefined]) {
      const store = tokenStore(storage);
      expect(store.get()).toBeNull();
      store.set('abc');
      expect(store.get()).toBe('abc');
      store.clear();
      expect(store.get()).toBeNull();
    }
  });
});

describe('pageVariables', () => {
  it.each([
    [{ kind: 'first' } as const, { first: 20 }],
    [{ kind: 'next', after: 'c1' } as const, { first: 20, after: 'c1' }],
    [{ kind: 'previous', before: 'c0' } as const, { last: 20, before: 'c0' }],
  ])('%j', (req, want) => {
    expect(pageVariables(req)).toEqual(want);
  });
});
