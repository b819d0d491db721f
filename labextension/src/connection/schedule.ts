import type { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';

/**
 * When to try the live connection again.
 *
 * Waits grow exponentially with jitter up to a cap, and start over once a
 * connection has stayed up for a while. The waiting is a lumino `Poll` that
 * never ticks on its own: each `retry()`, `resume()` or `now()` schedules one
 * call of `connect`, replacing any call still pending. It keeps going while
 * the page is hidden (`standby: 'never'`): a hidden tab still wants its live
 * connection.
 */
export class ReconnectSchedule implements IDisposable {
  /**
   * Construct a schedule with nothing planned.
   */
  constructor(options: ReconnectSchedule.IOptions) {
    this._backoff = {
      ...ReconnectSchedule.DEFAULT_BACKOFF,
      ...options.backoff
    };
    this._random = options.random ?? Math.random;
    this._stableAfterMs = options.stableAfterMs ?? 5000;
    this._poll = new Poll<void, Error, 'planned'>({
      auto: false,
      factory: () => {
        options.connect();
        return Promise.resolve();
      },
      frequency: { interval: Poll.NEVER, max: Poll.NEVER, backoff: false },
      name: 'jln:ReconnectSchedule',
      standby: 'never'
    });
  }

  /**
   * How many consecutive connections failed or dropped.
   */
  get attempt(): number {
    return this._attempt;
  }

  /**
   * The wait planned last, in ms.
   */
  get lastDelayMs(): number | null {
    return this._lastDelayMs;
  }

  /**
   * Whether the schedule is disposed.
   */
  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  /**
   * A connection failed or dropped: try again after the next backoff wait.
   */
  retry(): void {
    this._plan(this._nextDelay());
  }

  /**
   * The server closed for a slow reader: it is up, so resume at once the
   * first time, and back off only if it keeps happening.
   */
  resume(): void {
    this._plan(this._attempt === 0 ? 0 : this._nextDelay());
  }

  /**
   * Connect again at once without counting a failure.
   */
  now(): void {
    this._clearStableTimer();
    this._lastDelayMs = 0;
    void this._poll.schedule({ interval: 0, phase: 'planned' });
  }

  /**
   * Drop the planned call, if any.
   */
  cancel(): void {
    void this._poll.stop();
  }

  /**
   * The connection is live: the backoff starts over once it stays so for
   * `stableAfterMs`.
   */
  live(): void {
    this._clearStableTimer();
    this._stableTimer = setTimeout(() => {
      this._stableTimer = null;
      this._attempt = 0;
    }, this._stableAfterMs);
  }

  /**
   * Plan nothing more.
   */
  dispose(): void {
    this._clearStableTimer();
    this._poll.dispose();
  }

  private _plan(delay: number): void {
    this._clearStableTimer();
    this._attempt++;
    this._lastDelayMs = delay;
    void this._poll.schedule({ interval: delay, phase: 'planned' });
  }

  private _nextDelay(): number {
    return ReconnectSchedule.backoffDelay(
      this._attempt,
      this._backoff,
      this._random
    );
  }

  private _clearStableTimer(): void {
    if (this._stableTimer !== null) {
      clearTimeout(this._stableTimer);
      this._stableTimer = null;
    }
  }

  private _attempt = 0;
  private _backoff: ReconnectSchedule.IBackoff;
  private _lastDelayMs: number | null = null;
  private _poll: Poll<void, Error, 'planned'>;
  private _random: () => number;
  private _stableAfterMs: number;
  private _stableTimer: ReturnType<typeof setTimeout> | null = null;
}

/**
 * A namespace for ReconnectSchedule statics.
 */
export namespace ReconnectSchedule {
  /**
   * How waits grow.
   */
  export interface IBackoff {
    /**
     * The wait before the first retry, in ms.
     */
    initialMs: number;
    /**
     * The longest wait, in ms.
     */
    maxMs: number;
    /**
     * The growth factor per failed attempt.
     */
    factor: number;
    /**
     * The share of the wait taken at random, between 0 and 1.
     */
    jitter: number;
  }

  /**
   * 0.5 s doubling up to 30 s; each wait drawn between half and all of it.
   */
  export const DEFAULT_BACKOFF: IBackoff = {
    initialMs: 500,
    maxMs: 30000,
    factor: 2,
    jitter: 0.5
  };

  /**
   * The options of a schedule.
   */
  export interface IOptions {
    /**
     * What to call when the wait is over.
     */
    connect: () => void;
    /**
     * How waits grow; the defaults fill what is left out.
     */
    backoff?: Partial<IBackoff>;
    /**
     * The random source of the jitter, in [0, 1).
     */
    random?: () => number;
    /**
     * How long a connection must stay live before the backoff starts over,
     * in ms (default 5000).
     */
    stableAfterMs?: number;
  }

  /**
   * The wait before reconnection attempt number `attempt` (from 0).
   *
   * The base wait is `initialMs * factor ** attempt`, capped at `maxMs`; the
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
}
