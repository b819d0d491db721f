import {
  ConnectionManager,
  CursorStore,
  FallbackPoller,
  ReconnectSchedule
} from '../connection';
import { IDeliveredNotification, IStateFrame } from '../model';
import {
  deferred,
  FakePollServer,
  FakeWebSocket,
  MemoryStorage,
  note,
  page,
  serverSettings
} from './fakes';

const BASE_URL = 'http://localhost:8888/user/alice/';

interface IHarness {
  manager: ConnectionManager;
  poll: FakePollServer;
  storage: MemoryStorage;
  received: IDeliveredNotification[][];
  states: ConnectionManager.State[];
}

function makeManager(
  options: {
    storage?: MemoryStorage;
    poll?: FakePollServer;
    random?: () => number;
    token?: string;
    appendToken?: boolean;
  } = {}
): IHarness {
  const storage = options.storage ?? new MemoryStorage();
  const poll = options.poll ?? new FakePollServer();
  const manager = new ConnectionManager({
    settings: serverSettings({
      ...(options.token === undefined ? {} : { token: options.token }),
      ...(options.appendToken === undefined
        ? {}
        : { appendToken: options.appendToken })
    }),
    WebSocket: FakeWebSocket,
    store: new CursorStore({ baseUrl: BASE_URL, storage }),
    fetchPage: poll.fetchPage,
    random: options.random ?? (() => 0.5)
  });
  const received: IDeliveredNotification[][] = [];
  const states: ConnectionManager.State[] = [];
  manager.notificationsReceived.connect((_, batch) => {
    received.push([...batch]);
  });
  manager.stateChanged.connect((_, state) => {
    if (states[states.length - 1] !== state.state) {
      states.push(state.state);
    }
  });
  return { manager, poll, storage, received, states };
}

const ids = (batches: IDeliveredNotification[][]) =>
  batches.map(batch => batch.map(n => n.id.split('/')[1]));

beforeEach(() => {
  jest.useFakeTimers();
  FakeWebSocket.reset();
});

afterEach(() => {
  jest.useRealTimers();
});

describe('ReconnectSchedule.backoffDelay', () => {
  it('doubles from half a second and caps at thirty seconds', () => {
    const top = () => 1;
    const delays = [0, 1, 2, 3, 4, 5, 6, 7, 10, 50].map(attempt =>
      ReconnectSchedule.backoffDelay(attempt, undefined, top)
    );
    expect(delays).toEqual([
      500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000
    ]);
  });

  it('draws each delay between half and all of the base delay', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const base = Math.min(30000, 500 * 2 ** attempt);
      const low = ReconnectSchedule.backoffDelay(attempt, undefined, () => 0);
      const high = ReconnectSchedule.backoffDelay(
        attempt,
        undefined,
        () => 0.999999
      );
      expect(low).toBe(base / 2);
      expect(high).toBeLessThanOrEqual(base);
      expect(high).toBeGreaterThan(base * 0.99);
      for (let i = 0; i < 20; i++) {
        const delay = ReconnectSchedule.backoffDelay(attempt);
        expect(delay).toBeGreaterThanOrEqual(base / 2);
        expect(delay).toBeLessThanOrEqual(base);
      }
    }
  });
});

