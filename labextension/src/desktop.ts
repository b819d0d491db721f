import type { IDeliveredNotification } from './model';

/**
 * Raises OS notifications through the browser's Notification API.
 *
 * Opt-in twice: the `enabled` setting, and the browser's permission. This
 * class never asks for the permission by itself: call `requestPermission()`
 * only from a click of the person (browsers refuse or quietly block a request
 * made without one, and asking on page load is rude). It decides nothing
 * else: the caller leaves out muted notifications and picks the one tab that
 * raises them.
 */
export class DesktopNotifier {
  /**
   * Construct a notifier, disabled unless told.
   */
  constructor(options: DesktopNotifier.IOptions = {}) {
    this._api =
      options.api !== undefined ? options.api : DesktopNotifier.browserApi();
    this._focusWindow = options.focusWindow ?? (() => window.focus());
    this._enabled = options.enabled ?? false;
  }

  /**
   * Whether the person turned OS notifications on (the setting).
   */
  get enabled(): boolean {
    return this._enabled;
  }
  set enabled(value: boolean) {
    this._enabled = value;
  }

  /**
   * The browser's permission; `'unsupported'` without the Notification API.
   */
  get permission(): DesktopNotifier.Permission {
    return this._api ? this._api.permission : 'unsupported';
  }

  /**
   * Ask the browser for the permission. Call it only from a click.
   *
   * Resolves with the permission after the person answered; without the
   * Notification API, with `'unsupported'`.
   */
  async requestPermission(): Promise<DesktopNotifier.Permission> {
    const api = this._api;
    if (!api) {
      return 'unsupported';
    }
    try {
      return await api.requestPermission();
    } catch {
      return api.permission;
    }
  }

  /**
   * Raise an OS notification; a click on it focuses this window, calls
   * `onClick` and closes it. Returns whether one was raised: none when
   * disabled, without the permission or the API, or when the browser
   * refuses (some mobile browsers only notify from a service worker).
   *
   * The notification id is the tag, so a repeat replaces the first.
   */
  show(notification: IDeliveredNotification, onClick: () => void): boolean {
    const api = this._api;
    if (!this._enabled || !api || api.permission !== 'granted') {
      return false;
    }
    let raised: DesktopNotifier.IRaised;
    try {
      raised = new api(
        notification.title || notification.origin || 'JupyterLab',
        { body: notification.message, tag: notification.id }
      );
    } catch {
      return false;
    }
    raised.onclick = () => {
      this._focusWindow();
      onClick();
      raised.close();
    };
    return true;
  }

  private _api: DesktopNotifier.IApi | null;
  private _enabled: boolean;
  private _focusWindow: () => void;
}

/**
 * A namespace for DesktopNotifier statics.
 */
export namespace DesktopNotifier {
  /**
   * The options of a desktop notifier.
   */
  export interface IOptions {
    /**
     * Whether OS notifications are on (the setting); `false` by default.
     */
    enabled?: boolean;
    /**
     * The Notification constructor; `null` when the browser has none. The
     * browser's by default.
     */
    api?: IApi | null;
    /**
     * Bring this window to the front; `window.focus` by default.
     */
    focusWindow?: () => void;
  }

  /**
   * The browser's permission, or `'unsupported'` without the API.
   */
  export type Permission = NotificationPermission | 'unsupported';

  /**
   * The parts of the browser's Notification constructor in use.
   */
  export interface IApi {
    /**
     * The permission the person gave this site.
     */
    readonly permission: NotificationPermission;
    /**
     * Ask the person for the permission.
     */
    requestPermission(): Promise<NotificationPermission>;
    /**
     * Raise an OS notification.
     */
    new (title: string, options: NotificationOptions): IRaised;
  }

  /**
   * The parts of a raised OS notification in use.
   */
  export interface IRaised {
    /**
     * Called when the person clicks the notification.
     */
    onclick: ((event: Event) => void) | null;
    /**
     * Take the notification away.
     */
    close(): void;
  }

  /**
   * The browser's Notification constructor, or `null` if it has none.
   */
  export function browserApi(): IApi | null {
    return typeof window !== 'undefined' && 'Notification' in window
      ? window.Notification
      : null;
  }
}
