import type { IDisposable } from '@lumino/disposable';

import type { UnreadCount } from './inbox/unread';

/**
 * Puts the unread count before the browser tab's title: `(3) JupyterLab`.
 *
 * JupyterLab sets the title itself whenever the current document changes,
 * so the prefix is put back each time the title changes while enabled; off,
 * the title is left as JupyterLab wrote it.
 */
export class TitleBadge implements IDisposable {
  /**
   * Construct a badge, off until `setEnabled(true)`.
   */
  constructor(options: TitleBadge.IOptions) {
    this._unread = options.unread;
    this._document = options.document ?? document;
    this._unread.changed.connect(this._apply, this);
  }

  /**
   * Whether the badge is disposed.
   */
  get isDisposed(): boolean {
    return this._disposed;
  }

  /**
   * Show the count in the title or stop.
   */
  setEnabled(enabled: boolean): void {
    if (enabled === this._enabled || this._disposed) {
      return;
    }
    this._enabled = enabled;
    if (enabled) {
      this._watch();
    } else {
      this._observer?.disconnect();
      this._observer = null;
    }
    this._apply();
  }

  /**
   * Put the title back as JupyterLab wrote it and stop.
   */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this.setEnabled(false);
    this._disposed = true;
    this._unread.changed.disconnect(this._apply, this);
  }

  private _watch(): void {
    const title = this._document.querySelector('title');
    if (title === null || typeof MutationObserver === 'undefined') {
      return;
    }
    this._observer = new MutationObserver(() => this._apply());
    this._observer.observe(title, { childList: true, characterData: true });
  }

  private _apply(): void {
    const base = TitleBadge.strip(this._document.title);
    const count = this._unread.value;
    const wanted = this._enabled && count > 0 ? `(${count}) ${base}` : base;
    if (this._document.title !== wanted) {
      this._document.title = wanted; // Observed again: then equal, no loop.
    }
  }

  private _disposed = false;
  private _document: Document;
  private _enabled = false;
  private _observer: MutationObserver | null = null;
  private _unread: UnreadCount;
}

/**
 * A namespace for TitleBadge statics.
 */
export namespace TitleBadge {
  /**
   * The options of a badge.
   */
  export interface IOptions {
    /**
     * The unread count to show.
     */
    unread: UnreadCount;
    /**
     * The document whose title it is (for tests).
     */
    document?: Document;
  }

  /**
   * A title without a count prefix.
   */
  export function strip(title: string): string {
    return title.replace(/^\(\d+\) /, '');
  }
}
