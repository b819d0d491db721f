import type { Notification } from '@jupyterlab/apputils';
import type { ReadonlyJSONObject } from '@lumino/coreutils';
import type { IDisposable } from '@lumino/disposable';
import type { ISignal } from '@lumino/signaling';

import { ServerClock } from './clock';

/**
 * Keeps the age line of JLN's notifications ("just now", "2 min ago") true
 * while they stay in JupyterLab's notification manager.
 *
 * The age is part of the message text, so it changes only through
 * `manager.update`, and JupyterLab 4 does three things on an update that a
 * mere age refresh must not cause:
 *
 * - the toast plugin shows the toast again when it is no longer on screen
 *   (closed by the user, timed out, or hidden by the notification center),
 *   unless the update's `autoClose` is `<= 0`; and such an update lights the
 *   bell as if something new had arrived;
 * - it updates a toast on screen through react-toastify, which restarts the
 *   toast's auto-close countdown from the `autoClose` it is given;
 * - the manager moves the updated entry to the top of the notification center.
 *
 * So refreshes are made only where they are invisible side-effect-wise:
 *
 * - a toast still on screen is updated with the time it had left as its
 *   `autoClose` (sticky ones stay sticky), so it closes when it would have;
 * - the other entries are refreshed while the notification center is open
 *   (and at once when it opens): JupyterLab then neither toasts nor lights the
 *   bell on updates. The entries are updated bottom to top in their order by
 *   last real change, so the list keeps its order; entries that are not ours
 *   are passed to `update` with their id only, which leaves them unchanged;
 * - an entry neither on screen as a toast nor visible in the open center
 *   waits: nobody can see its text until the center opens.
 *
 * Entries the manager removed are forgotten; the timer runs only while
 * something is followed.
 */
export class AgeRefresher implements IDisposable {
  /**
   * Construct a refresher; it follows nothing until `track()`.
   */
  constructor(options: AgeRefresher.IOptions) {
    this._manager = options.manager;
    this._clock = options.clock;
    this._intervalMs = options.intervalMs ?? AgeRefresher.INTERVAL_MS;
    this._now = options.now ?? (() => Date.now());
    this._elapsed = options.elapsed ?? defaultElapsed;
    this._isToastShown = options.isToastShown ?? AgeRefresher.isToastShown;
    this._isCenterOpen = options.isCenterOpen ?? AgeRefresher.isCenterOpen;
    const watch = options.watchCenter ?? AgeRefresher.watchCenter;
    this._centerWatch = watch(() => {
      this.refresh();
    });
    this._manager.changed.connect(this._onChanged, this);
  }

  /**
   * How many notifications are followed.
   */
  get size(): number {
    return this._entries.size;
  }

  /**
   * Whether the refresher is disposed.
   */
  get isDisposed(): boolean {
    return this._disposed;
  }

  /**
   * The message for a text sent at `createdAt` (server clock): the text, then
   * its age on a line of its own.
   */
  messageOf(text: string, createdAt: number): string {
    return AgeRefresher.compose(
      text,
      ServerClock.formatAge(this._clock.ageOf(createdAt))
    );
  }

  /**
   * Follow a notification just emitted or updated with `messageOf(text,
   * createdAt)`, shown as a toast for `autoClose` (as given to the manager).
   */
  track(id: string, notification: AgeRefresher.INotification): void {
    if (this._disposed) {
      return;
    }
    this._entries.set(id, {
      ...notification,
      message: this.messageOf(notification.text, notification.createdAt),
      shownAt: this._elapsed(),
      changedAt: this._now()
    });
    this._touched.delete(id);
    this._startTimer();
  }

  /**
   * Bring the age lines up to date where that has no side effect (see the
   * class description).
   *
   * @returns how many of our entries got a new text.
   */
  refresh(): number {
    if (this._disposed) {
      return 0;
    }
    for (const id of [...this._entries.keys()]) {
      if (!this._manager.has(id)) {
        this._entries.delete(id);
      }
    }
    const count = this._isCenterOpen()
      ? this._refreshCenter()
      : this._refreshToasts();
    this._stopTimerIfIdle();
    return count;
  }

