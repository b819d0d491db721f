import { TabElection } from '../tabs';

/**
 * A browser's tabs talking over one in-memory channel; a message is copied
 * as structured clone would, and never echoed to its sender.
 */
class Bus {
  readonly sent: unknown[] = [];

  open: TabElection.ChannelFactory = (name, onMessage) => {
    const member = { name, onMessage };
    this._members.add(member);
    return {
      post: message => {
        if (!this._members.has(member)) {
          return;
        }
        this.sent.push(message);
        for (const other of [...this._members]) {
          if (other !== member && other.name === name) {
            other.onMessage(JSON.parse(JSON.stringify(message)));
          }
        }
      },
      close: () => this._members.delete(member)
    };
  };

  /**
   * The tab opened last stops talking and hearing, as a crashed tab does.
   */
  cutLast(): void {
    const members = [...this._members];
    this._members.delete(members[members.length - 1]);
  }

  private _members = new Set<{
    name: string;
    onMessage: (data: unknown) => void;
  }>();
}

/**
 * A page whose focus and visibility a test sets, firing the browser's events.
 */
class FakePage extends EventTarget implements TabElection.IPage {
  focused = false;
  visibilityState: DocumentVisibilityState = 'hidden';

  hasFocus(): boolean {
    return this.focused;
  }

  /**
   * The person looks at this tab, in a focused window.
   */
  focus(): void {
    this.set(true, 'visible');
  }

  /**
   * Change focus and visibility, firing what a browser fires.
   */
  set(focused: boolean, visibility: DocumentVisibilityState): void {
    const wasFocused = this.focused;
    const wasVisible = this.visibilityState;
    this.focused = focused;
    this.visibilityState = visibility;
    if (wasVisible !== visibility) {
      this.dispatchEvent(new Event('visibilitychange'));
    }
    if (wasFocused !== focused) {
      this.dispatchEvent(new Event(focused ? 'focus' : 'blur'));
    }
  }

  /**
   * Count the listeners added and not removed.
   */
  get listenerCount(): number {
    return this._listeners;
  }

  addEventListener(type: string, listener: (event: Event) => void): void {
    this._listeners++;
    super.addEventListener(type, listener);
  }

  removeEventListener(type: string, listener: (event: Event) => void): void {
    this._listeners--;
    super.removeEventListener(type, listener);
  }

  private _listeners = 0;
}

let time = 1000;
let bus: Bus;
const elections: TabElection[] = [];

function advance(ms: number): void {
  time += ms;
  jest.advanceTimersByTime(ms);
}

/**
 * Open a tab of the JupyterLab, in the background unless told.
 */
function openTab(
  id: string,
  channelName = 'jln-tabs:/user/alice/:alice'
): { election: TabElection; page: FakePage } {
  const page = new FakePage();
  const election = new TabElection({
    channelName,
    id,
    page,
    openChannel: bus.open,
    now: () => time,
    heartbeatMs: 1000,
    timeoutMs: 3500
  });
  elections.push(election);
  return { election, page };
}

function toasting(): string[] {
  return elections.filter(e => !e.isDisposed && e.shouldToast()).map(e => e.id);
}

function notifyingDesktop(): string[] {
  return elections
    .filter(e => !e.isDisposed && e.shouldNotifyDesktop())
    .map(e => e.id);
}

beforeEach(() => {
  jest.useFakeTimers();
  time = 1000;
  bus = new Bus();
});

afterEach(() => {
  elections.splice(0).forEach(e => e.dispose());
  jest.useRealTimers();
});

