import { NotificationManager } from '@jupyterlab/apputils';

import { AgeRefresher } from '../ages';
import { ServerClock } from '../clock';
import { Presenter } from '../presenter';
import { FakeManager, note } from './fakes';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * A presenter and its age refresher on a fake manager, with the browser
 * clock, the toasts on screen and the notification center under the test's
 * control. Timers and `Date.now` are jest's fakes.
 */
function setup<M extends Presenter.INotificationManager = FakeManager>(
  options: { manager?: M; skewMs?: number } = {}
) {
  const manager = (options.manager ?? new FakeManager()) as M;
  const skewMs = options.skewMs ?? 0;
  // The browser clock is `skewMs` off the server's; the first frame tells.
  const clock = new ServerClock({ now: () => Date.now() + skewMs });
  clock.observe(Date.now());
  const toastsShown = new Set<string>();
  const center = { open: false, opened: () => undefined as unknown };
  const ages = new AgeRefresher({
    manager,
    clock,
    now: () => Date.now(),
    elapsed: () => Date.now(),
    isToastShown: id => toastsShown.has(id),
    isCenterOpen: () => center.open,
    watchCenter: opened => {
      center.opened = opened;
      return { isDisposed: false, dispose: () => undefined };
    }
  });
  const presenter = new Presenter({
    manager,
    clock,
    ages,
    commands: { execute: () => Promise.resolve() }
  });
  /** The user opens the notification center. */
  const openCenter = () => {
    center.open = true;
    center.opened();
  };
  return { manager, clock, ages, presenter, toastsShown, center, openCenter };
}

beforeEach(() => {
  jest.useFakeTimers({ now: new Date('2030-01-01T12:00:00Z') });
});

afterEach(() => {
  jest.useRealTimers();
});

