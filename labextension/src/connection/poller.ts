import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type { IDisposable } from '@lumino/disposable';
import { IPoll, Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import {
  IErrorBody,
  IPollResponse,
  parseErrorBody,
  parsePollResponse
} from '../model';

/**
 * Polls the notifications endpoint while the WebSocket is down.
 *
 * Built on lumino's `Poll`, as JupyterLab's session manager polls: one
 * request at a time, the next one an interval after the answer, longer waits
 * after failures, and no requests while the page is hidden
 * (`standby: 'when-hidden'`). A full page is followed at once by the next.
 * `stop()` aborts the request in flight and drops its answer, so a late answer
 * can never move the cursor back after the socket is live again.
 */
export class FallbackPoller implements IDisposable {
  /**
   * Construct a stopped poller.
   */
  constructor(options: FallbackPoller.IOptions) {
    this._getCursor = options.getCursor;
    this._fetchPage =
      options.fetchPage ??
      FallbackPoller.makeFetchPage(
        options.settings ?? ServerConnection.makeSettings()
      );
    this._poll = new Poll<void, Error>({
      auto: false,
      factory: () => this._fetchAll(),
      frequency: FallbackPoller.frequency(options.interval ?? 30),
      name: 'jln:FallbackPoller',
      standby: 'when-hidden'
    });
  }

  /**
   * Emitted with every answer received, and the cursor it was asked with.
   */
  get polled(): ISignal<this, FallbackPoller.IResult> {
    return this._polled;
  }

  /**
   * Emitted when a request fails.
   */
  get failed(): ISignal<this, Error> {
    return this._failed;
  }

  /**
   * Whether the poller is running.
   */
  get isRunning(): boolean {
    return this._abort !== null;
  }

  /**
   * Whether the poller is disposed.
   */
  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  /**
   * Change the delay between two requests, in seconds.
   *
   * Takes effect from the next scheduled request.
   */
  setInterval(seconds: number): void {
    this._poll.frequency = FallbackPoller.frequency(seconds);
  }

  /**
   * Start polling: the first request is sent at once.
   */
  start(): void {
    if (this._abort !== null || this.isDisposed) {
      return;
    }
    this._abort = new AbortController();
    void this._poll.start();
  }

  /**
   * Stop polling, abort the request in flight and ignore its answer.
   */
  stop(): void {
    if (this._abort === null) {
      return;
    }
    this._abort.abort();
    this._abort = null;
    void this._poll.stop();
  }

  /**
   * Stop and disconnect every listener.
   */
  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.stop();
    this._poll.dispose();
    Signal.clearData(this);
  }

  private async _fetchAll(): Promise<void> {
    const abort = this._abort;
    if (abort === null) {
      return;
    }
    let more = true;
    while (more) {
      const cursor = this._getCursor();
      let response: IPollResponse;
      try {
        response = await this._fetchPage(cursor, abort.signal);
      } catch (reason) {
        if (abort.signal.aborted) {
          return; // Stopped meanwhile: nobody waits for this answer.
        }
        const error =
          reason instanceof Error ? reason : new Error(String(reason));
        this._failed.emit(error);
        throw error;
      }
      if (abort.signal.aborted) {
        return; // Stopped meanwhile: this answer is stale.
      }
      this._polled.emit({ cursor, response });
      more = response.more;
    }
  }

  private _abort: AbortController | null = null;
  private _failed = new Signal<this, Error>(this);
  private _fetchPage: FallbackPoller.FetchPage;
  private _getCursor: () => string | null;
  private _poll: Poll<void, Error>;
  private _polled = new Signal<this, FallbackPoller.IResult>(this);
}

/**
 * A namespace for FallbackPoller statics.
 */
export namespace FallbackPoller {
  /**
   * How many notifications one request asks for.
   */
  export const PAGE_SIZE = 100;

  /**
   * The shortest allowed delay between requests, in seconds.
   */
  export const MIN_INTERVAL = 1;

  /**
   * An answer and the cursor the request was sent with.
   */
  export interface IResult {
    /**
     * The `since` of the request, `null` when there was none.
     */
    readonly cursor: string | null;
    /**
     * The answer.
     */
    readonly response: IPollResponse;
  }

  /**
   * The server refused the cursor (a cursor from another server, or corrupt).
   */
  export class CursorRejectedError extends Error {
    /**
     * Construct the error.
     */
    constructor(message: string) {
      super(message);
      this.name = 'CursorRejectedError';
    }
  }

  /**
   * Fetch one page of notifications after a cursor.
   */
  export type FetchPage = (
    cursor: string | null,
    signal?: AbortSignal
  ) => Promise<IPollResponse>;

  /**
   * The options of a poller.
   */
  export interface IOptions {
    /**
     * Where to read from: called before each request.
     */
    getCursor: () => string | null;
    /**
     * The delay between two requests, in seconds (default 30).
     */
    interval?: number;
    /**
     * The request itself; defaults to a GET on the server's poll endpoint.
     */
    fetchPage?: FetchPage;
    /**
     * The server settings for the default request.
     */
    settings?: ServerConnection.ISettings;
  }

  /**
   * The longest wait after failed requests, in seconds.
   */
  export const MAX_BACKOFF = 300;

  /**
   * The `Poll` frequency for an interval in seconds: the interval clamped to
   * at least `MIN_INTERVAL`, growing after failures up to `MAX_BACKOFF`.
   */
  export function frequency(seconds: number): IPoll.Frequency {
    const value = Number.isFinite(seconds) ? seconds : 30;
    const interval = Math.round(Math.max(MIN_INTERVAL, value) * 1000);
    return {
      interval,
      backoff: true,
      max: Math.max(interval, MAX_BACKOFF * 1000)
    };
  }

  /**
   * Build the URL of the poll endpoint.
   */
  export function pollUrl(baseUrl: string, cursor: string | null): string {
    const query = URLExt.objectToQueryString({
      ...(cursor ? { since: cursor } : {}),
      limit: String(PAGE_SIZE)
    });
    return URLExt.join(baseUrl, 'jln/api/notifications') + query;
  }

  /**
   * Make the default request: `GET jln/api/notifications?since=...&limit=100`.
   */
  export function makeFetchPage(
    settings: ServerConnection.ISettings
  ): FetchPage {
    return async (cursor, signal) => {
      const url = pollUrl(settings.baseUrl, cursor);
      const response = await ServerConnection.makeRequest(
        url,
        { method: 'GET', ...(signal ? { signal } : {}) },
        settings
      );
      if (!response.ok) {
        const body = await readError(response);
        if (
          response.status === 400 &&
          (body.field === 'cursor' || body.field === 'since')
        ) {
          throw new CursorRejectedError(`cursor refused: ${body.error}`);
        }
        throw new Error(`poll failed: HTTP ${response.status} ${body.error}`);
      }
      const answer = parsePollResponse(await response.json());
      if (!answer) {
        throw new Error('poll failed: malformed answer');
      }
      return answer;
    };
  }
}

async function readError(response: Response): Promise<IErrorBody> {
  try {
    const body = parseErrorBody(await response.json());
    if (body) {
      return body;
    }
  } catch {
    // Not JSON: only the status tells.
  }
  return { error: '', field: null };
}
