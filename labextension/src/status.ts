import { nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { ConnectionManager } from './connection';
import { UnreadCount } from './inbox/unread';

/**
 * The status bar item: live, polling or offline, with why and since when,
 * and the inbox's unread count beside it.
 *
 * A click runs the open command (the inbox panel).
 */
export class ConnectionStatus extends Widget {
  /**
   * Construct the item and follow a connection manager.
   */
  constructor(options: ConnectionStatus.IOptions) {
    super();
    this._connection = options.connection;
    this._commands = options.commands;
    this._openCommand = options.openCommand;
    this._unread = options.unread;
    this._trans = options.trans ?? nullTranslator.load('jupyterlab');
    this.addClass('jln-StatusItem');
    this.node.setAttribute('role', 'button');
    this.node.tabIndex = 0;
    this._dot.className = 'jln-StatusItem-dot';
    this._label.className = 'jln-StatusItem-label';
    this._count.className = 'jln-StatusItem-unread';
    this.node.appendChild(this._dot);
    this.node.appendChild(this._label);
    this.node.appendChild(this._count);
    this.node.addEventListener('click', this._onClick);
    this.node.addEventListener('keydown', this._onKeyDown);
    this._connection.stateChanged.connect(this._onStateChanged, this);
    this._unread.changed.connect(this._renderCount, this);
    this._render(this._connection.state);
    this._renderCount();
  }

  /**
   * Stop following the connection.
   */
  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._connection.stateChanged.disconnect(this._onStateChanged, this);
    this._unread.changed.disconnect(this._renderCount, this);
    this.node.removeEventListener('click', this._onClick);
    this.node.removeEventListener('keydown', this._onKeyDown);
    super.dispose();
  }

  private _onStateChanged(
    _: ConnectionManager,
    state: ConnectionManager.IState
  ): void {
    this._render(state);
  }

  private _render(state: ConnectionManager.IState): void {
    this.node.dataset.jlnState = state.state;
    this._label.textContent = ConnectionStatus.label(state.state, this._trans);
    this.node.title = ConnectionStatus.tooltip(state, this._trans);
  }

  private _renderCount(): void {
    const unread = this._unread.value;
    this._count.textContent = unread > 0 ? String(unread) : '';
    this._count.hidden = unread === 0;
    this._count.title = this._trans._n(
      '%1 unread notification',
      '%1 unread notifications',
      unread
    );
    this.node.setAttribute(
      'aria-label',
      `${this._label.textContent ?? ''}, ${this._count.title}`
    );
  }

  private _open(): void {
    void this._commands.execute(this._openCommand).catch(reason => {
      console.warn('JLN: cannot open the inbox', reason);
    });
  }

  private _onClick = (): void => {
    this._open();
  };

  private _onKeyDown = (event: KeyboardEvent): void => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      this._open();
    }
  };

  private _commands: ConnectionStatus.ICommands;
  private _connection: ConnectionManager;
  private _count = document.createElement('span');
  private _dot = document.createElement('span');
  private _label = document.createElement('span');
  private _openCommand: string;
  private _trans: TranslationBundle;
  private _unread: UnreadCount;
}

/**
 * A namespace for ConnectionStatus statics.
 */
export namespace ConnectionStatus {
  /**
   * The label of a state, e.g. "Notifications: live".
   */
  export function label(
    state: ConnectionManager.State,
    trans: TranslationBundle
  ): string {
    switch (state) {
      case 'connecting':
        return trans.__('Notifications: connecting');
      case 'live':
        return trans.__('Notifications: live');
      case 'offline-broker':
        return trans.__('Notifications: broker offline');
      case 'polling':
        return trans.__('Notifications: polling');
      case 'offline':
        return trans.__('Notifications: offline');
    }
  }

  /**
   * The part of the command registry the item uses.
   */
  export interface ICommands {
    execute(id: string): Promise<unknown>;
  }

  /**
   * The options of the status item.
   */
  export interface IOptions {
    /**
     * The connection to show.
     */
    connection: ConnectionManager;
    /**
     * The command registry, to open the inbox.
     */
    commands: ICommands;
    /**
     * The command a click runs.
     */
    openCommand: string;
    /**
     * The inbox's unread count.
     */
    unread: UnreadCount;
    /**
     * The translation bundle.
     */
    trans?: TranslationBundle;
  }

  /**
   * The tooltip: "since <time>: <reason>".
   */
  export function tooltip(
    state: ConnectionManager.IState,
    trans: TranslationBundle
  ): string {
    return trans.__(
      '%1 since %2: %3',
      label(state.state, trans),
      new Date(state.since).toLocaleTimeString(),
      state.reason
    );
  }
}
