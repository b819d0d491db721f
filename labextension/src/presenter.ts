import type { Notification } from '@jupyterlab/apputils';
import { nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import type { ReadonlyJSONObject } from '@lumino/coreutils';
import type { IDisposable } from '@lumino/disposable';

import { AgeRefresher } from './ages';
import { ServerClock } from './clock';
import { SourceOpener } from './source';
import {
  IDeliveredNotification,
  INotificationAction,
  NOTIFICATION_TYPES,
  NotificationType
} from './model';

/**
 * Shows delivered notifications through JupyterLab's notification manager.
 *
 * Applies the user's settings (toasts, minimum toast type, do not disturb),
 * updates keyed notifications in place, and turns actions into safe
 * callbacks: links open in a new tab for http(s) only, commands run only when
 * the settings allow them. Every message ends with a line telling when it was
 * sent, on the server clock ("now", "2 minutes ago"), which an
 * `AgeRefresher` keeps true. Messages are plain text: nothing here builds
 * HTML.
 */
export class Presenter implements IDisposable {
  /**
   * Construct a presenter.
   */
  constructor(options: Presenter.IOptions) {
    this._manager = options.manager;
    this._commands = options.commands;
    this._clock = options.clock ?? new ServerClock();
    this._openWindow = options.openWindow ?? Presenter.openInNewTab;
    this._staleAfterMs = options.staleAfterMs ?? Presenter.STALE_AFTER_MS;
    this._maxKeys = options.maxKeys ?? 500;
    this._trans = options.trans ?? nullTranslator.load('jupyterlab');
    this._isMuted = options.isMuted ?? (() => false);
    this._shouldToast = options.shouldToast ?? (() => true);
    this._settings = { ...Presenter.DEFAULT_SETTINGS };
    this._ages =
      options.ages ??
      new AgeRefresher({ manager: this._manager, clock: this._clock });
  }

  /**
   * What keeps the age lines true.
   */
  get ages(): AgeRefresher {
    return this._ages;
  }

  /**
   * Whether the presenter is disposed.
   */
  get isDisposed(): boolean {
    return this._ages.isDisposed;
  }

  /**
   * Stop refreshing ages.
   */
  dispose(): void {
    this._ages.dispose();
  }

  /**
   * The settings in force.
   */
  get settings(): Readonly<Presenter.ISettings> {
    return this._settings;
  }

  /**
   * Change some settings; the others keep their value.
   */
  configure(settings: Partial<Presenter.ISettings>): void {
    this._settings = { ...this._settings, ...settings };
  }

  /**
   * Show a batch of notifications, oldest first.
   *
   * @returns the manager ids, one per notification shown or updated.
   */
  present(notifications: ReadonlyArray<IDeliveredNotification>): string[] {
    const ids: string[] = [];
    for (const notification of notifications) {
      const id = this.presentOne(notification);
      if (id !== null) {
        ids.push(id);
      }
    }
    return ids;
  }

  /**
   * Show one notification, or update the one with the same key.
   *
   * @returns the manager id, or `null` when the notification has expired.
   */
  presentOne(notification: IDeliveredNotification): string | null {
    if (
      notification.expiresAt !== undefined &&
      notification.expiresAt <= this._clock.now()
    ) {
      return null;
    }
    const message = this.messageOf(notification);
    const options: Notification.IOptions<ReadonlyJSONObject> = {
      autoClose: this.autoCloseOf(notification),
      actions: this._actionsOf(notification),
      data: this._dataOf(notification)
    };
    const key = notification.key;
    if (key !== undefined) {
      const existing = this._keys.get(key);
      if (existing !== undefined && this._manager.has(existing)) {
        const updated = this._manager.update({
          id: existing,
          message,
          type: notification.type,
          ...options
        });
        if (updated) {
          this._remember(key, existing);
          this._track(existing, notification, options.autoClose);
          return existing;
        }
      }
    }
    const id = this._manager.notify(message, notification.type, options);
    if (key !== undefined) {
      this._remember(key, id);
    }
    this._track(id, notification, options.autoClose);
    return id;
  }

  /**
   * The text shown: title and message, then when it was sent on a line of
   * its own, e.g. "Deploy: done\nnow".
   */
  messageOf(notification: IDeliveredNotification): string {
    return this._ages.messageOf(
      Presenter.textOf(notification),
      notification.createdAt
    );
  }

  /**
   * The `autoClose` to use: what the sender asked for when the notification
   * deserves a toast and this is the person's tab that toasts, else `0`
   * (notification center only).
   */
  autoCloseOf(notification: IDeliveredNotification): number | false {
    return this.deservesToast(notification) && this._shouldToast()
      ? notification.autoClose
      : 0;
  }

  /**
   * Whether a notification should catch the eye (a toast, or an OS
   * notification when no tab is visible): not when the sender asked for none
   * (`autoClose` 0), nor when the settings (toasts off, do not disturb,
   * minimum type, a mute), its read state (read in another tab) or its age
   * (a replay after a long absence) say no.
   */
  deservesToast(notification: IDeliveredNotification): boolean {
    const settings = this._settings;
    return !(
      notification.autoClose === 0 ||
      settings.doNotDisturb ||
      !settings.toasts ||
      notification.read ||
      this._isMuted(notification) ||
      Presenter.typeRank(notification.type) <
        Presenter.typeRank(settings.minimumToastType) ||
      this._clock.ageOf(notification.createdAt) > this._staleAfterMs
    );
  }

  private _actionsOf(
    notification: IDeliveredNotification
  ): Notification.IAction[] {
    return Presenter.actionsOf(notification, this._trans).map(action =>
      this._actionOf(action)
    );
  }

  private _actionOf(action: INotificationAction): Notification.IAction {
    return {
      label: action.label,
      caption: action.caption || action.link || action.commandId || '',
      displayType: action.displayType,
      callback: () => this.runAction(action)
    };
  }

  /**
   * Run an action of a notification with the toasts' rules: a link opens in
   * a new tab when it is http(s), a command runs when the settings allow it.
   */
  runAction(action: INotificationAction): void {
    if (action.link !== undefined) {
      const url = Presenter.safeUrl(action.link);
      if (url === null) {
        this._warn(
          this._trans.__(
            'JLN refused to open a link that is not http(s): %1',
            action.link
          )
        );
      } else {
        this._openWindow(url);
      }
    }
    const commandId = action.commandId;
    if (commandId === undefined) {
      return;
    }
    if (
      commandId !== SourceOpener.COMMAND && // ours: opens the user's own files
      !this._settings.allowedCommands.includes(commandId)
    ) {
      this._warn(
        this._trans.__(
          'JLN refused to run the command "%1": it is not in the allowed commands setting.',
          commandId
        )
      );
      return;
    }
    this._commands.execute(commandId, action.args ?? {}).catch(reason => {
      this._warn(
        this._trans.__('The command "%1" failed: %2', commandId, String(reason))
      );
    });
  }

  private _dataOf(notification: IDeliveredNotification): ReadonlyJSONObject {
    const jln: { [key: string]: string | number } = {
      id: notification.id,
      stream: notification.stream,
      createdAt: notification.createdAt
    };
    for (const name of ['origin', 'topic', 'key', 'link'] as const) {
      const value = notification[name];
      if (value !== undefined) {
        jln[name] = value;
      }
    }
    return notification.data === undefined
      ? { jln }
      : { jln, payload: notification.data };
  }

  private _track(
    id: string,
    notification: IDeliveredNotification,
    autoClose: number | false | undefined
  ): void {
    this._ages.track(id, {
      text: Presenter.textOf(notification),
      createdAt: notification.createdAt,
      autoClose: autoClose ?? 0
    });
  }

  private _remember(key: string, id: string): void {
    this._keys.delete(key);
    this._keys.set(key, id);
    while (this._keys.size > this._maxKeys) {
      const oldest = this._keys.keys().next().value;
      if (oldest === undefined) {
        break;
      }
      this._keys.delete(oldest);
    }
  }

  private _warn(message: string): void {
    console.warn(message);
    this._manager.notify(message, 'warning', { autoClose: 5000 });
  }

  private _ages: AgeRefresher;
  private _clock: ServerClock;
  private _commands: Presenter.ICommands;
  private _isMuted: (notification: IDeliveredNotification) => boolean;
  private _keys = new Map<string, string>();
  private _manager: Presenter.INotificationManager;
  private _maxKeys: number;
  private _openWindow: (url: string) => void;
  private _settings: Presenter.ISettings;
  private _shouldToast: () => boolean;
  private _staleAfterMs: number;
  private _trans: TranslationBundle;
}

/**
 * A namespace for Presenter statics.
 */
export namespace Presenter {
  /**
   * Notifications older than this (server clock) go to the center without a
   * toast: a replay after a long absence should not flood the screen.
   */
  export const STALE_AFTER_MS = 10 * 60 * 1000;

  /**
   * The part of JupyterLab's `NotificationManager` the presenter uses.
   */
  export interface INotificationManager
    extends AgeRefresher.INotificationManager {
    notify(
      message: string,
      type: Notification.TypeOptions,
      options: Notification.IOptions<ReadonlyJSONObject>
    ): string;
  }

  /**
   * The part of the command registry the presenter uses.
   */
  export interface ICommands {
    execute(id: string, args?: ReadonlyJSONObject): Promise<unknown>;
  }

  /**
   * The user's display settings.
   */
  export interface ISettings {
    /**
     * Whether toasts are shown at all.
     */
    toasts: boolean;
    /**
     * The lowest type that gets a toast.
     */
    minimumToastType: NotificationType;
    /**
     * Never show toasts.
     */
    doNotDisturb: boolean;
    /**
     * The commands actions may run.
     */
    allowedCommands: ReadonlyArray<string>;
  }

  /**
   * The settings before the setting registry has answered (the same as the
   * schema's defaults). The default commands are harmless whatever arguments
   * a sender gives them; `help:open` is not among them, because it opens any
   * URL inside JupyterLab or with `window.open` and no `noopener`.
   */
  export const DEFAULT_SETTINGS: ISettings = {
    toasts: true,
    minimumToastType: 'default',
    doNotDisturb: false,
    allowedCommands: [
      'docmanager:open',
      'filebrowser:open-path',
      'apputils:display-notifications'
    ]
  };

  /**
   * The options of a presenter.
   */
  export interface IOptions {
    /**
     * The notification manager, usually `Notification.manager`.
     */
    manager: INotificationManager;
    /**
     * The command registry actions run commands with.
     */
    commands: ICommands;
    /**
     * The server clock, for ages and expiry.
     */
    clock?: ServerClock;
    /**
     * How links are opened; defaults to a new tab without opener.
     */
    openWindow?: (url: string) => void;
    /**
     * The age after which a notification gets no toast, in ms.
     */
    staleAfterMs?: number;
    /**
     * How many keys to remember for in-place updates.
     */
    maxKeys?: number;
    /**
     * What keeps the age lines true; defaults to one on `manager` and `clock`.
     */
    ages?: AgeRefresher;
    /**
     * The translation bundle of warnings and labels.
     */
    trans?: TranslationBundle;
    /**
     * Whether the user muted a notification's origin or topic: no toast.
     */
    isMuted?: (notification: IDeliveredNotification) => boolean;
    /**
     * Whether this tab is the one of the person's tabs that toasts.
     */
    shouldToast?: () => boolean;
  }

  /**
   * A notification's actions: the sender's, then its link ("Open") unless an
   * action already opens it, then its return address ("Open notebook",
   * "Open terminal").
   */
  export function actionsOf(
    notification: IDeliveredNotification,
    trans: TranslationBundle
  ): INotificationAction[] {
    const actions = [...(notification.actions ?? [])];
    const link = notification.link;
    if (link && !actions.some(action => action.link === link)) {
      actions.push({
        label: trans.__('Open'),
        caption: link,
        displayType: 'link',
        link
      });
    }
    const source = notification.source;
    if (source) {
      actions.push({
        label:
          source.kind === 'notebook'
            ? trans.__('Open notebook')
            : trans.__('Open terminal'),
        caption: source.kind === 'notebook' ? source.path : source.name,
        displayType: 'default',
        commandId: SourceOpener.COMMAND,
        args: { ...source }
      });
    }
    return actions;
  }

  /**
   * The title and message of a notification, as one text.
   */
  export function textOf(notification: IDeliveredNotification): string {
    return notification.title
      ? `${notification.title}: ${notification.message}`
      : notification.message;
  }

  /**
   * The rank of a type, from 0 (default) to 5 (error).
   */
  export function typeRank(type: NotificationType): number {
    return NOTIFICATION_TYPES.indexOf(type);
  }

  /**
   * Resolve a link against the page and keep it only if it is http(s).
   */
  export function safeUrl(link: string): string | null {
    try {
      const base =
        typeof window !== 'undefined' ? window.location.href : undefined;
      const url = new URL(link, base);
      return url.protocol === 'http:' || url.protocol === 'https:'
        ? url.href
        : null;
    } catch {
      return null;
    }
  }

  /**
   * Open a URL in a new tab that cannot reach back to this page.
   */
  export function openInNewTab(url: string): void {
    window.open(url, '_blank', 'noopener');
  }
}
