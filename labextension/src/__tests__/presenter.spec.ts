import { NotificationManager } from '@jupyterlab/apputils';
import type { ReadonlyJSONObject } from '@lumino/coreutils';

import { AgeRefresher } from '../ages';
import { ServerClock } from '../clock';
import { Presenter } from '../presenter';
import { SourceOpener } from '../source';
import { FakeManager, note } from './fakes';
import schema from '../../schema/plugin.json';

const presenters: Presenter[] = [];

function setup(
  settings: Partial<Presenter.ISettings> = {},
  clock = new ServerClock(),
  attention: Pick<Presenter.IOptions, 'isMuted' | 'shouldToast'> = {}
) {
  const manager = new FakeManager();
  const executed: Array<[string, ReadonlyJSONObject | undefined]> = [];
  const opened: string[] = [];
  const ages = new AgeRefresher({ manager, clock });
  const presenter = new Presenter({
    manager,
    clock,
    ages,
    commands: {
      execute: (id, args) => {
        executed.push([id, args]);
        return Promise.resolve();
      }
    },
    openWindow: url => opened.push(url),
    ...attention
  });
  presenter.configure(settings);
  presenters.push(presenter);
  return { manager, presenter, executed, opened };
}

beforeEach(() => {
  jest.spyOn(console, 'warn').mockImplementation(() => undefined);
});

afterEach(() => {
  presenters.splice(0).forEach(presenter => presenter.dispose());
  jest.restoreAllMocks();
});

