/**
 * Where this browser stopped reading, and which notifications it has shown.
 *
 * The state is kept per server base URL and per user in `localStorage`, so a
 * reload resumes from the last cursor and never shows a notification twice.
 * The set of seen ids is bounded: the oldest ids are forgotten first.
 */
export class CursorStore {
  /**
   * Construct a store and load the state of the last user of this server.
   */
  constructor(options: CursorStore.IOptions) {
    this._baseUrl = options.baseUrl;
    this._storage =
      options.storage === undefined ? defaultStorage() : options.storage;
    this._maxSeen = Math.max(
      1,
      options.maxSeen ?? CursorStore.DEFAULT_MAX_SEEN
    );
    this._user = this._read(this._lastUserKey());
    this._load();
  }

  /**
   * The user the state belongs to, `null` before the server has said.
   */
  get user(): string | null {
    return this._user;
  }

  /**
   * The cursor to resume from, `null` to start from the live end.
   */
  get cursor(): string | null {
    return this._cursor;
  }

  /**
   * How many ids are remembered.
   */
  get seenCount(): number {
    return this._seen.size;
  }

  /**
   * Switch to the state of another user (the server told us who we are).
   *
   * Does nothing when the user is the current one. What was read before any
   * user was known (first visit, polling only) is carried over to that user.
   */
  setUser(user: string): void {
    if (user === this._user) {
      return;
    }
    const anonymous = this._user === null;
    const cursor = this._cursor;
    const seen = this._seen;
    this._user = user;
    this._write(this._lastUserKey(), user);
    this._load();
    if (anonymous && (cursor !== null || seen.size > 0)) {
      this._cursor = cursor ?? this._cursor;
      this._seen = new Set([...this._seen, ...seen]);
      this._trim();
      this._save();
    }
  }

  /**
   * Move the cursor forward and save it (an empty cursor is ignored).
   */
  setCursor(cursor: string): void {
    if (cursor === '' || cursor === this._cursor) {
      return;
    }
    this._cursor = cursor;
    this._save();
  }

  /**
   * Forget the cursor (the server no longer accepts it); keep the seen ids.
   */
  clearCursor(): void {
    if (this._cursor !== null) {
      this._cursor = null;
      this._save();
    }
  }

  /**
   * Whether a notification id has been seen.
   */
  has(id: string): boolean {
    return this._seen.has(id);
  }

  /**
   * Keep the items whose id is new, remember their ids and, when given, the
   * cursor after them (an empty one is ignored), and save once.
   *
   * Duplicates inside the list itself are dropped too.
   */
  takeUnseen<T extends { readonly id: string }>(
    items: ReadonlyArray<T>,
    cursor?: string
  ): T[] {
    const fresh: T[] = [];
    for (const item of items) {
      if (this._seen.has(item.id)) {
        continue;
      }
      this._seen.add(item.id);
      fresh.push(item);
    }
    const moved =
      cursor !== undefined && cursor !== '' && cursor !== this._cursor;
    if (moved) {
      this._cursor = cursor;
    }
    if (fresh.length > 0) {
      this._trim();
    }
    if (fresh.length > 0 || moved) {
      this._save();
    }
    return fresh;
  }

  private _trim(): void {
    let excess = this._seen.size - this._maxSeen;
    for (const id of this._seen) {
      if (excess <= 0) {
        break;
      }
      this._seen.delete(id);
      excess--;
    }
  }

  private _load(): void {
    this._cursor = null;
    this._seen = new Set();
    const text = this._read(this._stateKey());
    if (text === null) {
      return;
    }
    try {
      const state: unknown = JSON.parse(text);
      if (typeof state !== 'object' || state === null) {
        return;
      }
      const { cursor, seen } = state as { cursor?: unknown; seen?: unknown };
      if (typeof cursor === 'string' && cursor !== '') {
        this._cursor = cursor;
      }
      if (Array.isArray(seen)) {
        for (const id of seen) {
          if (typeof id === 'string') {
            this._seen.add(id);
          }
        }
        this._trim();
      }
    } catch {
      // A corrupt entry is as good as none.
    }
  }

  private _save(): void {
    const state: CursorStore.IState = {
      cursor: this._cursor,
      seen: Array.from(this._seen)
    };
    this._write(this._stateKey(), JSON.stringify(state));
  }

  private _stateKey(): string {
    return `${CursorStore.KEY_PREFIX}${this._baseUrl}|${this._user ?? ''}`;
  }

  private _lastUserKey(): string {
    return `${CursorStore.KEY_PREFIX}${this._baseUrl}|#last-user`;
  }

  private _read(key: string): string | null {
    try {
      return this._storage ? this._storage.getItem(key) : null;
    } catch {
      return null;
    }
  }

  private _write(key: string, value: string): void {
    try {
      this._storage?.setItem(key, value);
    } catch (reason) {
      // Full or forbidden storage: keep working from memory.
      console.warn('JLN: could not save the notification cursor', reason);
    }
  }

  private _baseUrl: string;
  private _cursor: string | null = null;
  private _maxSeen: number;
  private _seen = new Set<string>();
  private _storage: CursorStore.IStorage | null;
  private _user: string | null;
}

/**
 * A namespace for CursorStore statics.
 */
export namespace CursorStore {
  /**
   * The prefix of every storage key.
   */
  export const KEY_PREFIX = 'jln:v1:';

  /**
   * How many notification ids are remembered by default.
   */
  export const DEFAULT_MAX_SEEN = 1000;

  /**
   * The part of the Web Storage API the store uses.
   */
  export interface IStorage {
    getItem(key: string): string | null;
    setItem(key: string, value: string): void;
  }

  /**
   * The options of a cursor store.
   */
  export interface IOptions {
    /**
     * The server base URL the state belongs to.
     */
    baseUrl: string;
    /**
     * Where to keep the state; defaults to `localStorage`, `null` for memory only.
     */
    storage?: IStorage | null;
    /**
     * How many notification ids to remember.
     */
    maxSeen?: number;
  }

  /**
   * What is saved for one server and user.
   */
  export interface IState {
    /**
     * The cursor to resume from.
     */
    cursor: string | null;
    /**
     * The ids seen, oldest first.
     */
    seen: string[];
  }
}

function defaultStorage(): CursorStore.IStorage | null {
  try {
    return typeof window !== 'undefined' && window.localStorage
      ? window.localStorage
      : null;
  } catch {
    // Access to localStorage throws when the browser forbids it.
    return null;
  }
}
