import type { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { ServerClock } from '../clock';
import { IDeliveredNotification, IStateFrame } from '../model';

/**
 * The pinned notices to show as banners: every pinned notification that has
 * not expired (on the server clock), is the newest of its origin and key (a
 * later notification with its key that is not pinned withdraws it, a later
 * pinned one replaces it), and, when it asks for an acknowledgement, is not
 * read yet.
 *
 * The model starts from the server's list (`load`, through an injected
 * function) and follows the live feed (`add`) and the state frames of every
 * tab of the user (`applyState`). Marking all read never hides a notice
 * that asks for an acknowledgement: the server skips those, so only a
 * change naming its id does.
 */
export class PinsModel implements IDisposable {
  /**
   * Construct a model; nothing is shown until `load()` or `add()`.
   */
  constructor(options: PinsModel.IOptions) {
    this._load = options.load;
    this._clock = options.clock ?? new ServerClock();
  }

  /**
   * Emitted when the active pins change.
   */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /**
   * The active pins, newest first (by id where they arrived together).
   */
  get pins(): ReadonlyArray<IDeliveredNotification> {
    const now = this._clock.now();
    return [...this._held.values()]
      .filter(pin => !isExpired(pin, now) && !(pin.requireAck && pin.read))
      .sort(
        (a, b) =>
          arrival(b) - arrival(a) ||
          b.id.localeCompare(a.id, 'en', { numeric: true })
      );
  }

  /**
   * Whether the model is disposed.
   */
  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Take the server's list of pinned notifications as the truth: pins held
   * before the call and absent from it are gone (expired, acknowledged or
   * withdrawn meanwhile); what the live feed or a state frame brought while
   * it was on its way is kept.
   */
  async load(): Promise<void> {
    const before = new Set(this._held.keys());
    const touched = new Set<string>();
    this._touched.add(touched);
    let found: ReadonlyArray<IDeliveredNotification>;
    try {
      found = await this._load();
    } finally {
      this._touched.delete(touched);
    }
    if (this._isDisposed) {
      return;
    }
    const listed = new Set(found.map(pin => pin.id));
    for (const id of before) {
      if (!listed.has(id) && !touched.has(id)) {
        this._held.delete(id);
      }
    }
    this._take(found.filter(pin => !touched.has(pin.id)));
    this._update();
  }

  /**
   * Take notifications from the live feed (any, pinned or not).
   */
  add(notifications: ReadonlyArray<IDeliveredNotification>): void {
    this._take(notifications);
    this._update();
  }

  /**
   * Follow a read change: one naming a notice's id acknowledges it (or,
   * marked unread, asks again); a change for all never does.
   */
  applyState(frame: IStateFrame): void {
    if (frame.read === undefined || frame.all) {
      return;
    }
    this.markRead(frame.ids, frame.read);
  }

  /**
   * Record that these notifications were marked read (or unread) by id.
   */
  markRead(ids: ReadonlyArray<string>, read = true): void {
    let changed = false;
    for (const id of ids) {
      for (const touched of this._touched) {
        touched.add(id);
      }
      const pin = this._held.get(id);
      if (pin && pin.read !== read) {
        this._held.set(id, { ...pin, read });
        changed = true;
      }
    }
    if (changed) {
      this._update();
    }
  }

  /**
   * Dispose of the model and its expiry timer.
   */
  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    window.clearTimeout(this._timer);
    Signal.clearData(this);
  }

  /**
   * Hold the pinned ones (a copy of one held replaces it), and let every
   * keyed one withdraw or replace the older pin of its origin and key (an
   * expired one too, as the server does); one older than what its key
   * already saw is ignored.
   */
  private _take(notifications: ReadonlyArray<IDeliveredNotification>): void {
    const now = this._clock.now();
    for (const notification of notifications) {
      const slot = keyOf(notification);
      if (slot !== null) {
        const newest = this._newest.get(slot);
        if (newest && newest.id !== notification.id) {
          if (arrival(notification) < arrival(newest)) {
            continue;
          }
          this._held.delete(newest.id);
        }
        this._newest.set(slot, notification);
      }
      if (notification.pinned && !isExpired(notification, now)) {
        this._held.set(notification.id, notification);
      }
    }
  }

  /**
   * Drop what has expired, say that the pins changed, and wake up at the
   * next expiry.
   */
  private _update(): void {
    if (this._isDisposed) {
      return;
    }
    const now = this._clock.now();
    let next = Infinity;
    for (const [id, pin] of this._held) {
      if (isExpired(pin, now)) {
        this._held.delete(id);
      } else if (pin.expiresAt !== undefined) {
        next = Math.min(next, pin.expiresAt);
      }
    }
    window.clearTimeout(this._timer);
    if (next !== Infinity) {
      const wait = Math.min(Math.max(0, next - now), PinsModel.MAX_WAIT);
      this._timer = window.setTimeout(() => this._update(), wait);
    }
    this._changed.emit();
  }

  private _load: () => Promise<ReadonlyArray<IDeliveredNotification>>;
  private _clock: Pick<ServerClock, 'now'>;
  private _held = new Map<string, IDeliveredNotification>();
  private _newest = new Map<string, IDeliveredNotification>();
  private _touched = new Set<Set<string>>();
  private _timer = 0;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
}

/**
 * A namespace for PinsModel statics.
 */
export namespace PinsModel {
  /**
   * The options of a pins model.
   */
  export interface IOptions {
    /**
     * The pinned notifications of the inbox, as the server lists them
     * (`GET jln/api/notifications?pinned=true`), with their read state.
     */
    load: () => Promise<ReadonlyArray<IDeliveredNotification>>;
    /**
     * The server clock expiry is judged on; a fresh one when absent.
     */
    clock?: Pick<ServerClock, 'now'>;
  }

  /**
   * The longest the model sleeps before looking at the expiry times again
   * (ms): the server clock's offset may change meanwhile, and browsers
   * fire longer timeouts at once.
   */
  export const MAX_WAIT = 3_600_000;
}

/**
 * When a notification reached the inbox: a scheduled one when it fell due.
 */
function arrival(notification: IDeliveredNotification): number {
  return Math.max(notification.createdAt, notification.notBefore ?? 0);
}

function isExpired(notification: IDeliveredNotification, now: number): boolean {
  return notification.expiresAt !== undefined && now >= notification.expiresAt;
}

function keyOf(notification: IDeliveredNotification): string | null {
  return notification.key === undefined
    ? null
    : JSON.stringify([notification.origin ?? null, notification.key]);
}
