import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type { IDisposable } from '@lumino/disposable';

/**
 * Tells the server whether this tab is visible, so that it can send an
 * unread error on through another channel when nobody is looking
 * (escalation).
 *
 * It posts `{"tab", "visible"}` to `jln/api/presence` at every change of the
 * page's visibility and, while visible, again before the server's `ttl` runs
 * out: a tab that closes or sleeps without a word counts as hidden when its
 * last report expires. Failures are left to the next report.
 */
export class PresenceReporter implements IDisposable {
  /**
   * Construct a reporter; nothing is sent until `start()`.
   */
  constructor(options: PresenceReporter.IOptions) {
    this._settings = options.settings;
    this._tab = options.tab;
    this._document = options.document ?? document;
  }

  /**
   * Whether it is disposed.
   */
  get isDisposed(): boolean {
    return this._disposed;
  }

  /**
   * Report now, then at each visibility change and before each expiry.
   */
  start(): void {
    if (this._started || this._disposed) {
      return;
    }
    this._started = true;
    this._document.addEventListener('visibilitychange', this._report);
    this._report();
  }

  /**
   * Say this tab is hidden, and stop.
   */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    if (this._started) {
      this._document.removeEventListener('visibilitychange', this._report);
      void this._send(false);
    }
    this._disposed = true;
    this._clearTimer();
  }

  private _report = (): void => {
    const visible = this._document.visibilityState === 'visible';
    this._clearTimer();
    void this._send(visible).then(ttl => {
      if (visible && !this._disposed) {
        // Renew at half the lifetime, so one lost report does not count.
        this._timer = setTimeout(this._report, (ttl * 1000) / 2);
      }
    });
  };

  private async _send(visible: boolean): Promise<number> {
    const url = URLExt.join(this._settings.baseUrl, 'jln/api/presence');
    try {
      const response = await ServerConnection.makeRequest(
        url,
        {
          method: 'POST',
          body: JSON.stringify({ tab: this._tab, visible }),
          headers: { 'Content-Type': 'application/json' }
        },
        this._settings
      );
      const body: unknown = await response.json();
      const ttl =
        typeof body === 'object' && body !== null && 'ttl' in body
          ? body.ttl
          : null;
      return typeof ttl === 'number' && ttl >= 2
        ? ttl
        : PresenceReporter.RETRY_S;
    } catch {
      return PresenceReporter.RETRY_S;
    }
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _disposed = false;
  private _document: Document;
  private _settings: ServerConnection.ISettings;
  private _started = false;
  private _tab: string;
  private _timer: ReturnType<typeof setTimeout> | null = null;
}

/**
 * A namespace for PresenceReporter statics.
 */
export namespace PresenceReporter {
  /**
   * The lifetime assumed when the server's answer does not say (or the
   * request failed), in seconds: the next report comes after half of it.
   */
  export const RETRY_S = 60;

  /**
   * The options of a reporter.
   */
  export interface IOptions {
    /**
     * The server settings.
     */
    settings: ServerConnection.ISettings;
    /**
     * This tab's id (the tab election's).
     */
    tab: string;
    /**
     * The document whose visibility counts (for tests).
     */
    document?: Document;
  }
}
