/**
 * The server's clock as seen from the browser.
 *
 * Notification times come from the server; the browser's clock may be off by
 * minutes. Every frame carries `serverTime`, from which we keep the offset
 * between the two clocks, so ages are computed on the server's clock.
 */
export class ServerClock {
  /**
   * Construct a clock with no offset yet.
   */
  constructor(options: ServerClock.IOptions = {}) {
    this._now = options.now ?? (() => Date.now());
  }

  /**
   * Milliseconds to add to the browser clock to get the server clock.
   */
  get offset(): number {
    return this._offset;
  }

  /**
   * Record a server timestamp received just now.
   */
  observe(serverTime: number): void {
    if (Number.isFinite(serverTime)) {
      this._offset = serverTime - this._now();
    }
  }

  /**
   * The current time on the server clock, in milliseconds.
   */
  now(): number {
    return this._now() + this._offset;
  }

  /**
   * How long ago a server timestamp was, in milliseconds (never negative).
   */
  ageOf(serverTime: number): number {
    return Math.max(0, this.now() - serverTime);
  }

  private _now: () => number;
  private _offset = 0;
}

/**
 * A namespace for ServerClock statics.
 */
export namespace ServerClock {
  /**
   * The options of a server clock.
   */
  export interface IOptions {
    /**
     * The browser clock (for tests); defaults to `Date.now`.
     */
    now?: () => number;
  }

  /**
   * Describe an age in words: "just now", "2 min ago", "3 h ago", "4 d ago".
   */
  export function formatAge(ageMs: number): string {
    const seconds = Math.floor(Math.max(0, ageMs) / 1000);
    if (seconds < 45) {
      return 'just now';
    }
    const minutes = Math.max(1, Math.round(seconds / 60));
    if (minutes < 60) {
      return `${minutes} min ago`;
    }
    const hours = Math.floor(minutes / 60);
    if (hours < 24) {
      return `${hours} h ago`;
    }
    return `${Math.floor(hours / 24)} d ago`;
  }
}
