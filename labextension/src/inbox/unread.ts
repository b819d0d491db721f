import type { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import type { IInboxCount } from '../model';

/**
 * How many notifications of the user's inbox are unread, for the status bar
 * and the tab title.
 *
 * The server says it in the hello of every connection, in every state frame
 * and in the answer of every state change; `set()` takes those. A live
 * notification changes it in a way only the server knows (a key may
 * supersede an unread one), so `refresh()` asks, at most once per
 * `delayMs` however many arrive together.
 */
export class UnreadCount implements IDisposable {
  /**
   * Construct a count of 0.
   */
  constructor(options: UnreadCount.IOptions) {
    this._fetch = options.fetch;
    this._delayMs = options.delayMs ?? UnreadCount.DELAY_MS;
  }

  /**
   * Emitted with the new count when it changes.
   */
  get changed(): ISignal<this, number> {
    return this._changed;
  }

  /**
   * The count.
   */
  get value(): number {
    return this._value;
  }

  /**
   * Whether it is disposed.
   */
  get isDisposed(): boolean {
    return this._disposed;
  }

  /**
   * Take the count the server gave.
   */
  set(value: number): void {
    // A count asked before this one may answer after it: it is older.
    this._asked++;
    this._apply(value);
  }

  /**
   * Ask the server again, soon.
   */
  refresh(): void {
    if (this._timer !== null || this._disposed) {
      return;
    }
    this._timer = setTimeout(() => {
      this._timer = null;
      const asked = ++this._asked;
      this._fetch()
        .then(count => {
          if (asked === this._asked) {
            this._apply(count.unread);
          }
        })
        .catch(() => {
          // The next hello or state frame brings it.
        });
    }, this._delayMs);
  }

  /**
   * Stop asking.
   */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    Signal.clearData(this);
  }

  private _apply(value: number): void {
    if (value !== this._value && !this._disposed) {
      this._value = value;
      this._changed.emit(value);
    }
  }

  private _asked = 0;
  private _changed = new Signal<this, number>(this);
  private _delayMs: number;
  private _disposed = false;
  private _fetch: () => Promise<IInboxCount>;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _value = 0;
}

/**
 * A namespace for UnreadCount statics.
 */
export namespace UnreadCount {
  /**
   * How long a refresh waits for more notifications, in ms.
   */
  export const DELAY_MS = 250;

  /**
   * The options of a count.
   */
  export interface IOptions {
    /**
     * Ask the server (`InboxClient.count` without filters).
     */
    fetch: () => Promise<IInboxCount>;
    /**
     * How long a refresh waits for more notifications, in ms.
     */
    delayMs?: number;
  }
}
