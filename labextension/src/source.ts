import { NotebookPanel } from '@jupyterlab/notebook';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import type { INotificationSource } from './model';

/**
 * Opens where a notification was sent from: the notebook, scrolled to the
 * cell that sent it, or the terminal.
 *
 * It only opens documents and terminals of the person's own server, through
 * JupyterLab's own commands, so it needs no place in the allowed-commands
 * setting that guards what senders may run.
 */
export class SourceOpener {
  /**
   * Construct an opener on the command registry.
   */
  constructor(options: SourceOpener.IOptions) {
    this._commands = options.commands;
  }

  /**
   * Open a source given as command arguments (the `source` object).
   */
  async open(args: ReadonlyPartialJSONObject): Promise<void> {
    const source = SourceOpener.fromArgs(args);
    if (source === null) {
      throw new Error('not a notebook or terminal source');
    }
    if (source.kind === 'terminal') {
      await this._commands.execute('terminal:open', { name: source.name });
      return;
    }
    const widget = await this._commands.execute('docmanager:open', {
      path: source.path
    });
    if (source.cellId && widget instanceof NotebookPanel) {
      await widget.context.ready;
      await widget.revealed;
      await SourceOpener.scrollToCell(widget, source.cellId);
    }
  }

  private _commands: SourceOpener.ICommands;
}

/**
 * A namespace for SourceOpener statics.
 */
export namespace SourceOpener {
  /**
   * The command that opens a source; its arguments are the source.
   */
  export const COMMAND = 'jln:open-source';

  /**
   * The part of the command registry the opener uses.
   */
  export interface ICommands {
    execute(id: string, args?: ReadonlyPartialJSONObject): Promise<unknown>;
  }

  /**
   * The options of an opener.
   */
  export interface IOptions {
    /**
     * The command registry.
     */
    commands: ICommands;
  }

  /**
   * The source in command arguments, `null` when they are not one.
   */
  export function fromArgs(
    args: ReadonlyPartialJSONObject
  ): INotificationSource | null {
    const { kind, path, cellId, name } = args;
    if (kind === 'notebook' && typeof path === 'string' && path !== '') {
      return typeof cellId === 'string' && cellId !== ''
        ? { kind, path, cellId }
        : { kind, path };
    }
    if (kind === 'terminal' && typeof name === 'string' && name !== '') {
      return { kind, name };
    }
    return null;
  }

  /**
   * Make the cell with this id the active one and bring it into view.
   */
  export async function scrollToCell(
    panel: NotebookPanel,
    cellId: string
  ): Promise<void> {
    const notebook = panel.content;
    const index = notebook.widgets.findIndex(cell => cell.model.id === cellId);
    if (index < 0) {
      return; // The cell was deleted since: the notebook is open anyway.
    }
    notebook.activeCellIndex = index;
    await notebook.scrollToCell(notebook.widgets[index], 'center');
  }
}
