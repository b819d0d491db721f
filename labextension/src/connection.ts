import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { ServerClock } from './clock';
import { CursorStore } from './cursorstore';
import {
  IDeliveredNotification,
  IHelloFrame,
  INotificationsFrame,
  IStateFrame,
  parseFrame
} from './model';
import { FallbackPoller } from './poller';

/**
 * Keeps this browser tab connected to the JLN server.
 *
 * Opens the WebSocket with the saved cursor, reconnects with capped
 * exponential backoff and jitter, and polls the REST endpoint only while the
 * socket is down. Everything received, from the socket or the poller, goes
 * through one path: dedupe by id, advance and save the cursor, then emit.
 */
export class ConnectionManager implements IDisposable {
  /**
   * Construct a manager; nothing happens until `start()`.
   */
  constructor(options: ConnectionManager.IOptions = {}) {
    this._settings = options.settings ?? ServerConnection.makeSettings();
    this._WebSocket = options.WebSocket ?? this._settings.WebSocket;
    this._store =
      options.store ?? new CursorStore({ baseUrl: this._settings.baseUrl });
    this._clock = options.clock ?? new ServerClock();
    this._backoff = {
      ...ConnectionManager.DEFAULT_BACKOFF,
      ...options.backoff
    };
    this._random = options.random ?? Math.random;
    this._stableAfterMs = options.stableAfterMs ?? 5000;
    this._helloTimeoutMs = options.helloTimeoutMs ?? 15000;
    this._userPollInterval = options.pollInterval ?? 30;
    this._poller =
      options.poller ??
      new FallbackPoller({
        getCursor: () => this._store.cursor,
        interval: this._userPollInterval,
        settings: this._settings,
        fetchPage: options.fetchPage
      });
    this._poller.polled.connect(this._onPolled, this);
    this._poller.failed.connect(this._onPollFailed, this);
    this._state = {
      state: 'connecting',
      since: Date.now(),
      reason: 'not started'
    };
  }

  /**
   * Emitted with each batch of notifications not seen before.
   */
  get notificationsReceived(): ISignal<
    this,
    ReadonlyArray<IDeliveredNotification>
  > {
    return this._notificationsReceived;
  }

  /**
   * Emitted when the connection state or its reason changes.
   */
  get stateChanged(): ISignal<this, ConnectionManager.IState> {
    return this._stateChanged;
  }

  /**
   * Emitted with every `state` frame: read, saved or dismissed changed for
   * some notifications of the user's inbox (in this tab or another one).
   *
   * Not to be confused with `stateChanged`, the state of the connection.
   */
  get inboxStateChanged(): ISignal<this, IStateFrame> {
    return this._inboxStateChanged;
  }

  /**
   * The current connection state.
   */
  get state(): ConnectionManager.IState {
    return this._state;
  }

  /**
   * The user the server identified, `null` until the first hello.
   */
  get user(): string | null {
    return this._user;
  }

  /**
   * The server clock, kept in step by every frame and poll answer.
   */
  get clock(): ServerClock {
    return this._clock;
  }

  /**
   * The saved cursor and seen ids.
   */
  get store(): CursorStore {
    return this._store;
  }

  /**
   * The fallback poller.
   */
  get poller(): FallbackPoller {
    return this._poller;
  }

  /**
   * How many consecutive connections failed or dropped.
   */
  get attempt(): number {
    return this._attempt;
  }

  /**
   * The delay of the reconnection scheduled last, in ms.
   */
  get lastDelayMs(): number | null {
    return this._nextDelayMs;
  }

  /**
   * Whether the manager is disposed.
   */
  get isDisposed(): boolean {
    return this._disposed;
  }

  /**
   * Set the user's preferred poll interval, in seconds.
   *
   * The server's suggestion wins when it is longer.
   */
  setPollInterval(seconds: number): void {
    this._userPollInterval = seconds;
    this._applyPollInterval();
  }

  /**
   * Open the live connection.
   */
  start(): void {
    if (this._started || this._disposed) {
      return;
    }
    this._started = true;
    if (typeof window !== 'undefined') {
      window.addEventListener('online', this._onOnline);
    }
    this._connect();
  }

  /**
   * Give up the wait and reconnect at once (for example when the browser goes
   * back online). Does nothing while live.
   */
  reconnectNow(): void {
    if (!this._started || this._disposed || this._state.state === 'live') {
      return;
    }
    if (this._socket) {
      return; // An attempt is already under way.
    }
    this._clearReconnectTimer();
    this._connect();
  }