describe('ConnectionManager', () => {
  it('builds the socket URL from the settings, with the token', () => {
    const { manager } = makeManager();
    manager.start();
    const socket = FakeWebSocket.last;
    expect(
      socket.url.startsWith('ws://localhost:8888/user/alice/jln/api/ws?')
    ).toBe(true);
    expect(socket.query.get('token')).toBe('secret-token');
    expect(socket.query.has('cursor')).toBe(false);
    manager.dispose();
  });

  it('leaves the token out when the settings have none', () => {
    const { manager } = makeManager({ token: '' });
    manager.start();
    expect(FakeWebSocket.last.url).toBe(
      'ws://localhost:8888/user/alice/jln/api/ws'
    );
    manager.dispose();
  });

  it('leaves the token out when the settings say not to append it', () => {
    const { manager } = makeManager({ appendToken: false });
    manager.start();
    expect(FakeWebSocket.last.url).toBe(
      'ws://localhost:8888/user/alice/jln/api/ws'
    );
    manager.dispose();
  });

  it('announces every connection that goes live, with its hello', async () => {
    const storage = new MemoryStorage();
    const first = makeManager({ storage });
    first.manager.start();
    FakeWebSocket.last.hello({ cursor: 'a0', user: 'alice' });
    first.manager.dispose();

    const { manager } = makeManager({ storage });
    const hellos: Array<[string, number]> = [];
    manager.connected.connect((_, hello) => {
      hellos.push([hello.user, hello.unread]);
    });
    manager.start();
    // A hello for another user is not a connection kept: no signal.
    FakeWebSocket.last.hello({ cursor: 'a0', user: 'bob', unread: 1 });
    await jest.advanceTimersByTimeAsync(0);
    expect(hellos).toEqual([]);
    FakeWebSocket.last.hello({ cursor: 'b0', user: 'bob', unread: 2 });
    expect(hellos).toEqual([['bob', 2]]);

    FakeWebSocket.last.serverClose(1001);
    await jest.advanceTimersByTimeAsync(manager.lastDelayMs ?? 0);
    FakeWebSocket.last.hello({ cursor: 'b0', user: 'bob', unread: 5 });
    await jest.advanceTimersByTimeAsync(10000);
    FakeWebSocket.last.serverClose(4008);
    await jest.advanceTimersByTimeAsync(0);
    FakeWebSocket.last.hello({ cursor: 'b0', user: 'bob', unread: 6 });
    expect(hellos).toEqual([
      ['bob', 2],
      ['bob', 5],
      ['bob', 6]
    ]);
    manager.dispose();
  });

  it('waits longer after each failed attempt, up to the cap', async () => {
    const { manager } = makeManager({ random: () => 0.999999 });
    manager.start();
    const waits: number[] = [];
    for (let attempt = 0; attempt < 9; attempt++) {
      const before = FakeWebSocket.instances.length;
      FakeWebSocket.last.serverClose(1006);
      const delay = manager.lastDelayMs ?? -1;
      waits.push(delay);
      await jest.advanceTimersByTimeAsync(delay - 1);
      expect(FakeWebSocket.instances.length).toBe(before);
      await jest.advanceTimersByTimeAsync(1);
      expect(FakeWebSocket.instances.length).toBe(before + 1);
    }
    expect(waits).toEqual([
      500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000
    ]);
    manager.dispose();
  });

  it('resets the backoff once a connection has stayed up', async () => {
    const { manager } = makeManager({ random: () => 0.999999 });
    manager.start();
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(500);
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(1000);
    FakeWebSocket.last.hello();
    await jest.advanceTimersByTimeAsync(10000);
    FakeWebSocket.last.serverClose(1001);
    expect(manager.lastDelayMs).toBe(500);
    manager.dispose();
  });

  it('sends no poll request while live', async () => {
    const { manager, poll, states } = makeManager();
    manager.start();
    FakeWebSocket.last.hello();
    await jest.advanceTimersByTimeAsync(10 * 60 * 1000);
    expect(poll.requests).toEqual([]);
    expect(states).toEqual(['connecting', 'live']);
    manager.dispose();
  });

  it('polls while the socket is down and stops the moment it is live', async () => {
    const { manager, poll, states } = makeManager({ random: () => 0.999999 });
    manager.start();
    FakeWebSocket.last.hello({ cursor: 'c1' });
    FakeWebSocket.last.serverClose(1001, 'server going away');
    // The first retry comes before any poll.
    expect(poll.requests).toEqual([]);
    expect(manager.state.state).toBe('connecting');
    await jest.advanceTimersByTimeAsync(500);
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(0);
    expect(poll.requests).toEqual(['c1']);
    expect(manager.state.state).toBe('polling');
    expect(manager.state.reason).toContain('connection lost');

    // Sockets keep failing: polling goes on every 30 s.
    for (const delay of [1000, 2000, 4000, 8000, 16000]) {
      await jest.advanceTimersByTimeAsync(delay);
      FakeWebSocket.last.serverClose(1006);
    }
    expect(poll.requests.length).toBe(2);

    // The socket is back: polling stops at once and for good.
    await jest.advanceTimersByTimeAsync(30000);
    const polledBefore = poll.requests.length;
    FakeWebSocket.last.hello({ cursor: 'p0' });
    expect(manager.state.state).toBe('live');
    expect(manager.poller.isRunning).toBe(false);
    await jest.advanceTimersByTimeAsync(5 * 60 * 1000);
    expect(poll.requests.length).toBe(polledBefore);
    expect(states).toEqual([
      'connecting',
      'live',
      'connecting',
      'polling',
      'live'
    ]);

    // And it drops again: polling starts again after the failed retry.
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(500);
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(0);
    expect(poll.requests.length).toBe(polledBefore + 1);
    expect(manager.state.state).toBe('polling');
    manager.dispose();
  });

  it('rests the fallback while the page is hidden, as JupyterLab does', async () => {
    const { manager, poll } = makeManager();
    const setHidden = (hidden: boolean) => {
      Object.defineProperty(document, 'visibilityState', {
        configurable: true,
        get: () => (hidden ? 'hidden' : 'visible')
      });
      document.dispatchEvent(new Event('visibilitychange'));
    };
    try {
      manager.start();
      FakeWebSocket.last.serverClose(1006);
      await jest.advanceTimersByTimeAsync(0);
      expect(poll.requests.length).toBe(1);

      setHidden(true);
      await jest.advanceTimersByTimeAsync(10 * 60 * 1000);
      // One tick lingers; then none while hidden (the socket keeps trying).
      expect(poll.requests.length).toBe(2);
      expect(FakeWebSocket.instances.length).toBeGreaterThan(5);

      setHidden(false);
      await jest.advanceTimersByTimeAsync(30000);
      expect(poll.requests.length).toBe(3);
    } finally {
      setHidden(false);
      manager.dispose();
    }
  });

  it('polls at once when the very first connection fails', async () => {
    const { manager, poll } = makeManager();
    manager.start();
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(0);
    expect(poll.requests).toEqual([null]);
    expect(manager.state.state).toBe('polling');
    manager.dispose();
  });

  it('is offline when polling fails too', async () => {
    const { manager, poll } = makeManager();
    poll.fallback = new Error('poll failed: HTTP 502');
    manager.start();
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(0);
    expect(manager.state.state).toBe('offline');
    expect(manager.state.reason).toContain('HTTP 502');
    manager.dispose();
  });

  it('drops a poll answer that arrives after the socket is live', async () => {
    const { manager, poll, received } = makeManager();
    const late = deferred<ReturnType<typeof page>>();
    manager.start();
    FakeWebSocket.last.hello({ cursor: 'c1' });
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(1000);
    poll.answers.push(late.promise);
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(0);
    expect(poll.requests).toEqual(['c1']);

    await jest.advanceTimersByTimeAsync(2000);
    FakeWebSocket.last.hello({ cursor: 'c1' });
    FakeWebSocket.last.notifications([note('5')], 'c5');
    expect(poll.signals[0]?.aborted).toBe(true);

    late.resolve(page([note('3')], 'c3'));
    await jest.advanceTimersByTimeAsync(0);
    expect(manager.store.cursor).toBe('c5');
    expect(ids(received)).toEqual([['5']]);
    manager.dispose();
  });

  it('reconnects with the cursor at once when the server says the client is too slow', async () => {
    const { manager, poll, states } = makeManager();
    manager.start();
    FakeWebSocket.last.hello({ cursor: 'c0' });
    FakeWebSocket.last.notifications([note('1')], 'c1');
    FakeWebSocket.last.serverClose(4008, 'too slow');
    await jest.advanceTimersByTimeAsync(0);
    expect(FakeWebSocket.instances.length).toBe(2);
    expect(FakeWebSocket.last.query.get('cursor')).toBe('c1');
    expect(poll.requests).toEqual([]);
    expect(states).toEqual(['connecting', 'live', 'connecting']);
    manager.dispose();
  });

  it('gives up on a socket that never says hello', async () => {
    const { manager, poll } = makeManager();
    manager.start();
    const silent = FakeWebSocket.last;
    await jest.advanceTimersByTimeAsync(15000);
    expect(silent.closedByClient).not.toBeNull();
    // The fallback's first request goes out within the millisecond.
    await jest.advanceTimersByTimeAsync(1);
    expect(poll.requests).toEqual([null]);
    await jest.advanceTimersByTimeAsync(499);
    expect(FakeWebSocket.instances.length).toBe(2);
    manager.dispose();
  });

  it('resumes from the saved cursor after a reload', () => {
    const storage = new MemoryStorage();
    const first = makeManager({ storage });
    first.manager.start();
    FakeWebSocket.last.hello({ cursor: 'c0' });
    FakeWebSocket.last.notifications([note('1'), note('2')], 'c2');
    first.manager.dispose();

    const second = makeManager({ storage });
    second.manager.start();
    expect(FakeWebSocket.last.query.get('cursor')).toBe('c2');
    expect(FakeWebSocket.last.query.get('token')).toBe('secret-token');
    second.manager.dispose();
  });

  it('takes the cursor of the hello when it has none', () => {
    const { manager } = makeManager();
    manager.start();
    FakeWebSocket.last.hello({ cursor: 'start' });
    expect(manager.store.cursor).toBe('start');
    manager.dispose();
  });

  it('shows each notification once across poll and replay overlap', async () => {
    const storage = new MemoryStorage();
    const { manager, poll, received } = makeManager({ storage });
    manager.start();
    FakeWebSocket.last.hello({ cursor: 'c0' });
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(1000);
    poll.answers.push(page([note('1'), note('2')], 'c2'));
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(0);
    expect(ids(received)).toEqual([['1', '2']]);

    await jest.advanceTimersByTimeAsync(2000);
    const socket = FakeWebSocket.last;
    expect(socket.query.get('cursor')).toBe('c2');
    socket.hello({ cursor: 'c2' });
    socket.notifications([note('2'), note('3'), note('3')], 'c3');
    expect(ids(received)).toEqual([['1', '2'], ['3']]);
    manager.dispose();

    // After a reload, a replay of what was already shown shows nothing.
    const again = makeManager({ storage });
    again.manager.start();
    FakeWebSocket.last.hello({ cursor: 'c3' });
    FakeWebSocket.last.notifications([note('2'), note('3'), note('4')], 'c4');
    expect(ids(again.received)).toEqual([['4']]);
    again.manager.dispose();
  });

  it('saves the state once per batch received', () => {
    const storage = new MemoryStorage();
    let writes = 0;
    const setItem = storage.setItem.bind(storage);
    storage.setItem = (key, value) => {
      writes++;
      setItem(key, value);
    };
    const { manager } = makeManager({ storage });
    manager.start();
    FakeWebSocket.last.hello({ cursor: 'c0' });
    writes = 0;
    FakeWebSocket.last.notifications([note('1')], 'c1');
    FakeWebSocket.last.notifications([note('2'), note('3')], 'c3');
    expect(writes).toBe(2);
    expect(manager.store.cursor).toBe('c3');
    manager.dispose();
  });

  it('starts from now when it polls without a cursor', async () => {
    const { manager, poll, received } = makeManager();
    poll.answers.push(page([note('old1'), note('old2')], 'p2'));
    poll.answers.push(page([note('new')], 'p3'));
    manager.start();
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(0);
    expect(received).toEqual([]);
    expect(manager.store.cursor).toBe('p2');
    await jest.advanceTimersByTimeAsync(30000);
    expect(poll.requests).toEqual([null, 'p2']);
    expect(ids(received)).toEqual([['new']]);
    manager.dispose();
  });

  it('fetches the next page at once when the server has more', async () => {
    const { manager, poll } = makeManager();
    poll.answers.push(page([note('1')], 'c1', true));
    poll.answers.push(page([note('2')], 'c2', false));
    manager.start();
    FakeWebSocket.last.hello({ cursor: 'c0' });
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(1000);
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(0);
    expect(poll.requests).toEqual(['c0', 'c1']);
    manager.dispose();
  });

  it('forgets a cursor the server refuses', async () => {
    const { manager, poll } = makeManager();
    manager.store.setCursor('from-another-server');
    poll.answers.push(new FallbackPoller.CursorRejectedError('cursor refused'));
    manager.start();
    expect(FakeWebSocket.last.query.get('cursor')).toBe('from-another-server');
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(0);
    expect(manager.store.cursor).toBeNull();
    await jest.advanceTimersByTimeAsync(1000);
    expect(FakeWebSocket.last.query.has('cursor')).toBe(false);
    manager.dispose();
  });

  it("restarts from the user's own cursor when another user is signed in", async () => {
    const storage = new MemoryStorage();
    const first = makeManager({ storage });
    first.manager.start();
    FakeWebSocket.last.hello({ cursor: 'a0', user: 'alice' });
    FakeWebSocket.last.notifications([note('1')], 'a1');
    first.manager.dispose();

    const second = makeManager({ storage });
    second.manager.start();
    expect(FakeWebSocket.last.query.get('cursor')).toBe('a1');
    FakeWebSocket.last.hello({ cursor: 'a1', user: 'bob' });
    await jest.advanceTimersByTimeAsync(0);
    expect(FakeWebSocket.instances.length).toBe(3);
    expect(FakeWebSocket.last.query.has('cursor')).toBe(false);
    FakeWebSocket.last.hello({ cursor: 'b0', user: 'bob' });
    expect(second.manager.user).toBe('bob');
    expect(second.manager.store.cursor).toBe('b0');
    expect(second.manager.state.state).toBe('live');
    second.manager.dispose();
  });

  it('stays on a socket whose hello names the same user, though a poll moved the cursor meanwhile', async () => {
    const { manager, poll } = makeManager();
    manager.start();
    FakeWebSocket.last.hello({ cursor: 'c0' });
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(500);
    const late = deferred<ReturnType<typeof page>>();
    poll.answers.push(late.promise);
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(1000);
    const socket = FakeWebSocket.last;
    expect(socket.query.get('cursor')).toBe('c0');

    // The poll answers while the new socket waits for its hello.
    late.resolve(page([note('1')], 'c1'));
    await jest.advanceTimersByTimeAsync(0);
    socket.hello({ cursor: 'c0' });
    await jest.advanceTimersByTimeAsync(0);
    expect(FakeWebSocket.last).toBe(socket);
    expect(socket.closedByClient).toBeNull();
    expect(manager.state.state).toBe('live');
    manager.dispose();
  });

  it('hands state frames to inboxStateChanged, not to the notifications', () => {
    const { manager, received, states } = makeManager();
    const changes: IStateFrame[] = [];
    manager.inboxStateChanged.connect((_, frame) => {
      changes.push(frame);
    });
    manager.start();
    const socket = FakeWebSocket.last;
    socket.hello({ cursor: 'c0', unread: 2 });
    socket.send({
      type: 'state',
      ids: ['jln:user:alice/1-0'],
      read: true,
      unread: 1
    });
    socket.send({
      type: 'state',
      all: true,
      ids: ['jln:broadcast/2-0'],
      dismissed: true,
      unread: 0
    });
    expect(changes).toEqual([
      { type: 'state', ids: ['jln:user:alice/1-0'], read: true, unread: 1 },
      {
        type: 'state',
        all: true,
        ids: ['jln:broadcast/2-0'],
        dismissed: true,
        unread: 0
      }
    ]);
    expect(received).toEqual([]);
    expect(manager.store.cursor).toBe('c0');
    expect(states).toEqual(['connecting', 'live']);
    manager.dispose();
  });

  it('is live without the broker while the server cannot read it, and live again once it can', () => {
    const { manager, received, states } = makeManager();
    manager.start();
    const socket = FakeWebSocket.last;
    socket.hello({
      cursor: null,
      broker: { reachable: false, reason: 'Error 111 connecting to redis' }
    });
    expect(manager.state.state).toBe('offline-broker');
    expect(manager.state.reason).toContain('Error 111 connecting to redis');
    expect(manager.store.cursor).toBeNull();
    expect(manager.poller.isRunning).toBe(false); // the socket is up: no polling

    socket.send({ type: 'broker', reachable: true, reason: null });
    socket.notifications([], 'first');
    socket.notifications([note('1')], 'c1');
    expect(manager.store.cursor).toBe('c1');
    expect(ids(received)).toEqual([['1']]);
    socket.send({ type: 'broker', reachable: false, reason: 'gone again' });
    expect(states).toEqual([
      'connecting',
      'offline-broker',
      'live',
      'offline-broker'
    ]);
    manager.dispose();
  });

  it('tells of gaps in a replay and in a poll answer, and takes what follows', async () => {
    const storage = new MemoryStorage();
    const poll = new FakePollServer();
    const { manager, received } = makeManager({ storage, poll });
    const gaps: object[] = [];
    manager.gapped.connect((_, streams) => {
      gaps.push(streams);
    });
    manager.start();
    const socket = FakeWebSocket.last;
    socket.hello({ cursor: 'c0' });
    const lost = { 'jln:broadcast': { after: '1-0', resumedAt: '5-0' } };
    socket.send({ type: 'gap', streams: lost });
    socket.notifications([note('5-0')], 'c5');
    expect(gaps).toEqual([lost]);
    expect(ids(received)).toEqual([['5-0']]);

    poll.answers.push(page([note('9-0')], 'p9', false, lost));
    socket.serverClose(1006);
    await jest.advanceTimersByTimeAsync(1000);
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(1000);
    expect(gaps).toEqual([lost, lost]);
    expect(ids(received)).toEqual([['5-0'], ['9-0']]);
    manager.dispose();
  });

  it('stays live through unknown and malformed frames', () => {
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const { manager, received } = makeManager();
    const changes: IStateFrame[] = [];
    manager.inboxStateChanged.connect((_, frame) => {
      changes.push(frame);
    });
    manager.start();
    const socket = FakeWebSocket.last;
    socket.hello({ cursor: 'c0' });
    socket.send({ type: 'typing', user: 'bob' });
    socket.send({ type: 'state', ids: ['jln:broadcast/1-0'], read: true });
    socket.notifications([note('1')], 'c1');
    expect(changes).toEqual([]);
    expect(ids(received)).toEqual([['1']]);
    expect(manager.state.state).toBe('live');
    expect(socket.closedByClient).toBeNull();
    jest.restoreAllMocks();
    manager.dispose();
  });

  it('starts from now on the inbox page the server answers a poll without a cursor with', async () => {
    const urls: string[] = [];
    const bodies: object[] = [
      {
        notifications: [
          note('2', { read: true, readAt: 5 }),
          note('1', { saved: true })
        ],
        next: 'older',
        totalCount: 40,
        unreadCount: 3,
        cursor: 'live0',
        serverTime: Date.now(),
        pollInterval: 30
      },
      {
        notifications: [note('3')],
        cursor: 'live1',
        more: false,
        serverTime: Date.now(),
        pollInterval: 30
      }
    ];
    const fetch = (input: RequestInfo) => {
      urls.push(new Request(input).url);
      const body = bodies.shift();
      return Promise.resolve(new Response(JSON.stringify(body)));
    };
    const manager = new ConnectionManager({
      settings: serverSettings(),
      WebSocket: FakeWebSocket,
      store: new CursorStore({ baseUrl: BASE_URL, storage: null }),
      fetchPage: FallbackPoller.makeFetchPage(serverSettings({ fetch })),
      random: () => 0.5
    });
    const received: IDeliveredNotification[][] = [];
    manager.notificationsReceived.connect((_, batch) => {
      received.push([...batch]);
    });
    manager.start();
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(0);
    expect(new URL(urls[0]).searchParams.has('since')).toBe(false);
    expect(manager.state.state).toBe('polling');
    expect(received).toEqual([]);
    expect(manager.store.cursor).toBe('live0');
    await jest.advanceTimersByTimeAsync(30000);
    expect(new URL(urls[1]).searchParams.get('since')).toBe('live0');
    expect(ids(received)).toEqual([['3']]);
    manager.dispose();
  });

  it('keeps the server clock offset from the frames', () => {
    const { manager } = makeManager();
    manager.start();
    FakeWebSocket.last.hello({ serverTime: Date.now() + 120000 });
    expect(manager.clock.offset).toBe(120000);
    manager.dispose();
  });

  it('closes the socket and stops everything when disposed', async () => {
    const { manager, poll } = makeManager();
    manager.start();
    const socket = FakeWebSocket.last;
    socket.serverClose(1006);
    await jest.advanceTimersByTimeAsync(500);
    FakeWebSocket.last.hello();
    manager.dispose();
    expect(FakeWebSocket.last.closedByClient?.code).toBe(1000);
    await jest.advanceTimersByTimeAsync(10 * 60 * 1000);
    expect(FakeWebSocket.instances.length).toBe(2);
    expect(poll.requests.length).toBe(1);
  });
});
