import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { parseFrame, ServerFrame } from '../model';

/**
 * One attempt at the live connection.
 *
 * Opens the WebSocket with a cursor, gives the server a while to say hello,
 * hands over every frame it understands, and reports once how the attempt
 * ended. An attempt is used once: the next connection is a new attempt.
 */
export class SocketAttempt implements IDisposable {
  /**
   * Construct an attempt; nothing is opened until `open()`.
   */
  constructor(options: SocketAttempt.IOptions) {
    this.cursor = options.cursor;
    this._url = SocketAttempt.url(options.settings, options.cursor);
    this._WebSocket = options.WebSocket ?? options.settings.WebSocket;
    this._helloTimeoutMs = options.helloTimeoutMs;
  }

  /**
   * The cursor the attempt resumes from, `null` for the live end.
   */
  readonly cursor: string | null;

  /**
   * Emitted with every frame the server sends, the hello first.
   */
  get frameReceived(): ISignal<this, ServerFrame> {
    return this._frameReceived;
  }

  /**
   * Emitted once when the server or the network ends the attempt, or when no
   * hello came in time. Not emitted for `close()` or `dispose()`.
   */
  get closed(): ISignal<this, SocketAttempt.IClosed> {
    return this._closed;
  }

  /**
   * Whether the server has said hello on this attempt.
   */
  get isLive(): boolean {
    return this._live;
  }

  /**
   * Whether the attempt is disposed.
   */
  get isDisposed(): boolean {
    return this._disposed;
  }

  /**
   * Open the WebSocket; a socket that cannot even be built ends the attempt
   * at once, as a lost connection.
   */
  open(): void {
    let socket: SocketAttempt.IWebSocket;
    try {
      socket = new this._WebSocket(this._url);
    } catch (reason) {
      this._end(1006, `cannot open the WebSocket: ${String(reason)}`);
      return;
    }
    this._socket = socket;
    socket.onmessage = event => this._onMessage(event.data);
    socket.onclose = event => this._end(event.code, event.reason);
    socket.onerror = () => {
      // The close event that follows carries what we need.
    };
    this._helloTimer = setTimeout(() => {
      this._shut(1000, SocketAttempt.NO_HELLO);
      this._end(1006, SocketAttempt.NO_HELLO);
    }, this._helloTimeoutMs);
  }

  /**
   * End the attempt from this side, without a `closed` signal.
   */
  close(reason: string): void {
    this._shut(1000, reason);
    this.dispose();
  }

  /**
   * Close the socket and disconnect every listener.
   */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._shut(1000, 'disposed');
    this._disposed = true;
    Signal.clearData(this);
  }

  private _onMessage(data: unknown): void {
    if (typeof data !== 'string') {
      return;
    }
    const frame = parseFrame(data);
    if (!frame) {
      console.warn('JLN: ignoring an unknown frame', data);
      return;
    }
    if (frame.type === 'hello') {
      this._clearHelloTimer();
      this._live = true;
    }
    this._frameReceived.emit(frame);
  }

  private _end(code: number, reason: string): void {
    if (this._disposed) {
      return;
    }
    this._detach();
    const closed = { code, reason, wasLive: this._live };
    this._live = false;
    this._closed.emit(closed);
    this.dispose();
  }

  private _shut(code: number, reason: string): void {
    const socket = this._socket;
    this._detach();
    if (!socket) {
      return;
    }
    try {
      socket.close(code, reason);
    } catch {
      // Already closed or never opened.
    }
  }

  private _detach(): void {
    this._clearHelloTimer();
    const socket = this._socket;
    this._socket = null;
    if (socket) {
      socket.onmessage = null;
      socket.onclose = null;
      socket.onerror = null;
    }
  }

  private _clearHelloTimer(): void {
    if (this._helloTimer !== null) {
      clearTimeout(this._helloTimer);
      this._helloTimer = null;
    }
  }

  private _closed = new Signal<this, SocketAttempt.IClosed>(this);
  private _disposed = false;
  private _frameReceived = new Signal<this, ServerFrame>(this);
  private _helloTimeoutMs: number;
  private _helloTimer: ReturnType<typeof setTimeout> | null = null;
  private _live = false;
  private _socket: SocketAttempt.IWebSocket | null = null;
  private _url: string;
  private _WebSocket: SocketAttempt.WebSocketConstructor;
}

/**
 * A namespace for SocketAttempt statics.
 */
export namespace SocketAttempt {
  /**
   * The close code the server uses when this client reads too slowly.
   */
  export const CLOSE_TOO_SLOW = 4008;

  /**
   * The reason of an attempt given up for want of a hello.
   */
  export const NO_HELLO = 'no hello from the server';

  /**
   * The part of the WebSocket API an attempt uses.
   */
  export interface IWebSocket {
    /**
     * Called with each message.
     */
    onmessage: ((event: MessageEvent) => void) | null;
    /**
     * Called once when the socket closes.
     */
    onclose: ((event: CloseEvent) => void) | null;
    /**
     * Called on an error; the close event follows.
     */
    onerror: ((event: Event) => void) | null;
    /**
     * Close the socket.
     */
    close(code?: number, reason?: string): void;
  }

  /**
   * A WebSocket class.
   */
  export type WebSocketConstructor = new (url: string) => IWebSocket;

  /**
   * How an attempt ended.
   */
  export interface IClosed {
    /**
     * The close code (1006 when the connection was lost or never said hello).
     */
    readonly code: number;
    /**
     * The close reason, possibly empty.
     */
    readonly reason: string;
    /**
     * Whether the server had said hello before the end.
     */
    readonly wasLive: boolean;
  }

  /**
   * The options of an attempt.
   */
  export interface IOptions {
    /**
     * The server settings: WebSocket URL, token, WebSocket class.
     */
    settings: ServerConnection.ISettings;
    /**
     * The cursor to resume from, `null` for the live end.
     */
    cursor: string | null;
    /**
     * How long to wait for the hello before giving up, in ms.
     */
    helloTimeoutMs: number;
    /**
     * The WebSocket class; defaults to the one of the settings.
     */
    WebSocket?: WebSocketConstructor;
  }

  /**
   * The WebSocket URL with the cursor and, only when the settings say to
   * append it (as JupyterLab's kernel connections do), the token.
   */
  export function url(
    settings: ServerConnection.ISettings,
    cursor: string | null
  ): string {
    const query: { [key: string]: string } = {};
    if (cursor) {
      query.cursor = cursor;
    }
    if (settings.appendToken && settings.token !== '') {
      query.token = settings.token;
    }
    return (
      URLExt.join(settings.wsUrl, 'jln/api/ws') +
      URLExt.objectToQueryString(query)
    );
  }

  /**
   * Describe a close code in words.
   */
  export function describeClose(code: number, reason: string): string {
    const known: { [code: number]: string } = {
      1000: 'closed',
      1001: 'server going away',
      1006: 'connection lost',
      1011: 'server error',
      1012: 'server restarting',
      1013: 'server busy',
      [CLOSE_TOO_SLOW]: 'client too slow, resuming'
    };
    const words = known[code] ?? 'closed';
    return reason ? `${words} (${code}: ${reason})` : `${words} (${code})`;
  }
}
