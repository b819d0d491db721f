import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';

import { ConnectionManager } from './connection';
import { isNotificationType } from './model';
import { Presenter } from './presenter';
import { NotificationSender } from './sender';
import { SEND_ARGS_SCHEMA, sendCommand } from './sendcommand';
import { ConnectionStatus } from './status';

/**
 * The plugin id, also the key of its settings.
 */
const PLUGIN_ID = 'jln-labextension:plugin';

/**
 * The command ids.
 */
namespace CommandIDs {
  export const send = 'jln:send';
}

/**
 * Live notifications: connect, show, report the state, send.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Live notifications pushed by the JLN server.',
  autoStart: true,
  optional: [ISettingRegistry, IStatusBar, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    settingRegistry: ISettingRegistry | null,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null
  ) => {
    const settings = ServerConnection.makeSettings();
    const connection = new ConnectionManager({ settings });
    const presenter = new Presenter({
      manager: Notification.manager,
      commands: app.commands,
      clock: connection.clock
    });
    const sender = new NotificationSender({ settings });

    connection.notificationsReceived.connect((_, notifications) => {
      presenter.present(notifications);
    });

    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(loaded => {
          const apply = () => applySettings(loaded, presenter, connection);
          apply();
          loaded.changed.connect(apply);
        })
        .catch(reason => {
          console.error('JLN: cannot load the settings', reason);
        });
    }

    if (statusBar) {
      statusBar.registerStatusItem('jln-labextension:status', {
        item: new ConnectionStatus({ connection, commands: app.commands }),
        align: 'right',
        rank: 100
      });
    }

    app.commands.addCommand(CommandIDs.send, {
      label: 'Send Notification',
      caption: 'Send a notification to users or groups through JLN',
      describedBy: { args: SEND_ARGS_SCHEMA },
      execute: args => sendCommand(sender, args)
    });
    if (palette) {
      palette.addItem({ command: CommandIDs.send, category: 'Notifications' });
    }

    void app.restored.then(() => connection.start());
  }
};

/**
 * Push the user's settings into the presenter and the connection.
 */
function applySettings(
  loaded: ISettingRegistry.ISettings,
  presenter: Presenter,
  connection: ConnectionManager
): void {
  const get = (name: string) => loaded.get(name).composite;
  const pollInterval = get('pollInterval');
  if (typeof pollInterval === 'number') {
    connection.setPollInterval(pollInterval);
  }
  const minimum = get('minimumToastType');
  const allowed = get('allowedCommands');
  presenter.configure({
    toasts: get('toasts') !== false,
    doNotDisturb: get('doNotDisturb') === true,
    minimumToastType: isNotificationType(minimum) ? minimum : 'default',
    allowedCommands: Array.isArray(allowed)
      ? allowed.filter((id): id is string => typeof id === 'string')
      : Presenter.DEFAULT_SETTINGS.allowedCommands
  });
}

export default plugin;