  /**
   * Close the connection, stop polling and disconnect every listener.
   */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    if (typeof window !== 'undefined') {
      window.removeEventListener('online', this._onOnline);
    }
    this._clearReconnectTimer();
    this._clearSocketTimers();
    const socket = this._socket;
    this._socket = null;
    if (socket) {
      detach(socket);
      closeQuietly(socket, 1000, 'disposed');
    }
    this._poller.dispose();
    Signal.clearData(this);
  }

  private _connect(): void {
    this._reconnectTimer = null;
    this._sentCursor = this._store.cursor;
    this._helloReceived = false;
    if (this._state.state !== 'polling' && this._state.state !== 'offline') {
      this._setState(
        'connecting',
        this._attempt === 0
          ? 'opening the live connection'
          : `reconnecting (attempt ${this._attempt + 1})`
      );
    }
    const url = ConnectionManager.socketUrl(this._settings, this._sentCursor);
    let socket: ConnectionManager.IWebSocket;
    try {
      socket = new this._WebSocket(url);
    } catch (reason) {
      this._socket = null;
      this._handleClose(1006, `cannot open the WebSocket: ${String(reason)}`);
      return;
    }
    this._socket = socket;
    socket.onmessage = event => this._onMessage(socket, event.data);
    socket.onclose = event => this._onClose(socket, event.code, event.reason);
    socket.onerror = () => {
      // The close event that follows carries what we need.
    };
    this._helloTimer = setTimeout(() => {
      this._abandon(socket, 'no hello from the server');
    }, this._helloTimeoutMs);
  }

  private _onMessage(
    socket: ConnectionManager.IWebSocket,
    data: unknown
  ): void {
    if (socket !== this._socket || typeof data !== 'string') {
      return;
    }
    const frame = parseFrame(data);
    if (!frame) {
      console.warn('JLN: ignoring an unknown frame', data);
      return;
    }
    switch (frame.type) {
      case 'hello':
        this._onHello(socket, frame);
        break;
      case 'notifications':
        this._onNotificationsFrame(frame);
        break;
      case 'state':
        this._inboxStateChanged.emit(frame);
        break;
    }
  }

  private _onHello(
    socket: ConnectionManager.IWebSocket,
    hello: IHelloFrame
  ): void {
    this._clearSocketTimers();
    this._helloReceived = true;
    this._clock.observe(hello.serverTime);
    this._serverPollInterval = hello.pollInterval;
    this._applyPollInterval();
    if (hello.user !== '') {
      const switched = hello.user !== this._store.user;
      this._user = hello.user;
      this._store.setUser(hello.user);
      if (switched && this._store.cursor !== this._sentCursor) {
        // We resumed from another user's cursor: start again from ours.
        this._reconnectImmediately = true;
        detach(socket);
        closeQuietly(socket, 1000, 'user changed');
        this._onClose(socket, 1000, 'user changed');
        return;
      }
    }
    if (this._store.cursor === null) {
      this._store.setCursor(hello.cursor);
    }
    this._poller.stop();
    this._setState(
      'live',
      this._user ? `connected as ${this._user}` : 'connected'
    );
    this._stableTimer = setTimeout(() => {
      this._stableTimer = null;
      this._attempt = 0;
    }, this._stableAfterMs);
  }

  private _onNotificationsFrame(frame: INotificationsFrame): void {
    this._ingest(frame.notifications, frame.cursor, frame.serverTime);
  }

  private _onPolled(_: FallbackPoller, result: FallbackPoller.IResult): void {
    if (this._state.state === 'live') {
      return;
    }
    const answer = result.response;
    this._serverPollInterval = answer.pollInterval;
    this._applyPollInterval();
    if (result.cursor === null) {
      // Without a cursor the server answers with its newest notifications.
      // Like a WebSocket without a cursor, start from now: mark them seen.
      this._clock.observe(answer.serverTime);
      this._store.takeUnseen(answer.notifications, answer.cursor);
    } else {
      this._ingest(answer.notifications, answer.cursor, answer.serverTime);
    }
    this._setState('polling', `live connection down: ${this._downReason}`);
  }

  private _onPollFailed(_: FallbackPoller, error: Error): void {
    if (this._state.state === 'live') {
      return;
    }
    if (error instanceof FallbackPoller.CursorRejectedError) {
      // Start again from now, on the socket as on the next poll.
      this._store.clearCursor();
    }
    this._setState(
      'offline',
      `live connection down: ${this._downReason}; ${error.message}`
    );
  }

  private _ingest(
    notifications: ReadonlyArray<IDeliveredNotification>,
    cursor: string,
    serverTime: number
  ): void {
    this._clock.observe(serverTime);
    const fresh = this._store.takeUnseen(notifications, cursor);
    if (fresh.length > 0) {
      this._notificationsReceived.emit(fresh);
    }
  }

  private _abandon(socket: ConnectionManager.IWebSocket, reason: string): void {
    if (socket !== this._socket) {
      return;
    }
    detach(socket);
    closeQuietly(socket, 1000, reason);
    this._onClose(socket, 1006, reason);
  }

  private _onClose(
    socket: ConnectionManager.IWebSocket,
    code: number,
    reason: string
  ): void {
    if (socket !== this._socket) {
      return;
    }
    detach(socket);
    this._socket = null;
    this._handleClose(code, reason);
  }

  private _handleClose(code: number, reason: string): void {
    this._clearSocketTimers();
    const wasLive = this._helloReceived;
    this._helloReceived = false;
    if (this._disposed) {
      return;
    }
    if (this._reconnectImmediately) {
      this._reconnectImmediately = false;
      this._schedule(0);
      return;
    }
    const description = ConnectionManager.describeClose(code, reason);
    this._downReason = description;
    if (code === ConnectionManager.CLOSE_TOO_SLOW) {
      // The server is up; we fell behind. Resume from the cursor at once,
      // backing off only if it keeps happening.
      const delay = this._attempt === 0 ? 0 : this._nextDelay();
      this._attempt++;
      this._setState('connecting', description);
      this._schedule(delay);
      return;
    }
    const delay = this._nextDelay();
    this._attempt++;
    if (wasLive) {
      // First drop: one quick retry before falling back to polling.
      this._setState('connecting', description);
    } else {
      this._startPolling();
    }
    this._schedule(delay);
  }

  private _startPolling(): void {
    if (!this._poller.isRunning) {
      this._setState(
        'connecting',
        `live connection down: ${this._downReason}; trying the fallback`
      );
      this._poller.start();
    } else if (this._state.state === 'polling') {
      this._setState('polling', `live connection down: ${this._downReason}`);
    }
  }

  private _nextDelay(): number {
    return ConnectionManager.backoffDelay(
      this._attempt,
      this._backoff,
      this._random
    );
  }

  private _schedule(delay: number): void {
    this._clearReconnectTimer();
    this._nextDelayMs = delay;
    this._reconnectTimer = setTimeout(() => this._connect(), delay);
  }

  private _applyPollInterval(): void {
    this._poller.setInterval(
      Math.max(this._userPollInterval, this._serverPollInterval)
    );
  }

  private _setState(state: ConnectionManager.State, reason: string): void {
    const previous = this._state;
    if (previous.state === state && previous.reason === reason) {
      return;
    }
    this._state = {
      state,
      reason,
      since: previous.state === state ? previous.since : Date.now()
    };
    this._stateChanged.emit(this._state);
  }

  private _clearReconnectTimer(): void {
    if (this._reconnectTimer !== null) {
      clearTimeout(this._reconnectTimer);
      this._reconnectTimer = null;
    }
  }

  private _clearSocketTimers(): void {
    if (this._helloTimer !== null) {
      clearTimeout(this._helloTimer);
      this._helloTimer = null;
    }
    if (this._stableTimer !== null) {
      clearTimeout(this._stableTimer);
      this._stableTimer = null;
    }
  }

  private _onOnline = (): void => {
    this.reconnectNow();
  };

  private _attempt = 0;
  private _backoff: ConnectionManager.IBackoff;
  private _clock: ServerClock;
  private _disposed = false;
  private _downReason = 'not connected yet';
  private _helloReceived = false;
  private _helloTimeoutMs: number;
  private _helloTimer: ReturnType<typeof setTimeout> | null = null;
  private _inboxStateChanged = new Signal<this, IStateFrame>(this);
  private _nextDelayMs: number | null = null;
  private _notificationsReceived = new Signal<
    this,
    ReadonlyArray<IDeliveredNotification>
  >(this);
  private _poller: FallbackPoller;
  private _random: () => number;
  private _reconnectImmediately = false;
  private _reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private _sentCursor: string | null = null;
  private _serverPollInterval = 0;
  private _settings: ServerConnection.ISettings;
  private _socket: ConnectionManager.IWebSocket | null = null;
  private _stableAfterMs: number;
  private _stableTimer: ReturnType<typeof setTimeout> | null = null;
  private _started = false;
  private _state: ConnectionManager.IState;
  private _stateChanged = new Signal<this, ConnectionManager.IState>(this);
  private _store: CursorStore;
  private _user: string | null = null;
  private _userPollInterval: number;
  private _WebSocket: ConnectionManager.WebSocketConstructor;
}

