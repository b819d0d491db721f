import { Widget } from '@lumino/widgets';

import { ConnectionManager } from './connection';

/**
 * The status bar item: live, polling or offline, with why and since when.
 *
 * A click opens JupyterLab's notification center.
 */
export class ConnectionStatus extends Widget {
  /**
   * Construct the item and follow a connection manager.
   */
  constructor(options: ConnectionStatus.IOptions) {
    super();
    this._connection = options.connection;
    this._commands = options.commands;
    this.addClass('jln-StatusItem');
    this.node.setAttribute('role', 'button');
    this.node.tabIndex = 0;
    this._dot.className = 'jln-StatusItem-dot';
    this._label.className = 'jln-StatusItem-label';
    this.node.appendChild(this._dot);
    this.node.appendChild(this._label);
    this.node.addEventListener('click', this._onClick);
    this.node.addEventListener('keydown', this._onKeyDown);
    this._connection.stateChanged.connect(this._onStateChanged, this);
    this._render(this._connection.state);
  }

  /**
   * Stop following the connection.
   */
  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._connection.stateChanged.disconnect(this._onStateChanged, this);
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
    this._label.textContent = ConnectionStatus.LABELS[state.state];
    this.node.title = ConnectionStatus.tooltip(state);
  }

  private _open(): void {
    void this._commands
      .execute(ConnectionStatus.OPEN_CENTER_COMMAND)
      .catch(reason => {
        console.warn('JLN: cannot open the notification center', reason);
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
  private _dot = document.createElement('span');
  private _label = document.createElement('span');
}

/**
 * A namespace for ConnectionStatus statics.
 */
export namespace ConnectionStatus {
  /**
   * The command that opens the notification center.
   */
  export const OPEN_CENTER_COMMAND = 'apputils:display-notifications';

  /**
   * The label of each state.
   */
  export const LABELS: { [state in ConnectionManager.State]: string } = {
    connecting: 'Notifications: connecting',
    live: 'Notifications: live',
    polling: 'Notifications: polling',
    offline: 'Notifications: offline'
  };

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
     * The command registry, to open the notification center.
     */
    commands: ICommands;
  }

  /**
   * The tooltip: "since <time>: <reason>".
   */
  export function tooltip(state: ConnectionManager.IState): string {
    const time = new Date(state.since).toLocaleTimeString();
    return `${LABELS[state.state]} since ${time}: ${state.reason}`;
  }
}
