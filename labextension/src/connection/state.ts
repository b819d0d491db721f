import { ISignal, Signal } from '@lumino/signaling';

/**
 * The state of the connection as the user sees it, and why.
 *
 * `connecting` while a socket is being opened or a retry is on its way;
 * `live` once the server said hello; `offline-broker` while the socket is up
 * but the server cannot read the notification broker (Redis down): nothing
 * can arrive until it can; `polling` while the fallback answers in its place;
 * `offline` when the fallback fails too. The events below are the
 * only ways between them; a change of state or of reason is announced once.
 */
export class ConnectionState {
  /**
   * Construct a machine in `connecting`, not started.
   */
  constructor() {
    this._current = {
      state: 'connecting',
      since: Date.now(),
      reason: 'not started'
    };
  }

  /**
   * Emitted when the state or its reason changes.
   */
  get changed(): ISignal<this, ConnectionState.IState> {
    return this._changed;
  }

  /**
   * The current state.
   */
  get current(): ConnectionState.IState {
    return this._current;
  }

  /**
   * Whether the server has said hello on the socket in use.
   */
  get isLive(): boolean {
    const { state } = this._current;
    return state === 'live' || state === 'offline-broker';
  }

  /**
   * A socket is being opened: `connecting`, unless the fallback already
   * stands in (`polling` and `offline` stay until the socket is live).
   */
  opening(reason: string): void {
    const { state } = this._current;
    if (state !== 'polling' && state !== 'offline') {
      this._set('connecting', reason);
    }
  }

  /**
   * The socket went down and something is on its way (a quick retry, or the
   * first answer of the fallback).
   */
  down(reason: string): void {
    this._set('connecting', reason);
  }

  /**
   * The server said hello, or regained the broker.
   */
  live(reason: string): void {
    this._set('live', reason);
  }

  /**
   * The server, connected, cannot read the broker.
   */
  brokerLost(reason: string): void {
    this._set('offline-broker', reason);
  }

  /**
   * The fallback answered; ignored while live.
   */
  polled(reason: string): void {
    if (!this.isLive) {
      this._set('polling', reason);
    }
  }

  /**
   * The fallback failed; ignored while live.
   */
  pollFailed(reason: string): void {
    if (!this.isLive) {
      this._set('offline', reason);
    }
  }

  /**
   * Disconnect every listener.
   */
  dispose(): void {
    Signal.clearData(this);
  }

  private _set(state: ConnectionState.Name, reason: string): void {
    const previous = this._current;
    if (previous.state === state && previous.reason === reason) {
      return;
    }
    this._current = {
      state,
      reason,
      since: previous.state === state ? previous.since : Date.now()
    };
    this._changed.emit(this._current);
  }

  private _changed = new Signal<this, ConnectionState.IState>(this);
  private _current: ConnectionState.IState;
}

/**
 * A namespace for ConnectionState statics.
 */
export namespace ConnectionState {
  /**
   * The names of the states.
   */
  export type Name =
    'connecting' | 'live' | 'offline-broker' | 'polling' | 'offline';

  /**
   * A state, when it began and why.
   */
  export interface IState {
    /**
     * The state.
     */
    readonly state: Name;
    /**
     * When the state began (browser clock, ms).
     */
    readonly since: number;
    /**
     * Why, in words.
     */
    readonly reason: string;
  }
}