/**
 * A namespace for ConnectionManager statics.
 */
export namespace ConnectionManager {
  /**
   * The close code the server uses when this client reads too slowly.
   */
  export const CLOSE_TOO_SLOW = 4008;

  /**
   * The connection states.
   */
  export type State = 'connecting' | 'live' | 'polling' | 'offline';

  /**
   * A connection state, when it began and why.
   */
  export interface IState {
    /**
     * The state.
     */
    readonly state: State;
    /**
     * When the state began (browser clock, ms).
     */
    readonly since: number;
    /**
     * Why, in words.
     */
    readonly reason: string;
  }

  /**
   * The part of the WebSocket API the manager uses.
   */
  export interface IWebSocket {
    onmessage: ((event: MessageEvent) => void) | null;
    onclose: ((event: CloseEvent) => void) | null;
    onerror: ((event: Event) => void) | null;
    close(code?: number, reason?: string): void;
  }

  /**
   * A WebSocket class.
   */
  export type WebSocketConstructor = new (url: string) => IWebSocket;

  /**
   * How reconnection delays grow.
   */
  export interface IBackoff {
    /**
     * The delay of the first retry, in ms.
     */
    initialMs: number;
    /**
     * The longest delay, in ms.
     */
    maxMs: number;
    /**
     * The growth factor per failed attempt.
     */
    factor: number;
    /**
     * The share of the delay taken at random, between 0 and 1.
     */
    jitter: number;
  }

