import { CursorStore } from '../connection';
import { MemoryStorage } from './fakes';

const BASE = 'http://localhost:8888/';

describe('CursorStore', () => {
  it('remembers a bounded number of ids, forgetting the oldest', () => {
    const store = new CursorStore({ baseUrl: BASE, storage: null, maxSeen: 3 });
    const items = ['a', 'b', 'c', 'd'].map(id => ({ id }));
    expect(store.takeUnseen(items).map(i => i.id)).toEqual([
      'a',
      'b',
      'c',
      'd'
    ]);
    expect(store.seenCount).toBe(3);
    expect(store.has('a')).toBe(false);
    expect(store.has('d')).toBe(true);
    expect(store.takeUnseen([{ id: 'd' }, { id: 'a' }]).map(i => i.id)).toEqual(
      ['a']
    );
  });

  it('keeps each server and user apart', () => {
    const storage = new MemoryStorage();
    const alice = new CursorStore({ baseUrl: BASE, storage });
    alice.setUser('alice');
    alice.setCursor('a1');
    const other = new CursorStore({ baseUrl: 'http://elsewhere/', storage });
    expect(other.cursor).toBeNull();
    const reloaded = new CursorStore({ baseUrl: BASE, storage });
    expect(reloaded.user).toBe('alice');
    expect(reloaded.cursor).toBe('a1');
    reloaded.setUser('bob');
    expect(reloaded.cursor).toBeNull();
    reloaded.setUser('alice');
    expect(reloaded.cursor).toBe('a1');
  });

  it('gives what was read before the user was known to that user', () => {
    const storage = new MemoryStorage();
    const store = new CursorStore({ baseUrl: BASE, storage });
    store.takeUnseen([{ id: 'x' }]);
    store.setCursor('p1');
    store.setUser('carol');
    expect(store.cursor).toBe('p1');
    expect(store.has('x')).toBe(true);
    const reloaded = new CursorStore({ baseUrl: BASE, storage });
    expect(reloaded.user).toBe('carol');
    expect(reloaded.cursor).toBe('p1');
    expect(reloaded.has('x')).toBe(true);
  });

  it('survives corrupt or unavailable storage', () => {
    const storage = new MemoryStorage();
    storage.setItem(`${CursorStore.KEY_PREFIX}${BASE}|`, '{not json');
    expect(new CursorStore({ baseUrl: BASE, storage }).cursor).toBeNull();
    const throwing: CursorStore.IStorage = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('quota');
      }
    };
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const store = new CursorStore({ baseUrl: BASE, storage: throwing });
    store.setCursor('c1');
    expect(store.cursor).toBe('c1');
    jest.restoreAllMocks();
  });
});