describe('AgeRefresher', () => {
  it('labels a notification with its age when it is presented', () => {
    const { manager, presenter, clock } = setup();
    presenter.present([
      note('1', { message: 'Deploy done', createdAt: clock.now() - 2000 }),
      note('2', { message: 'Backup', createdAt: clock.now() - 5 * MINUTE })
    ]);
    expect(manager.notified.map(n => n.message)).toEqual([
      'Deploy done\njust now',
      'Backup\n5 min ago'
    ]);
    presenter.dispose();
  });

  it.each([
    ['an hour ahead', HOUR],
    ['an hour behind', -HOUR]
  ])(
    'says "just now" for a fresh notification when the browser clock is %s',
    (_, skewMs) => {
      const { manager, presenter, clock } = setup({ skewMs });
      expect(Math.abs(Date.now() + skewMs - clock.now())).toBe(HOUR);
      presenter.present([note('1', { createdAt: Date.now() - 1000 })]);
      expect(manager.notified[0].message).toBe('message 1\njust now');
      // Not taken for an hour-old notification: it still gets its toast.
      expect(manager.notified[0].options.autoClose).toBe(5000);
      presenter.dispose();
    }
  );

  it('refreshes a toast on screen, leaving it the time it had left', () => {
    const { manager, presenter, clock, toastsShown } = setup();
    const [sticky, long] = presenter.present([
      note('1', { createdAt: clock.now(), autoClose: false }),
      note('2', { createdAt: clock.now(), autoClose: 2 * MINUTE })
    ]);
    toastsShown.add(sticky).add(long);

    jest.advanceTimersByTime(30 * SECOND);
    expect(manager.updates).toEqual([]); // still "just now"

    jest.advanceTimersByTime(30 * SECOND);
    expect(manager.updates).toEqual([
      { id: sticky, message: 'message 1\n1 min ago', autoClose: false },
      { id: long, message: 'message 2\n1 min ago', autoClose: MINUTE }
    ]);
    expect(manager.messageOf(sticky)).toBe('message 1\n1 min ago');

    jest.advanceTimersByTime(30 * SECOND);
    expect(manager.updates.slice(2)).toEqual([
      { id: sticky, message: 'message 1\n2 min ago', autoClose: false },
      { id: long, message: 'message 2\n2 min ago', autoClose: 30 * SECOND }
    ]);
    presenter.dispose();
  });

  it('never brings back a toast that is gone: the center is refreshed when it opens', () => {
    const { manager, presenter, clock, openCenter } = setup();
    const [id] = presenter.present([note('1', { createdAt: clock.now() })]);

    jest.advanceTimersByTime(3 * MINUTE);
    expect(manager.updates).toEqual([]);
    expect(manager.messageOf(id)).toBe('message 1\njust now');

    openCenter();
    // No autoClose: while the center is open JupyterLab makes no toast of it.
    expect(manager.updates).toEqual([{ id, message: 'message 1\n3 min ago' }]);

    jest.advanceTimersByTime(MINUTE);
    expect(manager.updates.map(u => u.message)).toEqual([
      'message 1\n3 min ago',
      'message 1\n4 min ago'
    ]);
    presenter.dispose();
  });

  it('keeps the order of the notification center, ours and others alike', () => {
    const manager = new NotificationManager();
    const { presenter, clock, toastsShown, openCenter } = setup({ manager });
    const [first] = presenter.present([
      note('1', { createdAt: clock.now(), autoClose: false })
    ]);
    jest.advanceTimersByTime(10 * SECOND);
    const theirs = manager.notify('Kernel restarted', 'info', {});
    jest.advanceTimersByTime(10 * SECOND);
    const [last] = presenter.present([note('2', { createdAt: clock.now() })]);
    const order = () => manager.notifications.map(n => n.id);
    expect(order()).toEqual([last, theirs, first]);

    // The first one's toast is still up: refreshing it moves it to the top.
    toastsShown.add(first);
    jest.advanceTimersByTime(MINUTE);
    expect(order()).toEqual([first, last, theirs]);

    openCenter();
    expect(order()).toEqual([last, theirs, first]);
    expect(manager.notifications.map(n => n.message)).toEqual([
      'message 2\n1 min ago',
      'Kernel restarted',
      'message 1\n1 min ago'
    ]);

    // Later refreshes keep it so, though JupyterLab stamped ours anew.
    jest.advanceTimersByTime(MINUTE);
    expect(order()).toEqual([last, theirs, first]);
    expect(manager.notifications[2].message).toBe('message 1\n2 min ago');
    presenter.dispose();
    manager.dispose();
  });

  it('forgets what the manager removed, and stops its timer with the last', () => {
    const { manager, presenter, ages, clock, openCenter } = setup();
    const [one, two] = presenter.present([
      note('1', { createdAt: clock.now() }),
      note('2', { createdAt: clock.now() })
    ]);
    expect(ages.size).toBe(2);
    expect(jest.getTimerCount()).toBe(1);

    manager.dismiss(one);
    expect(ages.size).toBe(1);
    jest.advanceTimersByTime(2 * MINUTE);
    openCenter();
    expect(manager.updates.map(u => u.id)).toEqual([two]);

    manager.dismiss(two);
    expect(ages.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
    presenter.dispose();
  });

  it('leaves alone a notification someone else rewrote', () => {
    const { manager, presenter, ages, clock, openCenter } = setup();
    const [id] = presenter.present([note('1', { createdAt: clock.now() })]);
    manager.update({ id, message: 'Rewritten by another extension' });
    expect(ages.size).toBe(0);
    jest.advanceTimersByTime(5 * MINUTE);
    openCenter();
    expect(manager.messageOf(id)).toBe('Rewritten by another extension');
    presenter.dispose();
  });

  it('keeps keyed updates in place, aged from the newest', () => {
    const { manager, presenter, clock, toastsShown } = setup();
    const [id] = presenter.present([
      note('1', {
        key: 'job',
        type: 'in-progress',
        message: 'Running',
        autoClose: false,
        createdAt: clock.now() - 5 * MINUTE
      })
    ]);
    expect(manager.messageOf(id)).toBe('Running\n5 min ago');
    toastsShown.add(id);
    presenter.present([
      note('2', {
        key: 'job',
        type: 'success',
        message: 'Finished',
        createdAt: clock.now()
      })
    ]);
    expect(manager.notified).toHaveLength(1);
    expect(manager.notifications).toEqual([
      expect.objectContaining({
        id,
        type: 'success',
        message: 'Finished\njust now'
      })
    ]);
    expect(manager.updates).toHaveLength(1);
    jest.advanceTimersByTime(5 * SECOND);
    toastsShown.delete(id); // its 5 s toast is over
    jest.advanceTimersByTime(MINUTE);
    expect(manager.updates).toHaveLength(1);
    presenter.dispose();
  });

  it('stops everything when disposed', () => {
    const { presenter, clock } = setup();
    presenter.present([note('1', { createdAt: clock.now() })]);
    expect(jest.getTimerCount()).toBe(1);
    presenter.dispose();
    expect(jest.getTimerCount()).toBe(0);
    expect(presenter.isDisposed).toBe(true);
  });
});

describe('AgeRefresher.compose', () => {
  it('puts the age on a line of its own', () => {
    expect(AgeRefresher.compose('Build done', 'just now')).toBe(
      'Build done\njust now'
    );
  });

  it('cuts a long text so that the age stays within what JupyterLab shows', () => {
    const message = AgeRefresher.compose('x'.repeat(300), '12 min ago');
    expect(message).toHaveLength(AgeRefresher.MAX_MESSAGE);
    expect(message.endsWith('x…\n12 min ago')).toBe(true);
  });
});

describe('AgeRefresher in the page', () => {
  const flush = () => new Promise(resolve => setTimeout(resolve, 0));

  beforeEach(() => {
    jest.useRealTimers();
  });

  afterEach(() => {
    document.body.innerHTML = '';
  });

  it('sees a toast while it is on screen, not while it slides out', () => {
    document.body.innerHTML =
      '<div class="jp-toastContainer"><div id="n1" class="Toastify__toast">' +
      '</div></div><div id="n2"></div>';
    expect(AgeRefresher.isToastShown('n1')).toBe(true);
    expect(AgeRefresher.isToastShown('n2')).toBe(false);
    expect(AgeRefresher.isToastShown('n3')).toBe(false);
    document
      .getElementById('n1')
      ?.classList.add(
        'Toastify--animate',
        'Toastify__slide-exit--bottom-right'
      );
    expect(AgeRefresher.isToastShown('n1')).toBe(false);
  });

  it('calls back each time the notification center opens', async () => {
    const opened = jest.fn();
    const watch = AgeRefresher.watchCenter(opened);
    const popup = document.createElement('div');
    popup.innerHTML = '<div class="jp-Notification-Center"></div>';
    document.body.appendChild(popup);
    await flush();
    expect(AgeRefresher.isCenterOpen()).toBe(true);
    expect(opened).toHaveBeenCalledTimes(1);
    popup.remove();
    await flush();
    document.body.appendChild(popup);
    await flush();
    expect(opened).toHaveBeenCalledTimes(2);
    watch.dispose();
    popup.remove();
    await flush();
    document.body.appendChild(popup);
    await flush();
    expect(opened).toHaveBeenCalledTimes(2);
  });
});
