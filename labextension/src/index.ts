import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { ConnectionManager } from './connection';
import { InboxClient } from './inbox/client';
import { InboxModel } from './inbox/model';
import { InboxPanel } from './inbox/panel';
import { UnreadCount } from './inbox/unread';
import { IDeliveredNotification, isNotificationType } from './model';
import { Presenter } from './presenter';
import { NotificationSender } from './sender';
import { SEND_ARGS_SCHEMA, sendCommand } from './sendcommand';
import { DesktopNotifier } from './desktop';
import { GapNotice } from './gapnotice';
import { MuteRules } from './mute';
import { PinBanner } from './pins/banner';
import { PinsModel } from './pins/model';
import { PresenceReporter } from './presence';
import { SourceOpener } from './source';
import { ConnectionStatus } from './status';
import { TabElection } from './tabs';
import { TitleBadge } from './titlebadge';

/**
 * The plugin id, also the key of its settings.
 */
const PLUGIN_ID = 'jln-labextension:plugin';

/**
 * The command ids.
 */
namespace CommandIDs {
  export const send = 'jln:send';
  export const openInbox = 'jln:open-inbox';
  export const muteOrigin = InboxPanel.MUTE_ORIGIN_COMMAND;
  export const muteTopic = InboxPanel.MUTE_TOPIC_COMMAND;
  export const desktop = 'jln:toggle-desktop-notifications';
}

/**
 * Live notifications: connect, show, keep an inbox, report the state, send.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Live notifications pushed by the JLN server.',
  autoStart: true,
  optional: [
    ISettingRegistry,
    IStatusBar,
    ICommandPalette,
    ITranslator,
    ILayoutRestorer
  ],
  activate: (
    app: JupyterFrontEnd,
    settingRegistry: ISettingRegistry | null,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null,
    restorer: ILayoutRestorer | null
  ) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab');
    const settings = app.serviceManager.serverSettings;
    const connection = new ConnectionManager({ settings });
    const client = new InboxClient({ settings });
    const unread = new UnreadCount({ fetch: () => client.count() });
    const titleBadge = new TitleBadge({ unread });
    const tabs = new TabElection({
      channelName: `jln-tabs:${settings.baseUrl}`
    });
    const desktop = new DesktopNotifier();
    let mutes = new MuteRules();
    const isMuted = (notification: IDeliveredNotification) =>
      mutes.isMuted(notification);
    const presenter = new Presenter({
      manager: Notification.manager,
      commands: app.commands,
      clock: connection.clock,
      trans,
      isMuted,
      shouldToast: () => tabs.shouldToast()
    });
    const inbox = new InboxModel({
      client,
      clock: connection.clock,
      isMuted,
      onUnread: count => unread.set(count)
    });
    const panel = new InboxPanel({
      model: inbox,
      commands: app.commands,
      runAction: action => presenter.runAction(action),
      trans
    });
    const pins = new PinsModel({
      load: async () => {
        const page = await client.page({
          filters: { pinned: true },
          limit: InboxModel.MAX_PAGE
        });
        return page.notifications;
      },
      clock: connection.clock
    });
    const banner = new PinBanner({
      model: pins,
      acknowledge: id => client.setState([id], { read: true }),
      trans
    });
    const sender = new NotificationSender({ settings });

    const openItem = (id: string) => {
      app.shell.activateById(panel.id);
      panel.reveal(id);
    };
    connection.notificationsReceived.connect((_, notifications) => {
      presenter.present(notifications);
      inbox.receive(notifications);
      pins.add(notifications);
      unread.refresh();
      if (tabs.shouldNotifyDesktop()) {
        for (const notification of notifications) {
          if (presenter.deservesToast(notification)) {
            desktop.show(notification, () => openItem(notification.id));
          }
        }
      }
    });
    connection.inboxStateChanged.connect((_, frame) => {
      unread.set(frame.unread);
      inbox.applyState(frame);
      pins.applyState(frame);
    });
    connection.connected.connect((_, hello) => {
      unread.set(hello.unread);
      pins.load().catch(reason => {
        console.warn('JLN: cannot load the pinned notifications', reason);
      });
      panel.refresh(); // What changed while the socket was down.
    });
    const gapNotice = new GapNotice({ manager: Notification.manager, trans });
    connection.gapped.connect(() => {
      gapNotice.show();
      unread.refresh();
      panel.refresh(); // Some of what it lists may be gone.
    });

    app.shell.add(panel, 'right', { rank: 900 });
    app.shell.add(banner, 'header');
    restorer?.add(panel, InboxPanel.ID);

    app.commands.addCommand(CommandIDs.openInbox, {
      label: trans.__('Open Notification Inbox'),
      caption: trans.__('Show the history of your notifications'),
      execute: () => app.shell.activateById(panel.id)
    });
    const sources = new SourceOpener({ commands: app.commands });
    app.commands.addCommand(SourceOpener.COMMAND, {
      label: trans.__('Open Where a Notification Came From'),
      execute: args => sources.open(args)
    });
    app.commands.addCommand(CommandIDs.send, {
      label: trans.__('Send Notification'),
      caption: trans.__('Send a notification to users or groups through JLN'),
      describedBy: { args: SEND_ARGS_SCHEMA },
      execute: args => sendCommand(sender, args)
    });
    if (palette) {
      const category = trans.__('Notifications');
      palette.addItem({ command: CommandIDs.openInbox, category });
      palette.addItem({ command: CommandIDs.send, category });
    }

    if (statusBar) {
      statusBar.registerStatusItem('jln-labextension:status', {
        item: new ConnectionStatus({
          connection,
          commands: app.commands,
          openCommand: CommandIDs.openInbox,
          unread,
          trans
        }),
        align: 'right',
        rank: 100
      });
    }

    const loading = settingRegistry?.load(PLUGIN_ID) ?? null;
    if (loading) {
      loading
        .then(loaded => {
          const apply = () => {
            applySettings(loaded, presenter, connection, titleBadge);
            desktop.enabled =
              loaded.get('desktopNotifications').composite === true;
            mutes = new MuteRules(MuteRules.readSettings(loaded.composite));
            inbox.setMuted(isMuted);
          };
          apply();
          loaded.changed.connect(apply);
          addSettingCommands(app, loaded, trans, desktop, () => mutes);
          palette?.addItem({
            command: CommandIDs.desktop,
            category: trans.__('Notifications')
          });
        })
        .catch(reason => {
          console.error('JLN: cannot load the settings', reason);
        });
    }

    const presence = new PresenceReporter({ settings, tab: tabs.id });
    void app.restored.then(() => {
      connection.start();
      presence.start();
      const linked = linkedNotification(window.location.search);
      if (linked !== null) {
        openItem(linked); // The link of an escalation (email, chat...).
      }
    });
  }
};

/**
 * The commands that write settings: mute or unmute an origin or a topic (from
 * an inbox item's menu), and desktop notifications on or off (the browser's
 * permission is asked here, on the person's click, never on load).
 */