  /**
   * Stop following: no timer, no signal connection.
   */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._stopTimer();
    this._centerWatch.dispose();
    this._manager.changed.disconnect(this._onChanged, this);
    this._entries.clear();
    this._touched.clear();
  }

  private _refreshToasts(): number {
    let count = 0;
    for (const [id, entry] of this._entries) {
      const message = this.messageOf(entry.text, entry.createdAt);
      if (message === entry.message || !this._isToastShown(id)) {
        continue;
      }
      const autoClose =
        entry.autoClose === false
          ? false
          : Math.max(
              AgeRefresher.MIN_TOAST_MS,
              entry.autoClose - (this._elapsed() - entry.shownAt)
            );
      this._update({ id, message, autoClose });
      entry.message = message;
      count++;
    }
    return count;
  }

  private _refreshCenter(): number {
    const shown = this._manager.notifications;
    const order = shown
      .map((notification, index) => ({
        notification,
        index,
        changedAt: this._changedAt(notification)
      }))
      .sort((a, b) => b.changedAt - a.changedAt || a.index - b.index)
      .map(item => item.notification);
    let deepest = -1;
    order.forEach((notification, index) => {
      if (notification.id !== shown[index].id || this._isStale(notification)) {
        deepest = index;
      }
    });
    let count = 0;
    for (let index = deepest; index >= 0; index--) {
      const { id, modifiedAt } = order[index];
      const entry = this._entries.get(id);
      if (entry) {
        const message = this.messageOf(entry.text, entry.createdAt);
        count += message === entry.message ? 0 : 1;
        entry.message = message;
        this._update({ id, message });
      } else {
        if (!this._touched.has(id)) {
          this._touched.set(id, modifiedAt);
        }
        this._update({ id });
      }
    }
    return count;
  }

  private _changedAt(notification: Notification.INotification): number {
    return (
      this._entries.get(notification.id)?.changedAt ??
      this._touched.get(notification.id) ??
      notification.modifiedAt
    );
  }

  private _isStale(notification: Notification.INotification): boolean {
    const entry = this._entries.get(notification.id);
    return (
      entry !== undefined &&
      this.messageOf(entry.text, entry.createdAt) !== entry.message
    );
  }

  private _update(args: Notification.IUpdate<ReadonlyJSONObject>): void {
    this._updating = true;
    try {
      this._manager.update(args);
    } finally {
      this._updating = false;
    }
  }

  private _onChanged(_: unknown, change: Notification.IChange): void {
    const id = change.notification.id;
    if (change.type === 'removed') {
      this._entries.delete(id);
      this._touched.delete(id);
      this._stopTimerIfIdle();
    } else if (change.type === 'updated' && !this._updating) {
      // Someone else changed it: its text and time are theirs now. (The
      // presenter's keyed updates call `track()` again right after.)
      this._entries.delete(id);
      this._touched.delete(id);
      this._stopTimerIfIdle();
    }
  }

  private _startTimer(): void {
    if (this._timer === null && this._entries.size > 0) {
      this._timer = setInterval(() => this.refresh(), this._intervalMs);
    }
  }

  private _stopTimerIfIdle(): void {
    if (this._entries.size === 0) {
      this._stopTimer();
    }
  }

  private _stopTimer(): void {
    if (this._timer !== null) {
      clearInterval(this._timer);
      this._timer = null;
    }
  }

  private _centerWatch: IDisposable;
  private _clock: ServerClock;
  private _disposed = false;
  private _elapsed: () => number;
  private _entries = new Map<string, Private.IEntry>();
  private _intervalMs: number;
  private _isCenterOpen: () => boolean;
  private _isToastShown: (id: string) => boolean;
  private _manager: AgeRefresher.INotificationManager;
  private _now: () => number;
  private _timer: ReturnType<typeof setInterval> | null = null;
  private _touched = new Map<string, number>();
  private _updating = false;
}

/**
 * A namespace for AgeRefresher statics.
 */
export namespace AgeRefresher {
  /**
   * How often ages are checked, in ms. Labels change at most once a minute.
   */
  export const INTERVAL_MS = 30 * 1000;

  /**
   * The shortest `autoClose` a refreshed toast gets, in ms.
   */
  export const MIN_TOAST_MS = 1000;