describe('Presenter', () => {
  it('emits the message, type, autoClose and data', () => {
    const { manager, presenter } = setup();
    presenter.present([note('1', { message: 'Build done', type: 'success' })]);
    expect(manager.notified).toHaveLength(1);
    const [shown] = manager.notified;
    expect(shown.message).toBe('Build done\nnow');
    expect(shown.type).toBe('success');
    expect(shown.options.autoClose).toBe(5000);
    expect(shown.options.data).toMatchObject({
      jln: { id: 'jln:broadcast/1', stream: 'jln:broadcast' }
    });
  });

  it('puts the title before the message and keeps text as text', () => {
    const { manager, presenter } = setup();
    presenter.present([
      note('1', { title: 'Deploy', message: '<img src=x onerror=alert(1)>' })
    ]);
    expect(manager.notified[0].message).toBe(
      'Deploy: <img src=x onerror=alert(1)>\nnow'
    );
  });

  it('updates a keyed notification in place', () => {
    const { manager, presenter } = setup();
    const first = presenter.presentOne(
      note('1', {
        key: 'job-42',
        type: 'in-progress',
        message: 'Running',
        autoClose: false
      })
    );
    const second = presenter.presentOne(
      note('2', { key: 'job-42', type: 'success', message: 'Finished' })
    );
    expect(second).toBe(first);
    expect(manager.notified).toHaveLength(1);
    expect(manager.updates).toEqual([
      expect.objectContaining({
        id: first,
        type: 'success',
        message: 'Finished\nnow',
        autoClose: 5000
      })
    ]);
  });

  it('emits anew when the keyed notification was dismissed', () => {
    const { manager, presenter } = setup();
    const first = presenter.presentOne(note('1', { key: 'k' })) ?? '';
    manager.dismiss(first);
    const second = presenter.presentOne(note('2', { key: 'k' }));
    expect(second).not.toBe(first);
    expect(manager.notified).toHaveLength(2);
    expect(manager.updates).toHaveLength(0);
  });

  it('turns toasts off: notification center only', () => {
    const { manager, presenter } = setup({ toasts: false });
    presenter.present([note('1', { type: 'error', autoClose: false })]);
    expect(manager.notified[0].options.autoClose).toBe(0);
  });

  it('shows no toast in do-not-disturb mode', () => {
    const { manager, presenter } = setup({ doNotDisturb: true });
    presenter.present([note('1', { type: 'error' })]);
    expect(manager.notified[0].options.autoClose).toBe(0);
  });

  it('gives no toast for what another tab already read', () => {
    const { manager, presenter } = setup();
    presenter.present([note('1', { read: true, readAt: Date.now() })]);
    expect(manager.notified[0].options.autoClose).toBe(0);
  });

  it('gives no toast for a muted origin or topic, which stays in the center', () => {
    const { manager, presenter } = setup({}, new ServerClock(), {
      isMuted: n => n.origin === 'ci'
    });
    presenter.present([
      note('1', { origin: 'ci', message: 'nightly failed' }),
      note('2', { origin: 'kitchen', message: 'coffee' })
    ]);
    expect(manager.notified.map(n => n.options.autoClose)).toEqual([0, 5000]);
    expect(manager.notified[0].message).toContain('nightly failed');
  });

  it('toasts only in the tab the person looks at, but deserves it in all', () => {
    let chosen = false;
    const { manager, presenter } = setup({}, new ServerClock(), {
      shouldToast: () => chosen
    });
    const deploy = note('1', { message: 'Deploy done' });
    expect(presenter.deservesToast(deploy)).toBe(true);
    presenter.present([deploy]);
    chosen = true;
    presenter.present([note('2', { message: 'Second deploy' })]);
    expect(manager.notified.map(n => n.options.autoClose)).toEqual([0, 5000]);
    expect(presenter.deservesToast(note('3', { autoClose: 0 }))).toBe(false);
  });

  it('toasts only from the minimum type up', () => {
    const { manager, presenter } = setup({ minimumToastType: 'warning' });
    presenter.present([
      note('1', { type: 'info' }),
      note('2', { type: 'warning' }),
      note('3', { type: 'error', autoClose: false })
    ]);
    expect(manager.notified.map(n => n.options.autoClose)).toEqual([
      0,
      5000,
      false
    ]);
  });

  it('keeps a sender-silent notification silent', () => {
    const { manager, presenter } = setup();
    presenter.present([note('1', { autoClose: 0 })]);
    expect(manager.notified[0].options.autoClose).toBe(0);
  });

  it('tells the age on the server clock, whatever the browser clock says', () => {
    const clock = new ServerClock();
    // The browser clock is five minutes behind the server's.
    clock.observe(Date.now() + 5 * 60 * 1000);
    const { manager, presenter } = setup({}, clock);
    presenter.present([
      note('1', { createdAt: clock.now() - 2 * 60 * 1000 }),
      note('2', { createdAt: clock.now() - 5 * 1000 })
    ]);
    expect(manager.notified[0].message).toBe('message 1\n2 minutes ago');
    expect(manager.notified[1].message).toBe('message 2\nnow');
  });

  it('puts old notifications in the center without a toast', () => {
    const clock = new ServerClock();
    const { manager, presenter } = setup({}, clock);
    presenter.present([
      note('1', { createdAt: clock.now() - 3 * 3600 * 1000 })
    ]);
    expect(manager.notified[0].options.autoClose).toBe(0);
    expect(manager.notified[0].message).toBe('message 1\n3 hours ago');
  });

  it('drops expired notifications', () => {
    const clock = new ServerClock();
    const { manager, presenter } = setup({}, clock);
    const shown = presenter.present([
      note('1', { expiresAt: clock.now() - 1 }),
      note('2', { expiresAt: clock.now() + 60000 })
    ]);
    expect(shown).toHaveLength(1);
    expect(manager.notified.map(n => n.message)).toEqual(['message 2\nnow']);
  });

  it('opens http(s) links in a new tab and refuses other schemes', () => {
    const { manager, presenter, opened } = setup();
    presenter.present([
      note('1', {
        actions: [
          {
            label: 'Docs',
            caption: '',
            displayType: 'link',
            link: 'https://example.org/a'
          },
          {
            label: 'Evil',
            caption: '',
            displayType: 'link',
            link: 'javascript:alert(1)'
          },
          {
            label: 'Local',
            caption: '',
            displayType: 'default',
            link: '/lab/tree/x.ipynb'
          }
        ]
      })
    ]);
    manager.click(0, 'Docs');
    manager.click(0, 'Evil');
    manager.click(0, 'Local');
    expect(opened).toEqual([
      'https://example.org/a',
      new URL('/lab/tree/x.ipynb', window.location.href).href
    ]);
    expect(manager.notified[1].type).toBe('warning');
    expect(manager.notified[1].message).toContain('javascript:alert(1)');
  });

  it('adds an Open action for the link of the notification', () => {
    const { manager, presenter, opened } = setup();
    presenter.present([note('1', { link: 'https://example.org/report' })]);
    manager.click(0, 'Open');
    expect(opened).toEqual(['https://example.org/report']);
  });

  it('runs allowed commands only', async () => {
    const { manager, presenter, executed } = setup({
      allowedCommands: ['docmanager:open']
    });
    presenter.present([
      note('1', {
        actions: [
          {
            label: 'Open notebook',
            caption: '',
            displayType: 'accent',
            commandId: 'docmanager:open',
            args: { path: 'report.ipynb' }
          },
          {
            label: 'Shut down',
            caption: '',
            displayType: 'warn',
            commandId: 'kernelmenu:shutdown'
          }
        ]
      })
    ]);
    manager.click(0, 'Open notebook');
    manager.click(0, 'Shut down');
    await Promise.resolve();
    expect(executed).toEqual([['docmanager:open', { path: 'report.ipynb' }]]);
    expect(manager.notified[1].type).toBe('warning');
    expect(manager.notified[1].message).toContain('kernelmenu:shutdown');
  });

  it('offers to open the notebook cell or terminal it came from, whatever the allowed commands', async () => {
    const { manager, presenter, executed } = setup({ allowedCommands: [] });
    presenter.present([
      note('1', {
        message: 'training done',
        source: { kind: 'notebook', path: 'work/train.ipynb', cellId: 'c-7' }
      }),
      note('2', {
        message: 'backup done',
        source: { kind: 'terminal', name: '3' }
      })
    ]);
    manager.click(0, 'Open notebook');
    manager.click(1, 'Open terminal');
    await Promise.resolve();
    expect(executed).toEqual([
      [
        SourceOpener.COMMAND,
        { kind: 'notebook', path: 'work/train.ipynb', cellId: 'c-7' }
      ],
      [SourceOpener.COMMAND, { kind: 'terminal', name: '3' }]
    ]);
    expect(manager.notified).toHaveLength(2); // no refusal warning
  });

  it('reads a source from command arguments, refusing anything else', () => {
    expect(
      SourceOpener.fromArgs({ kind: 'notebook', path: 'a.ipynb', cellId: '' })
    ).toEqual({ kind: 'notebook', path: 'a.ipynb' });
    expect(SourceOpener.fromArgs({ kind: 'terminal', name: '1' })).toEqual({
      kind: 'terminal',
      name: '1'
    });
    expect(SourceOpener.fromArgs({ kind: 'shell', path: 'x' })).toBeNull();
    expect(SourceOpener.fromArgs({ kind: 'notebook' })).toBeNull();
  });

  it('updates in place through the real JupyterLab notification manager', () => {
    const manager = new NotificationManager();
    const presenter = new Presenter({
      manager,
      commands: { execute: () => Promise.resolve() }
    });
    presenter.present([
      note('1', { key: 'upload', type: 'in-progress', message: 'Uploading' })
    ]);
    presenter.present([
      note('2', { key: 'upload', type: 'success', message: 'Uploaded' })
    ]);
    expect(manager.count).toBe(1);
    expect(manager.notifications[0].type).toBe('success');
    expect(manager.notifications[0].message).toBe('Uploaded\nnow');
    presenter.dispose();
    manager.dispose();
  });
});