function addSettingCommands(
  app: JupyterFrontEnd,
  loaded: ISettingRegistry.ISettings,
  trans: TranslationBundle,
  desktop: DesktopNotifier,
  mutes: () => MuteRules
): void {
  const text = (args: ReadonlyPartialJSONObject, name: string) =>
    typeof args[name] === 'string' ? args[name] : '';
  const write = (name: string, value: string[]) => {
    loaded.set(name, value).catch(reason => {
      console.error(`JLN: cannot save the setting ${name}`, reason);
    });
  };
  for (const kind of MuteRules.KINDS) {
    app.commands.addCommand(MUTE_COMMANDS[kind], {
      label: args => {
        const name = text(args, kind);
        return muteLabel(kind, name, mutes().has(kind, name), trans);
      },
      execute: args =>
        write(MuteRules.SETTINGS[kind], mutes().toggled(kind, text(args, kind)))
    });
  }
  app.commands.addCommand(CommandIDs.desktop, {
    label: trans.__('Desktop Notifications When JupyterLab Is Hidden'),
    isToggled: () => desktop.enabled,
    execute: async () => {
      const enable = !desktop.enabled;
      if (enable && (await desktop.requestPermission()) !== 'granted') {
        Notification.warning(
          trans.__(
            'The browser did not allow notifications; allow them for this site in its settings.'
          ),
          { autoClose: 8000 }
        );
        return;
      }
      await loaded.set('desktopNotifications', enable);
    }
  });
}

/**
 * The notification a link to JupyterLab points at (`?jln-notification=<id>`,
 * as the server's escalation messages write it), or `null`.
 */
function linkedNotification(search: string): string | null {
  const id = new URLSearchParams(search).get('jln-notification');
  return id ? id : null;
}

/**
 * The command that mutes or unmutes each kind (its argument is named after
 * the kind: `{origin}` or `{topic}`).
 */
const MUTE_COMMANDS: { [kind in MuteRules.Kind]: string } = {
  origin: CommandIDs.muteOrigin,
  topic: CommandIDs.muteTopic
};

/**
 * The label of a mute command: "Mute notifications from CI", or "Unmute ..."
 * when it is muted.
 */
function muteLabel(
  kind: MuteRules.Kind,
  name: string,
  muted: boolean,
  trans: TranslationBundle
): string {
  if (kind === 'origin') {
    return muted
      ? trans.__('Unmute notifications from %1', name)
      : trans.__('Mute notifications from %1', name);
  }
  return muted
    ? trans.__('Unmute the topic %1', name)
    : trans.__('Mute the topic %1', name);
}

/**
 * Push the user's settings into the parts that follow them.
 */
function applySettings(
  loaded: ISettingRegistry.ISettings,
  presenter: Presenter,
  connection: ConnectionManager,
  titleBadge: TitleBadge
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
  titleBadge.setEnabled(get('unreadInTitle') === true);
}

export default plugin;