  /**
   * 0.5 s doubling up to 30 s; each delay drawn between half and all of it.
   */
  export const DEFAULT_BACKOFF: IBackoff = {
    initialMs: 500,
    maxMs: 30000,
    factor: 2,
    jitter: 0.5
  };

  /**
   * The options of a connection manager.
   */
  export interface IOptions {
    /**
     * The server settings; defaults to `ServerConnection.makeSettings()`.
     */
    settings?: ServerConnection.ISettings;
    /**
     * The WebSocket class; defaults to the one of the settings.
     */
    WebSocket?: WebSocketConstructor;
    /**
     * The cursor store; defaults to one in `localStorage` for the base URL.
     */
    store?: CursorStore;
    /**
     * The server clock.
     */
    clock?: ServerClock;
    /**
     * The fallback poller; defaults to one on the server's poll endpoint.
     */
    poller?: FallbackPoller;
    /**
     * The request of the default poller.
     */
    fetchPage?: FallbackPoller.FetchPage;
    /**
     * The user's preferred poll interval, in seconds (default 30).
     */
    pollInterval?: number;
    /**
     * Reconnection delays.
     */
    backoff?: Partial<IBackoff>;
    /**
     * The random source of the jitter, in [0, 1).
     */
    random?: () => number;
    /**
     * How long a connection must stay live before the backoff resets, in ms.
     */
    stableAfterMs?: number;
    /**
     * How long to wait for the hello frame before giving up on a socket, in ms.
     */
    helloTimeoutMs?: number;
  }

  /**
   * The delay before reconnection attempt number `attempt` (from 0).
   *
   * The base delay is `initialMs * factor ** attempt`, capped at `maxMs`; the
   * result lies in `[base * (1 - jitter), base]`.
   */
  export function backoffDelay(
    attempt: number,
    backoff: IBackoff = DEFAULT_BACKOFF,
    random: () => number = Math.random
  ): number {
    const base = Math.min(
      backoff.maxMs,
      backoff.initialMs * Math.pow(backoff.factor, Math.max(0, attempt))
    );
    const jitter = Math.min(1, Math.max(0, backoff.jitter));
    const low = base * (1 - jitter);
    const draw = Math.min(1, Math.max(0, random()));
    return Math.round(low + (base - low) * draw);
  }

  /**
   * Build the WebSocket URL, with the cursor and, when set, the token.
   */
  export function socketUrl(
    settings: ServerConnection.ISettings,
    cursor: string | null
  ): string {
    const query: { [key: string]: string } = {};
    if (cursor) {
      query.cursor = cursor;
    }
    if (settings.token) {
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

function detach(socket: ConnectionManager.IWebSocket): void {
  socket.onmessage = null;
  socket.onclose = null;
  socket.onerror = null;
}

function closeQuietly(
  socket: ConnectionManager.IWebSocket,
  code: number,
  reason: string
): void {
  try {
    socket.close(code, reason);
  } catch {
    // Already closed or never opened.
  }
}