describe('TabElection', () => {
  it('lets a lone tab toast, and notify the desktop while hidden', () => {
    const { page } = openTab('a');
    expect(toasting()).toEqual(['a']);
    expect(notifyingDesktop()).toEqual(['a']);
    page.focus();
    expect(toasting()).toEqual(['a']);
    expect(notifyingDesktop()).toEqual([]);
  });

  it('lets only the focused tab toast, whichever of three it is', () => {
    const tabs = ['a', 'b', 'c'].map(id => openTab(id));
    for (const looked of [1, 0, 2, 1]) {
      advance(100);
      tabs.forEach(({ page }, i) => {
        if (i !== looked) {
          page.set(false, 'hidden');
        }
      });
      tabs[looked].page.focus();
      expect(toasting()).toEqual([tabs[looked].election.id]);
      expect(notifyingDesktop()).toEqual([]);
    }
  });

  it('with no tab focused, lets the visible tab focused last toast', () => {
    const a = openTab('a');
    const b = openTab('b');
    const c = openTab('c');
    b.page.focus();
    advance(100);
    a.page.focus();
    b.page.set(false, 'visible');
    advance(100);
    c.page.focus();
    a.page.set(false, 'hidden');
    // Two windows side by side, the person in another application:
    // b and c are visible, c was focused last.
    c.page.set(false, 'visible');
    expect(toasting()).toEqual(['c']);
    c.page.set(false, 'hidden');
    expect(toasting()).toEqual(['b']);
    expect(notifyingDesktop()).toEqual([]);
  });

  it('with every tab hidden, lets the tab focused last toast and notify the desktop', () => {
    const a = openTab('a');
    const b = openTab('b');
    openTab('c');
    a.page.focus();
    advance(100);
    b.page.focus();
    a.page.set(false, 'hidden');
    advance(100);
    b.page.set(false, 'hidden');
    expect(toasting()).toEqual(['b']);
    expect(notifyingDesktop()).toEqual(['b']);
  });

  it('breaks a tie by id when no tab was ever focused', () => {
    openTab('b');
    openTab('c');
    openTab('a');
    expect(toasting()).toEqual(['a']);
    expect(notifyingDesktop()).toEqual(['a']);
  });

  it('tells a tab opened later who is focused, at once', () => {
    const a = openTab('a');
    a.page.focus();
    const b = openTab('b');
    expect(b.election.shouldToast()).toBe(false);
    expect(toasting()).toEqual(['a']);
  });

  it('hands over at once when the focused tab is closed', () => {
    const a = openTab('a');
    const b = openTab('b');
    b.page.focus();
    advance(100);
    a.page.focus();
    b.page.set(false, 'hidden');
    expect(b.election.shouldToast()).toBe(false);
    a.page.dispatchEvent(new Event('pagehide'));
    expect(b.election.shouldToast()).toBe(true);
    expect(b.election.shouldNotifyDesktop()).toBe(true);
  });

  it('takes back a tab restored from the back-forward cache at its next beat', () => {
    const a = openTab('a');
    const b = openTab('b');
    a.page.focus();
    a.page.dispatchEvent(new Event('pagehide'));
    expect(b.election.shouldToast()).toBe(true);
    advance(1000);
    expect(b.election.shouldToast()).toBe(false);
  });

  it('drops a crashed tab once it has been silent past the timeout', () => {
    const b = openTab('b');
    const a = openTab('a');
    a.page.focus();
    bus.cutLast();
    advance(3000);
    expect(b.election.shouldToast()).toBe(false);
    advance(1000);
    expect(b.election.shouldToast()).toBe(true);
  });

  it('keeps a tab that beats, however long it lives', () => {
    const a = openTab('a');
    const b = openTab('b');
    a.page.focus();
    advance(60_000);
    expect(b.election.shouldToast()).toBe(false);
    expect(a.election.shouldToast()).toBe(true);
  });

  it('reads the page again at each beat, for focus changes without an event', () => {
    const a = openTab('a');
    openTab('b');
    a.page.focus();
    a.page.focused = false;
    advance(1000);
    expect(bus.sent).toContainEqual({
      kind: 'state',
      tab: { id: 'a', focused: false, visible: true, focusedAt: 1000 }
    });
  });

  it('ignores the tabs of another JupyterLab or user', () => {
    const a = openTab('a', 'jln-tabs:/user/alice/:alice');
    const b = openTab('b', 'jln-tabs:/user/bob/:bob');
    a.page.focus();
    b.page.set(false, 'hidden');
    expect(toasting()).toEqual(['a', 'b']);
  });

  it('ignores malformed messages', () => {
    let deliver: (data: unknown) => void = () => undefined;
    const election = new TabElection({
      channelName: 'x',
      id: 'z',
      page: new FakePage(),
      openChannel: (_name, onMessage) => {
        deliver = onMessage;
        return { post: () => undefined, close: () => undefined };
      }
    });
    elections.push(election);
    deliver('hello');
    deliver({ kind: 'state', tab: { id: 'a', focused: 'yes' } });
    deliver({ kind: 'state', tab: { id: 'a', focused: true } });
    deliver({ kind: 'hide', tab: { id: 'a' } });
    expect(election.shouldToast()).toBe(true);
  });

  it('leaves cleanly: announces it, stops its timer and listeners', () => {
    const { election, page } = openTab('a');
    expect(page.listenerCount).toBe(4);
    expect(jest.getTimerCount()).toBe(1);
    election.dispose();
    expect(page.listenerCount).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
    expect(bus.sent[bus.sent.length - 1]).toEqual({ kind: 'leave', id: 'a' });
    election.dispose();
    expect(bus.sent).toHaveLength(2);
  });
});

describe('TabElection in the browser', () => {
  it('without BroadcastChannel, talks through localStorage', () => {
    const written: string[] = [];
    const setItem = jest
      .spyOn(Storage.prototype, 'setItem')
      .mockImplementation(key => void written.push(key));
    const election = new TabElection({ channelName: 'jln-tabs:/lab/:alice' });
    expect(election.shouldToast()).toBe(true);
    election.dispose();
    setItem.mockRestore();
    expect(written).toEqual(['jln-tabs:/lab/:alice', 'jln-tabs:/lab/:alice']);
    expect(window.localStorage.getItem('jln-tabs:/lab/:alice')).toBeNull();
  });
});

describe('TabElection.storageChannel', () => {
  /**
   * Two windows sharing a storage: a write fires `storage` in the other one.
   */
  function twoWindows() {
    const windows = [new EventTarget(), new EventTarget()];
    const storageOf = (self: EventTarget) => ({
      setItem: (key: string, newValue: string) =>
        windows
          .filter(w => w !== self)
          .forEach(w =>
            w.dispatchEvent(new StorageEvent('storage', { key, newValue }))
          ),
      removeItem: (key: string) =>
        windows
          .filter(w => w !== self)
          .forEach(w =>
            w.dispatchEvent(
              new StorageEvent('storage', { key, newValue: null })
            )
          )
    });
    return { windows, storageOf };
  }

  it('carries messages to the other windows on the same key only', () => {
    const { windows, storageOf } = twoWindows();
    const heard: unknown[] = [];
    const mine = TabElection.storageChannel(
      'k',
      () => heard.push('self'),
      storageOf(windows[0]),
      windows[0]
    );
    const theirs = TabElection.storageChannel(
      'k',
      data => heard.push(data),
      storageOf(windows[1]),
      windows[1]
    );
    const other = TabElection.storageChannel(
      'other',
      () => heard.push('other'),
      storageOf(windows[1]),
      windows[1]
    );
    mine.post({ kind: 'leave', id: 'a' });
    expect(heard).toEqual([{ kind: 'leave', id: 'a' }]);
    theirs.close();
    other.close();
    mine.post({ kind: 'leave', id: 'b' });
    expect(heard).toHaveLength(1);
    mine.close();
  });
});
