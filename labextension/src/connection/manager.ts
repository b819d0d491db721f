import { ServerConnection } from '@jupyterlab/services';
import type { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { ServerClock } from '../clock';
import {
  Gaps,
  IBrokerState,
  IDeliveredNotification,
  IHelloFrame,
  IStateFrame,
  ServerFrame
} from '../model';
import { CursorStore } from './cursorstore';
import { FallbackPoller } from './poller';
import { ReconnectSchedule } from './schedule';
import { SocketAttempt } from './socket';
import { ConnectionState } from './state';

/**
 * Keeps this browser tab connected to the JLN server.
 *
 * Ties the parts together: socket attempts from the saved cursor, retried on
 * the reconnect schedule, the fallback poller while the socket is down, and
 * the state machine the status bar shows. Everything received, from the
 * socket or the poller, goes through one path: dedupe by id, advance and save
 * the cursor, then emit.
 */
export class ConnectionManager implements IDisposable {
  /**
   * Construct a manager; nothing happens until `start()`.
   */
  constructor(options: ConnectionManager.IOptions) {
    this._settings = options.settings;
    this._WebSocket = options.WebSocket;
    this._store =
      options.store ?? new CursorStore({ baseUrl: this._settings.baseUrl });
    this._helloTimeoutMs = options.helloTimeoutMs ?? 15000;
    this._userPollInterval = options.pollInterval ?? 30;
    this._schedule = new ReconnectSchedule({
      connect: () => this._connect(),
      backoff: options.backoff,
      random: options.random,
      stableAfterMs: options.stableAfterMs
    });
    this._poller = new FallbackPoller({
      getCursor: () => this._store.cursor,
      interval: this._userPollInterval,
      settings: this._settings,
      fetchPage: options.fetchPage
    });
    this._poller.polled.connect(this._onPolled, this);
    this._poller.failed.connect(this._onPollFailed, this);
    this._state.changed.connect(this._onStateChanged, this);
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
   * Emitted when the server says some notifications after our cursor are no
   * longer held (trimmed, deleted, or Redis lost them), on the socket or in a
   * poll answer; what is still held follows as usual.
   */
  get gapped(): ISignal<this, Gaps> {
    return this._gapped;
  }

  /**
   * Emitted with the hello of each connection that goes live, the first and
   * every reconnection after it: what happened meanwhile may need a refresh.
   */
  get connected(): ISignal<this, IHelloFrame> {
    return this._connected;
  }

  /**
   * The current connection state.
   */
  get state(): ConnectionManager.IState {
    return this._state.current;
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
   * The wait before the reconnection planned last, in ms.
   */
  get lastDelayMs(): number | null {
    return this._schedule.lastDelayMs;
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
   * back online). Does nothing while live or while an attempt is under way.
   */
  reconnectNow(): void {
    if (!this._started || this._disposed || this._attempt !== null) {
      return;
    }
    this._schedule.cancel();
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
    this._schedule.dispose();
    this._attempt?.dispose();
    this._attempt = null;
    this._poller.dispose();
    this._state.dispose();
    Signal.clearData(this);
  }

  private _connect(): void {
    const attempt = new SocketAttempt({
      settings: this._settings,
      cursor: this._store.cursor,
      helloTimeoutMs: this._helloTimeoutMs,
      WebSocket: this._WebSocket
    });
    this._attempt = attempt;
    attempt.frameReceived.connect(this._onFrame, this);
    attempt.closed.connect(this._onClosed, this);
    const count = this._schedule.attempt;
    this._state.opening(
      count === 0
        ? 'opening the live connection'
        : `reconnecting (attempt ${count + 1})`
    );
    attempt.open();
  }

  private _onFrame(attempt: SocketAttempt, frame: ServerFrame): void {
    switch (frame.type) {
      case 'hello':
        this._onHello(attempt, frame);
        break;
      case 'notifications':
        this._ingest(frame.notifications, frame.cursor, frame.serverTime);
        break;
      case 'state':
        this._inboxStateChanged.emit(frame);
        break;
      case 'broker':
        this._setLive(frame);
        break;
      case 'gap':
        this._gapped.emit(frame.streams);
        break;
    }
  }

  /**
   * Live, or live but without the broker: nothing can arrive until the
   * server reads it again.
   */
  private _setLive(broker: IBrokerState): void {
    if (broker.reachable) {
      this._state.live(this._user ? `connected as ${this._user}` : 'connected');
    } else {
      this._state.brokerLost(
        `the server cannot reach the notification broker: ${broker.reason ?? 'unknown'}`
      );
    }
  }

  private _onHello(attempt: SocketAttempt, hello: IHelloFrame): void {
    this._clock.observe(hello.serverTime);
    this._serverPollInterval = hello.pollInterval;
    this._applyPollInterval();
    if (hello.user !== '') {
      const switched = hello.user !== this._store.user;
      this._user = hello.user;
      this._store.setUser(hello.user);
      if (switched && this._store.cursor !== attempt.cursor) {
        // We resumed from another user's cursor: start again from ours.
        attempt.close('user changed');
        this._attempt = null;
        this._schedule.now();
        return;
      }
    }
    if (this._store.cursor === null && hello.cursor !== null) {
      this._store.setCursor(hello.cursor);
    }
    this._poller.stop();
    this._setLive(hello.broker);
    this._schedule.live();
    this._connected.emit(hello);
  }

  private _onClosed(
    attempt: SocketAttempt,
    closed: SocketAttempt.IClosed
  ): void {
    if (attempt !== this._attempt) {
      return;
    }
    this._attempt = null;
    const description = SocketAttempt.describeClose(closed.code, closed.reason);
    this._downReason = description;
    if (closed.code === SocketAttempt.CLOSE_TOO_SLOW) {
      this._state.down(description);
      this._schedule.resume();
      return;
    }
    if (closed.wasLive) {
      // First drop: one quick retry before falling back to polling.
      this._state.down(description);
    } else {
      this._startPolling();
    }
    this._schedule.retry();
  }

  private _startPolling(): void {
    if (!this._poller.isRunning) {
      this._state.down(
        `live connection down: ${this._downReason}; trying the fallback`
      );
      this._poller.start();
    } else if (this._state.current.state === 'polling') {
      this._state.polled(`live connection down: ${this._downReason}`);
    }
  }

  private _onPolled(_: FallbackPoller, result: FallbackPoller.IResult): void {
    if (this._state.isLive) {
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
    if (Object.keys(answer.gap).length > 0) {
      this._gapped.emit(answer.gap);
    }
    this._state.polled(`live connection down: ${this._downReason}`);
  }

  private _onPollFailed(_: FallbackPoller, error: Error): void {
    if (this._state.isLive) {
      return;
    }
    if (error instanceof FallbackPoller.CursorRejectedError) {
      // Start again from now, on the socket as on the next poll.
      this._store.clearCursor();
    }
    this._state.pollFailed(
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

  private _applyPollInterval(): void {
    this._poller.setInterval(
      Math.max(this._userPollInterval, this._serverPollInterval)
    );
  }

  private _onStateChanged(
    _: ConnectionState,
    state: ConnectionManager.IState
  ): void {
    this._stateChanged.emit(state);
  }

  private _onOnline = (): void => {
    this.reconnectNow();
  };

  private _attempt: SocketAttempt | null = null;
  private _clock = new ServerClock();
  private _connected = new Signal<this, IHelloFrame>(this);
  private _gapped = new Signal<this, Gaps>(this);
  private _disposed = false;
  private _downReason = 'not connected yet';
  private _helloTimeoutMs: number;
  private _inboxStateChanged = new Signal<this, IStateFrame>(this);
  private _notificationsReceived = new Signal<
    this,
    ReadonlyArray<IDeliveredNotification>
  >(this);
  private _poller: FallbackPoller;
  private _schedule: ReconnectSchedule;
  private _serverPollInterval = 0;
  private _settings: ServerConnection.ISettings;
  private _started = false;
  private _state = new ConnectionState();
  private _stateChanged = new Signal<this, ConnectionManager.IState>(this);
  private _store: CursorStore;
  private _user: string | null = null;
  private _userPollInterval: number;
  private _WebSocket: SocketAttempt.WebSocketConstructor | undefined;
}

/**
 * A namespace for ConnectionManager statics.
 */
export namespace ConnectionManager {
  /**
   * The connection states.
   */
  export type State = ConnectionState.Name;

  /**
   * A connection state, when it began and why.
   */
  export type IState = ConnectionState.IState;

  /**
   * The options of a connection manager.
   */
  export interface IOptions {
    /**
     * The server settings, usually `app.serviceManager.serverSettings`.
     */
    settings: ServerConnection.ISettings;
    /**
     * The WebSocket class; defaults to the one of the settings.
     */
    WebSocket?: SocketAttempt.WebSocketConstructor;
    /**
     * The cursor store; defaults to one in `localStorage` for the base URL.
     */
    store?: CursorStore;
    /**
     * The request of the fallback poller; defaults to the poll endpoint.
     */
    fetchPage?: FallbackPoller.FetchPage;
    /**
     * The user's preferred poll interval, in seconds (default 30).
     */
    pollInterval?: number;
    /**
     * Reconnection waits.
     */
    backoff?: Partial<ReconnectSchedule.IBackoff>;
    /**
     * The random source of the jitter, in [0, 1).
     */
    random?: () => number;
    /**
     * How long a connection must stay live before the backoff starts over,
     * in ms.
     */
    stableAfterMs?: number;
    /**
     * How long to wait for the hello before giving up on a socket, in ms.
     */
    helloTimeoutMs?: number;
  }
}