describe('Presenter actions', () => {
  it('gives the buttons their label, caption and display type', () => {
    const { manager, presenter } = setup();
    presenter.present([
      note('1', {
        actions: [
          {
            label: 'Report',
            caption: 'Open the build report',
            displayType: 'accent',
            link: 'https://example.org/r'
          },
          {
            label: 'Notebook',
            caption: '',
            displayType: 'warn',
            commandId: 'docmanager:open'
          }
        ]
      })
    ]);
    const actions = manager.notified[0].options.actions ?? [];
    expect(
      actions.map(({ label, caption, displayType }) => ({
        label,
        caption,
        displayType
      }))
    ).toEqual([
      {
        label: 'Report',
        caption: 'Open the build report',
        displayType: 'accent'
      },
      // Without a caption, the tooltip says what the button does.
      { label: 'Notebook', caption: 'docmanager:open', displayType: 'warn' }
    ]);
  });

  it('opens a link in a new tab without opener', () => {
    const open = jest.spyOn(window, 'open').mockImplementation(() => null);
    Presenter.openInNewTab('https://example.org/x');
    expect(open).toHaveBeenCalledWith(
      'https://example.org/x',
      '_blank',
      'noopener'
    );
  });

  it('refuses help:open by default: it would open a tab that can reach back', async () => {
    const { manager, presenter, executed } = setup();
    presenter.present([
      note('1', {
        actions: [
          {
            label: 'Read',
            caption: '',
            displayType: 'default',
            commandId: 'help:open',
            args: { url: 'https://example.org', newBrowserTab: true }
          }
        ]
      })
    ]);
    manager.click(0, 'Read');
    await Promise.resolve();
    expect(executed).toEqual([]);
    expect(manager.notified[1].type).toBe('warning');
    expect(manager.notified[1].message).toContain('help:open');
  });

  it('has the same default commands as the settings schema', () => {
    expect(schema.properties.allowedCommands.default).toEqual(
      Presenter.DEFAULT_SETTINGS.allowedCommands
    );
    expect(Presenter.DEFAULT_SETTINGS.allowedCommands).not.toContain(
      'help:open'
    );
  });
});
