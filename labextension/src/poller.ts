import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import {
  IErrorBody,
  IPollResponse,
  parseErrorBody,
  parsePollResponse
} from './model';

/**
 * Polls the notifications endpoint while the WebSocket is down.
 *
 * One request at a time; the next one is scheduled when the previous answer
 * has arrived. `stop()` aborts the request in flight and drops its answer, so
 * a late answer can never move the cursor back after the socket is live again.
 */
export class FallbackPoller {
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
    this._intervalMs = FallbackPoller.secondsToMs(options.interval ?? 30);
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
    return this._running;
  }

  /**
   * The delay between two requests, in milliseconds.
   */
  get intervalMs(): number {
    return this._intervalMs;
  }

  /**
   * How many requests were sent since construction.
   */
  get requestCount(): number {
    return this._requestCount;
  }

  /**
   * Change the delay between two requests, in seconds.
   *
   * Takes effect from the next scheduled request.
   */
  setInterval(seconds: number): void {
    this._intervalMs = FallbackPoller.secondsToMs(seconds);
  }

  /**
   * Start polling: the first request is sent at once.
   */
  start(): void {
    if (this._running) {
      return;
    }
    this._running = true;
    this._generation++;
    void this._poll(this._generation);
  }

  /**
   * Stop polling, abort the request in flight and ignore its answer.
   */
  stop(): void {
    if (!this._running) {
      return;
    }
    this._running = false;
    this._generation++;
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    this._abort?.abort();
    this._abort = null;
  }

  /**
   * Stop and disconnect every listener.
   */
  dispose(): void {
    this.stop();
    Signal.clearData(this);
  }

  private async _poll(generation: number): Promise<void> {
    this._timer = null;
    const abort =
      typeof AbortController !== 'undefined' ? new AbortController() : null;
    this._abort = abort;
    this._requestCount++;
    const cursor = this._getCursor();
    let answer: IPollResponse | null = null;
    let error: Error | null = null;
    try {
      answer = await this._fetchPage(cursor, abort?.signal);
    } catch (reason) {
      error = reason instanceof Error ? reason : new Error(String(reason));
    }
    if (generation !== this._generation) {
      return; // Stopped meanwhile: this answer is stale.
    }
    this._abort = null;
    if (answer) {
      this._polled.emit({ cursor, response: answer });
    } else if (error) {
      this._failed.emit(error);
    }
    if (generation === this._generation && this._running) {
      // A full page means more is waiting: fetch it without waiting.
      const delay = answer?.more ? 0 : this._intervalMs;
      this._timer = setTimeout(() => void this._poll(generation), delay);
    }
  }

  private _abort: AbortController | null = null;
  private _failed = new Signal<this, Error>(this);
  private _fetchPage: FallbackPoller.FetchPage;
  private _generation = 0;
  private _getCursor: () => string | null;
  private _intervalMs: number;
  private _polled = new Signal<this, FallbackPoller.IResult>(this);
  private _requestCount = 0;
  private _running = false;
  private _timer: ReturnType<typeof setTimeout> | null = null;
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
   * Clamp an interval in seconds and turn it into milliseconds.
   */
  export function secondsToMs(seconds: number): number {
    const value = Number.isFinite(seconds) ? seconds : 30;
    return Math.round(Math.max(MIN_INTERVAL, value) * 1000);
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
