import { DesktopNotifier } from '../desktop';
import { note } from './fakes';

/**
 * The browser's Notification constructor, played by the test.
 */
class FakeNotification implements DesktopNotifier.IRaised {
  static permission: NotificationPermission = 'granted';
  static answer: NotificationPermission = 'granted';
  static asked = 0;
  static raised: FakeNotification[] = [];

  static reset(): void {
    FakeNotification.permission = 'granted';
    FakeNotification.answer = 'granted';
    FakeNotification.asked = 0;
    FakeNotification.raised = [];
  }

  static requestPermission(): Promise<NotificationPermission> {
    FakeNotification.asked++;
    FakeNotification.permission = FakeNotification.answer;
    return Promise.resolve(FakeNotification.answer);
  }

  constructor(
    readonly title: string,
    readonly options: NotificationOptions
  ) {
    FakeNotification.raised.push(this);
  }

  onclick: ((event: Event) => void) | null = null;
  closed = false;

  close(): void {
    this.closed = true;
  }

  /**
   * The person clicks the notification.
   */
  click(): void {
    this.onclick?.(new Event('click'));
  }
}

function notifier(enabled = true) {
  const events: string[] = [];
  const desktop = new DesktopNotifier({
    enabled,
    api: FakeNotification,
    focusWindow: () => events.push('focus')
  });
  return { desktop, events };
}

beforeEach(() => {
  FakeNotification.reset();
});

describe('DesktopNotifier', () => {
  it('raises an OS notification: title, message, the id as tag', () => {
    const { desktop } = notifier();
    const shown = desktop.show(
      note('1-0', { title: 'Build done', origin: 'CI', message: 'main: ok' }),
      () => undefined
    );
    expect(shown).toBe(true);
    expect(FakeNotification.raised).toHaveLength(1);
    const [raised] = FakeNotification.raised;
    expect(raised.title).toBe('Build done');
    expect(raised.options).toEqual({
      body: 'main: ok',
      tag: 'jln:broadcast/1-0'
    });
  });

  it('titles it with the origin, else JupyterLab', () => {
    const { desktop } = notifier();
    desktop.show(note('1', { origin: 'CI' }), () => undefined);
    desktop.show(note('2', { title: '', origin: 'CI' }), () => undefined);
    desktop.show(note('3'), () => undefined);
    expect(FakeNotification.raised.map(n => n.title)).toEqual([
      'CI',
      'CI',
      'JupyterLab'
    ]);
  });

  it('on a click, focuses the window, opens the item, closes the notification', () => {
    const { desktop, events } = notifier();
    desktop.show(note('1'), () => events.push('open'));
    const [raised] = FakeNotification.raised;
    expect(events).toEqual([]);
    raised.click();
    expect(events).toEqual(['focus', 'open']);
    expect(raised.closed).toBe(true);
  });

  it('raises nothing while disabled, and again once enabled', () => {
    const { desktop } = notifier(false);
    expect(desktop.show(note('1'), () => undefined)).toBe(false);
    desktop.enabled = true;
    expect(desktop.show(note('2'), () => undefined)).toBe(true);
    desktop.enabled = false;
    expect(desktop.show(note('3'), () => undefined)).toBe(false);
    expect(FakeNotification.raised).toHaveLength(1);
  });

  it('raises nothing without the permission', () => {
    const { desktop } = notifier();
    for (const permission of ['default', 'denied'] as const) {
      FakeNotification.permission = permission;
      expect(desktop.permission).toBe(permission);
      expect(desktop.show(note('1'), () => undefined)).toBe(false);
    }
    expect(FakeNotification.raised).toHaveLength(0);
  });

  it('raises nothing without the API, and says so', async () => {
    const desktop = new DesktopNotifier({ enabled: true, api: null });
    expect(desktop.permission).toBe('unsupported');
    expect(desktop.show(note('1'), () => undefined)).toBe(false);
    await expect(desktop.requestPermission()).resolves.toBe('unsupported');
  });

  it('raises nothing when the browser refuses the constructor', () => {
    class Refusing extends FakeNotification {
      constructor(title: string, options: NotificationOptions) {
        super(title, options);
        throw new TypeError('Illegal constructor');
      }
    }
    const desktop = new DesktopNotifier({ enabled: true, api: Refusing });
    expect(desktop.show(note('1'), () => undefined)).toBe(false);
  });

  it('never asks for the permission by itself', () => {
    FakeNotification.permission = 'default';
    const { desktop } = notifier();
    desktop.show(note('1'), () => undefined);
    expect(FakeNotification.asked).toBe(0);
  });

  it('asks when told, and raises once granted', async () => {
    FakeNotification.permission = 'default';
    const { desktop } = notifier();
    await expect(desktop.requestPermission()).resolves.toBe('granted');
    expect(FakeNotification.asked).toBe(1);
    expect(desktop.permission).toBe('granted');
    expect(desktop.show(note('1'), () => undefined)).toBe(true);
  });

  it('answers the current permission when the request fails', async () => {
    FakeNotification.permission = 'denied';
    class Failing extends FakeNotification {
      static requestPermission(): Promise<NotificationPermission> {
        return Promise.reject(new Error('not allowed'));
      }
    }
    const desktop = new DesktopNotifier({ enabled: true, api: Failing });
    await expect(desktop.requestPermission()).resolves.toBe('denied');
  });
});
