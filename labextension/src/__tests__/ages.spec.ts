import { NotificationManager } from '@jupyterlab/apputils';

import { AgeRefresher } from '../ages';
import { ServerClock } from '../clock';
import { Presenter } from '../presenter';
import { FakeManager, note } from './fakes';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * A presenter and its age refresher on a fake manager. Timers, `Date.now`
 * (the browser clock) and `performance.now` are jest's fakes; the server
 * clock runs `skewMs` behind the browser's.
 */
function setup<M extends Presenter.INotificationManager = FakeManager>(
  options: { manager?: M; skewMs?: number } = {}
) {
  const manager = (options.manager ?? new FakeManager()) as M;
  const clock = new ServerClock();
  clock.observe(Date.now() - (options.skewMs ?? 0));
  const ages = new AgeRefresher({ manager, clock });
  const presenter = new Presenter({
    manager,
    clock,
    ages,
    commands: { execute: () => Promise.resolve() }
  });
  return { manager, clock, ages, presenter };
}

/** The user clicks somewhere in the page (or presses a key). */
function userInput(type: 'pointerdown' | 'keydown' = 'pointerdown'): void {
  document.body.dispatchEvent(new Event(type, { bubbles: true }));
}

/** The page is hidden or shown again. */
function setVisible(visible: boolean): void {
  Object.defineProperty(document, 'visibilityState', {
    configurable: true,
    get: () => (visible ? 'visible' : 'hidden')
  });
  document.dispatchEvent(new Event('visibilitychange'));
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
      note('2', { message: 'Backup', createdAt: clock.now() - 5 * MINUTE }),
      note('3', { message: 'Nightly', createdAt: clock.now() - 3 * HOUR })
    ]);
    expect(manager.notified.map(n => n.message)).toEqual([
      'Deploy done\nnow',
      'Backup\n5 minutes ago',
      'Nightly\n3 hours ago'
    ]);
    presenter.dispose();
  });

  it('says ages to the minute, in the words of Time.formatHuman', () => {
    const { ages, clock, presenter } = setup();
    const ago = (ms: number) => ages.ageOf(clock.now() - ms);
    expect(ago(0)).toBe('now');
    expect(ago(59 * SECOND)).toBe('now');
    expect(ago(61 * SECOND)).toBe('1 minute ago');
    expect(ago(59 * MINUTE + 59 * SECOND)).toBe('59 minutes ago');
    expect(ago(2 * HOUR + 30 * MINUTE)).toBe('2 hours ago');
    expect(ago(25 * HOUR)).toBe('yesterday');
    // A server stamp a little ahead of the server clock is still "now".
    expect(ago(-5 * SECOND)).toBe('now');
    presenter.dispose();
  });

  it.each([
    ['an hour ahead', HOUR],
    ['an hour behind', -HOUR]
  ])(
    'says "now" for a fresh notification when the browser clock is %s',
    (_, skewMs) => {
      const { manager, presenter, clock } = setup({ skewMs });
      expect(Date.now() - clock.now()).toBe(skewMs);
      presenter.present([note('1', { createdAt: clock.now() - 1000 })]);
      expect(manager.notified[0].message).toBe('message 1\nnow');
      // Not taken for an hour-old notification: it still gets its toast.
      expect(manager.notified[0].options.autoClose).toBe(5000);
      presenter.dispose();
    }
  );

  it('refreshes a toast surely on screen, leaving it the time it had left', () => {
    const { manager, presenter, clock } = setup();
    const [long, sticky] = presenter.present([
      note('1', { createdAt: clock.now(), autoClose: 2 * MINUTE }),
      note('2', { createdAt: clock.now(), autoClose: false })
    ]);

    jest.advanceTimersByTime(30 * SECOND);
    expect(manager.updates).toEqual([]); // still "now"

    jest.advanceTimersByTime(30 * SECOND);
    // Deepest first: the center keeps its order.
    expect(manager.updates).toEqual([
      { id: long, message: 'message 1\n1 minute ago', autoClose: MINUTE },
      { id: sticky, message: 'message 2\n1 minute ago', autoClose: false }
    ]);
    expect(manager.notifications.map(n => n.id)).toEqual([sticky, long]);

    jest.advanceTimersByTime(60 * SECOND);
    expect(manager.updates.slice(2)).toEqual([
      { id: sticky, message: 'message 2\n2 minutes ago', autoClose: false }
    ]);
    // The two-minute toast is over: it keeps its last text.
    expect(manager.messageOf(long)).toBe('message 1\n1 minute ago');
    presenter.dispose();
  });

  it.each(['pointerdown', 'keydown'] as const)(
    'stops refreshing after a %s in the page: a toast the user may have closed never comes back',
    type => {
      const { manager, presenter, clock, ages } = setup();
      const [id] = presenter.present([
        note('1', { createdAt: clock.now(), autoClose: false })
      ]);
      jest.advanceTimersByTime(MINUTE);
      expect(manager.updates).toHaveLength(1);

      userInput(type);
      expect(ages.size).toBe(0);
      expect(jest.getTimerCount()).toBe(0);
      jest.advanceTimersByTime(10 * MINUTE);
      setVisible(true);
      expect(manager.updates).toHaveLength(1);
      expect(manager.messageOf(id)).toBe('message 1\n1 minute ago');

      // A toast that came after the click is surely on screen again.
      const [later] = presenter.present([
        note('2', { createdAt: clock.now(), autoClose: false })
      ]);
      jest.advanceTimersByTime(MINUTE);
      expect(manager.updates.map(u => u.id)).toEqual([id, later]);
      presenter.dispose();
    }
  );

  it('leaves a notification without a toast as it was written', () => {
    const { manager, presenter, clock, ages } = setup();
    presenter.present([note('1', { createdAt: clock.now(), autoClose: 0 })]);
    expect(ages.size).toBe(0);
    jest.advanceTimersByTime(10 * MINUTE);
    expect(manager.updates).toEqual([]);
    presenter.dispose();
  });

  it('refreshes at once when the page is shown again', () => {
    const { manager, presenter, clock } = setup();
    const [id] = presenter.present([
      note('1', { createdAt: clock.now(), autoClose: false })
    ]);
    setVisible(false);
    // Timers of hidden pages are throttled: say none ran for five minutes.
    jest.setSystemTime(Date.now() + 5 * MINUTE);
    setVisible(true);
    expect(manager.updates).toEqual([
      { id, message: 'message 1\n5 minutes ago', autoClose: false }
    ]);
    presenter.dispose();
  });

  it("never updates another extension's notification, nor moves it down the center", () => {
    const manager = new NotificationManager();
    const updated: string[] = [];
    const update = manager.update.bind(manager);
    manager.update = args => {
      updated.push(args.id);
      return update(args);
    };
    const { presenter, clock } = setup({ manager });
    const [ours] = presenter.present([
      note('1', { createdAt: clock.now(), autoClose: false })
    ]);
    const theirs = manager.notify('Kernel restarted', 'info', {
      autoClose: false
    });
    const order = () => manager.notifications.map(n => n.id);
    expect(order()).toEqual([theirs, ours]);

    // Refreshing ours would move it above theirs: it waits.
    jest.advanceTimersByTime(2 * MINUTE);
    expect(updated).toEqual([]);
    expect(order()).toEqual([theirs, ours]);
    expect(manager.notifications.map(n => n.message)).toEqual([
      'Kernel restarted',
      'message 1\nnow'
    ]);

    // Theirs is gone (by a program: no click): ours leads and is refreshed.
    manager.dismiss(theirs);
    jest.advanceTimersByTime(30 * SECOND);
    expect(updated).toEqual([ours]);
    expect(manager.notifications.map(n => n.message)).toEqual([
      'message 1\n2 minutes ago'
    ]);
    presenter.dispose();
    manager.dispose();
  });

  it('keeps the order of our own toasts in the center', () => {
    const manager = new NotificationManager();
    const { presenter, clock } = setup({ manager });
    const [first] = presenter.present([
      note('1', { createdAt: clock.now(), autoClose: false })
    ]);
    jest.advanceTimersByTime(20 * SECOND);
    const [second] = presenter.present([
      note('2', { createdAt: clock.now(), autoClose: false })
    ]);
    jest.advanceTimersByTime(50 * SECOND);
    expect(manager.notifications.map(n => [n.id, n.message])).toEqual([
      [second, 'message 2\nnow'],
      [first, 'message 1\n1 minute ago']
    ]);
    presenter.dispose();
    manager.dispose();
  });

  it('forgets what the manager removed, and stops its timer with the last', () => {
    const { manager, presenter, ages, clock } = setup();
    const [one, two] = presenter.present([
      note('1', { createdAt: clock.now(), autoClose: false }),
      note('2', { createdAt: clock.now(), autoClose: false })
    ]);
    expect(ages.size).toBe(2);
    expect(jest.getTimerCount()).toBe(1);

    manager.dismiss(one);
    expect(ages.size).toBe(1);
    jest.advanceTimersByTime(MINUTE);
    expect(manager.updates.map(u => u.id)).toEqual([two]);

    manager.dismiss(two);
    expect(ages.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
    presenter.dispose();
  });

  it('leaves alone a notification someone else rewrote', () => {
    const { manager, presenter, ages, clock } = setup();
    const [id] = presenter.present([
      note('1', { createdAt: clock.now(), autoClose: false })
    ]);
    manager.update({ id, message: 'Rewritten by another extension' });
    expect(ages.size).toBe(0);
    jest.advanceTimersByTime(5 * MINUTE);
    expect(manager.messageOf(id)).toBe('Rewritten by another extension');
    presenter.dispose();
  });

  it('keeps keyed updates in place, aged from the newest', () => {
    const { manager, presenter, clock } = setup();
    const [id] = presenter.present([
      note('1', {
        key: 'job',
        type: 'in-progress',
        message: 'Running',
        autoClose: false,
        createdAt: clock.now() - 5 * MINUTE
      })
    ]);
    expect(manager.messageOf(id)).toBe('Running\n5 minutes ago');
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
        message: 'Finished\nnow'
      })
    ]);
    expect(manager.updates).toHaveLength(1);
    // Its 5 s toast is over long before the age would change.
    jest.advanceTimersByTime(2 * MINUTE);
    expect(manager.updates).toHaveLength(1);
    presenter.dispose();
  });

  it('stops everything when disposed', () => {
    const { manager, presenter, clock } = setup();
    presenter.present([
      note('1', { createdAt: clock.now(), autoClose: false })
    ]);
    expect(jest.getTimerCount()).toBe(1);
    presenter.dispose();
    expect(jest.getTimerCount()).toBe(0);
    expect(presenter.isDisposed).toBe(true);
    jest.setSystemTime(Date.now() + 5 * MINUTE);
    setVisible(true);
    userInput();
    expect(manager.updates).toEqual([]);
  });
});

describe('AgeRefresher.compose', () => {
  it('puts the age on a line of its own', () => {
    expect(AgeRefresher.compose('Build done', 'now')).toBe('Build done\nnow');
  });

  it('cuts a long text so that the age stays within what JupyterLab shows', () => {
    const message = AgeRefresher.compose('x'.repeat(300), '12 minutes ago');
    expect(message).toHaveLength(AgeRefresher.MAX_MESSAGE);
    expect(message.endsWith('x…\n12 minutes ago')).toBe(true);
  });
});
