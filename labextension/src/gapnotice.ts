import type { Notification } from '@jupyterlab/apputils';
import type { ReadonlyJSONObject } from '@lumino/coreutils';
import { nullTranslator, TranslationBundle } from '@jupyterlab/translation';

/**
 * Says, once, that some notifications were lost before this tab could get
 * them (the server trimmed them, or Redis lost its data).
 *
 * A reconnection that finds the same gap again, or another gap while the
 * notice is still in the notification center, adds nothing: one notice per
 * loss the person has not dismissed yet.
 */
export class GapNotice {
  /**
   * Construct a notice that shows nothing until `show()`.
   */
  constructor(options: GapNotice.IOptions) {
    this._manager = options.manager;
    this._trans = options.trans ?? nullTranslator.load('jupyterlab');
  }

  /**
   * Say it, unless it is still in the center.
   *
   * @returns whether a notice was added.
   */
  show(): boolean {
    if (this._id !== null && this._manager.has(this._id)) {
      return false;
    }
    this._id = this._manager.notify(
      this._trans.__('Some older notifications are no longer available'),
      'warning',
      { autoClose: GapNotice.AUTO_CLOSE_MS }
    );
    return true;
  }

  private _id: string | null = null;
  private _manager: GapNotice.INotificationManager;
  private _trans: TranslationBundle;
}

/**
 * A namespace for GapNotice statics.
 */
export namespace GapNotice {
  /**
   * How long the toast stays, in ms; it stays in the center after.
   */
  export const AUTO_CLOSE_MS = 8000;

  /**
   * The part of JupyterLab's `NotificationManager` the notice uses.
   */
  export interface INotificationManager {
    has(id: string): boolean;
    notify(
      message: string,
      type: Notification.TypeOptions,
      options: Notification.IOptions<ReadonlyJSONObject>
    ): string;
  }

  /**
   * The options of a notice.
   */
  export interface IOptions {
    /**
     * The notification manager, usually `Notification.manager`.
     */
    manager: INotificationManager;
    /**
     * The translation bundle.
     */
    trans?: TranslationBundle;
  }
}
