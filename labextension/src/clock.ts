/**
 * The server's clock as seen from the browser.
 *
 * Notification times come from the server; the browser's clock may be off by
 * minutes. Every frame carries `serverTime`, from which we keep the offset
 * between the two clocks, so ages are computed on the server's clock.
 */
export class ServerClock {
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
      this._offset = serverTime - Date.now();
    }
  }

  /**
   * The current time on the server clock, in milliseconds.
   */
  now(): number {
    return Date.now() + this._offset;
  }

  /**
   * The browser-clock time of a server timestamp.
   */
  toBrowserTime(serverTime: number): number {
    return serverTime - this._offset;
  }

  /**
   * How long ago a server timestamp was, in milliseconds (never negative).
   */
  ageOf(serverTime: number): number {
    return Math.max(0, this.now() - serverTime);
  }

  private _offset = 0;
}