  /**
   * The longest message JupyterLab shows whole (longer ones are cut).
   */
  export const MAX_MESSAGE = 140;

  /**
   * What is followed of a notification.
   */
  export interface INotification {
    /**
     * The text without the age line.
     */
    readonly text: string;
    /**
     * When it was sent, in ms of the server clock.
     */
    readonly createdAt: number;
    /**
     * The `autoClose` given to the manager with it.
     */
    readonly autoClose: number | false;
  }

  /**
   * The part of JupyterLab's `NotificationManager` the refresher uses.
   */
  export interface INotificationManager {
    readonly changed: ISignal<unknown, Notification.IChange>;
    readonly notifications: ReadonlyArray<Notification.INotification>;
    update(args: Notification.IUpdate<ReadonlyJSONObject>): boolean;
    has(id: string): boolean;
  }

  /**
   * The options of a refresher.
   */
  export interface IOptions {
    /**
     * The notification manager, usually `Notification.manager`.
     */
    manager: INotificationManager;
    /**
     * The server clock ages are measured on.
     */
    clock: ServerClock;
    /**
     * How often to check, in ms (default 30 s).
     */
    intervalMs?: number;
    /**
     * The browser clock the manager stamps `modifiedAt` with (`Date.now`).
     */
    now?: () => number;
    /**
     * A steady clock for how long a toast has been up (`performance.now`).
     */
    elapsed?: () => number;
    /**
     * Whether the toast of a notification is on screen.
     */
    isToastShown?: (id: string) => boolean;
    /**
     * Whether the notification center is open.
     */
    isCenterOpen?: () => boolean;
    /**
     * Call back when the notification center opens.
     */
    watchCenter?: (opened: () => void) => IDisposable;
  }

  /**
   * The text, then the age on its own line, cut so that the age stays
   * within the characters JupyterLab shows.
   */
  export function compose(text: string, age: string): string {
    const body = text.replace(/\s+$/, '');
    const room = MAX_MESSAGE - age.length - 1;
    if (body.length <= room) {
      return `${body}\n${age}`;
    }
    let end = room - 1;
    const last = body.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      end--; // Do not split a surrogate pair.
    }
    return `${body.slice(0, end)}…\n${age}`;
  }

  /**
   * Whether JupyterLab shows a toast for the notification: react-toastify
   * gives the toast element the notification id; one sliding out is gone.
   */
  export function isToastShown(id: string): boolean {
    if (typeof document === 'undefined') {
      return false;
    }
    const toast = document.getElementById(id);
    return (
      toast !== null &&
      toast.closest('.jp-toastContainer') !== null &&
      !/(^|\s)Toastify__[\w-]*-exit/.test(toast.className)
    );
  }

  /**
   * Whether JupyterLab's notification center is open.
   */
  export function isCenterOpen(): boolean {
    return (
      typeof document !== 'undefined' &&
      document.querySelector('.jp-Notification-Center') !== null
    );
  }

  /**
   * Call `opened` each time the notification center appears: JupyterLab
   * attaches it to the document body when it opens.
   */
  export function watchCenter(opened: () => void): IDisposable {
    if (
      typeof MutationObserver === 'undefined' ||
      typeof document === 'undefined' ||
      !document.body
    ) {
      return { isDisposed: true, dispose: () => undefined };
    }
    let open = isCenterOpen();
    const observer = new MutationObserver(() => {
      const now = isCenterOpen();
      if (now && !open) {
        opened();
      }
      open = now;
    });
    observer.observe(document.body, { childList: true });
    let disposed = false;
    return {
      get isDisposed() {
        return disposed;
      },
      dispose() {
        disposed = true;
        observer.disconnect();
      }
    };
  }
}

namespace Private {
  /**
   * A followed notification.
   */
  export interface IEntry extends AgeRefresher.INotification {
    /**
     * The message as the manager has it now.
     */
    message: string;
    /**
     * When its toast (re)started, on the steady clock.
     */
    readonly shownAt: number;
    /**
     * When it was emitted or last really updated, on the browser clock.
     */
    readonly changedAt: number;
  }
}

function defaultElapsed(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
