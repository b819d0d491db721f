import type { Notification } from '@jupyterlab/apputils';
import { Time } from '@jupyterlab/coreutils';
import type { ReadonlyJSONObject } from '@lumino/coreutils';
import type { IDisposable } from '@lumino/disposable';
import type { ISignal } from '@lumino/signaling';

import { ServerClock } from './clock';

const MINUTE_MS = 60 * 1000;

/**
 * Writes the age line of JLN's notifications ("now", "2 minutes ago") and
 * keeps it true on our own toasts while they are surely on screen.
 *
 * The age is part of the message text, so it changes only through
 * `manager.update`, and in JupyterLab 4 an update shows again a toast that is
 * gone (unless its `autoClose` is `<= 0`, which lights the bell instead),
 * restarts the countdown of a toast on screen, and moves the entry to the top
 * of the notification center. JupyterLab tells nobody when a toast is closed
 * with its ×, and its DOM is not ours to read.
 *
 * So a toast counts as on screen only while nothing can have taken it away:
 * we emitted it with a toast, the manager still has it and nobody else
 * changed it, its `autoClose` time has not run out, and there has been no
 * click or key press in this page since (any of them may have been its ×, or
 * opened the notification center, which hides every toast). Those toasts are
 * refreshed while they lead the notification center, deepest first, so that
 * the center keeps its order, each with the time it had left. Everything else
 * keeps the text written when it was emitted: a stale age is better than a
 * closed toast coming back, or touching what is not ours. Toasts that pile up
 * while the person is away read true when they come back; once they act, the
 * ages stand still.
 */
export class AgeRefresher implements IDisposable {
  /**
   * Construct a refresher; it follows nothing until `track()`.
   */
  constructor(options: AgeRefresher.IOptions) {
    this._manager = options.manager;
    this._clock = options.clock;
    this._manager.changed.connect(this._onChanged, this);
    if (typeof document !== 'undefined') {
      for (const type of AgeRefresher.INPUT_EVENTS) {
        document.addEventListener(type, this._onInput, true);
      }
      document.addEventListener('visibilitychange', this._onVisibility);
    }
  }

  /**
   * How many toasts are followed.
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
    return AgeRefresher.compose(text, this.ageOf(createdAt));
  }

  /**
   * The age of a server-clock time in words, to the minute: "now" within the
   * first minute, then as `Time.formatHuman` says it ("2 minutes ago").
   */
  ageOf(createdAt: number): string {
    const now = Date.now();
    const age = Math.max(0, now - this._clock.toBrowserTime(createdAt));
    return Time.formatHuman(new Date(now - (age - (age % MINUTE_MS))));
  }

  /**
   * Follow a notification just emitted or updated with `messageOf(text,
   * createdAt)`, shown as a toast for `autoClose` (as given to the manager).
   * One without a toast (`autoClose <= 0`) keeps its text.
   */
  track(id: string, notification: AgeRefresher.INotification): void {
    const { autoClose } = notification;
    if (this._disposed || (autoClose !== false && autoClose <= 0)) {
      return;
    }
    this._entries.set(id, {
      ...notification,
      message: this.messageOf(notification.text, notification.createdAt),
      shownAt: steadyNow()
    });
    this._startTimer();
  }

  /**
   * Bring the age lines of the toasts surely on screen up to date (see the
   * class description).
   *
   * @returns how many toasts were updated.
   */
  refresh(): number {
    if (this._disposed) {
      return 0;
    }
    const now = steadyNow();
    for (const [id, entry] of [...this._entries]) {
      const over =
        entry.autoClose !== false && now - entry.shownAt >= entry.autoClose;
      if (over || !this._manager.has(id)) {
        this._entries.delete(id);
      }
    }
    const leading: Array<[string, Private.IEntry]> = [];
    for (const { id } of this._manager.notifications) {
      const entry = this._entries.get(id);
      if (entry === undefined) {
        break;
      }
      leading.push([id, entry]);
    }
    let deepest = -1;
    leading.forEach(([, entry], index) => {
      if (this.messageOf(entry.text, entry.createdAt) !== entry.message) {
        deepest = index;
      }
    });
    for (let index = deepest; index >= 0; index--) {
      const [id, entry] = leading[index];
      entry.message = this.messageOf(entry.text, entry.createdAt);
      this._update({
        id,
        message: entry.message,
        autoClose:
          entry.autoClose === false
            ? false
            : Math.max(
                AgeRefresher.MIN_TOAST_MS,
                entry.autoClose - (now - entry.shownAt)
              )
      });
    }
    this._stopTimerIfIdle();
    return deepest + 1;
  }

  /**
   * Stop following: no timer, no listener.
   */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._forgetAll();
    this._manager.changed.disconnect(this._onChanged, this);
    if (typeof document !== 'undefined') {
      for (const type of AgeRefresher.INPUT_EVENTS) {
        document.removeEventListener(type, this._onInput, true);
      }
      document.removeEventListener('visibilitychange', this._onVisibility);
    }
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
    if (
      change.type === 'removed' ||
      (change.type === 'updated' && !this._updating)
    ) {
      // Gone, or someone else changed it: its text and time are theirs now.
      // (The presenter's keyed updates call `track()` again right after.)
      this._entries.delete(id);
      this._stopTimerIfIdle();
    }
  }

  private _onInput = (): void => {
    // A click or a key may have closed any toast: none is surely up now.
    this._forgetAll();
  };

  private _onVisibility = (): void => {
    if (document.visibilityState === 'visible') {
      this.refresh();
    }
  };

  private _forgetAll(): void {
    this._entries.clear();
    this._stopTimerIfIdle();
  }

  private _startTimer(): void {
    if (this._timer === null) {
      this._timer = setInterval(() => this.refresh(), AgeRefresher.INTERVAL_MS);
    }
  }

  private _stopTimerIfIdle(): void {
    if (this._entries.size === 0 && this._timer !== null) {
      clearInterval(this._timer);
      this._timer = null;
    }
  }

  private _clock: ServerClock;
  private _disposed = false;
  private _entries = new Map<string, Private.IEntry>();
  private _manager: AgeRefresher.INotificationManager;
  private _timer: ReturnType<typeof setInterval> | null = null;
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
   * The user input after which no toast counts as surely on screen.
   */
  export const INPUT_EVENTS = ['pointerdown', 'keydown'] as const;

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
  }
}

function steadyNow(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
