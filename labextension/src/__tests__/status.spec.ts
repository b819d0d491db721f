import { ConnectionManager, CursorStore } from '../connection';
import { UnreadCount } from '../inbox/unread';
import { ConnectionStatus } from '../status';
import {
  FakePollServer,
  FakeWebSocket,
  MemoryStorage,
  serverSettings
} from './fakes';

function setup() {
  const poll = new FakePollServer();
  const connection = new ConnectionManager({
    settings: serverSettings(),
    WebSocket: FakeWebSocket,
    store: new CursorStore({ baseUrl: 'x', storage: new MemoryStorage() }),
    fetchPage: poll.fetchPage
  });
  const executed: string[] = [];
  const unread = new UnreadCount({
    fetch: async () => ({ unread: 0, total: 0 })
  });
  const item = new ConnectionStatus({
    connection,
    openCommand: 'jln:open-inbox',
    unread,
    commands: {
      execute: id => {
        executed.push(id);
        return Promise.resolve();
      }
    }
  });
  return { connection, item, executed, unread };
}

beforeEach(() => {
  jest.useFakeTimers();
  FakeWebSocket.reset();
});

afterEach(() => {
  jest.useRealTimers();
});

describe('ConnectionStatus', () => {
  it('follows the connection state, with since and why in the tooltip', async () => {
    const { connection, item } = setup();
    connection.start();
    expect(item.node.textContent).toBe('Notifications: connecting');
    FakeWebSocket.last.hello({ user: 'alice' });
    expect(item.node.dataset.jlnState).toBe('live');
    expect(item.node.textContent).toBe('Notifications: live');
    expect(item.node.title).toMatch(
      /^Notifications: live since .+: connected as alice$/
    );

    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(500);
    FakeWebSocket.last.serverClose(1006);
    await jest.advanceTimersByTimeAsync(0);
    expect(item.node.textContent).toBe('Notifications: polling');
    expect(item.node.title).toContain('connection lost (1006)');
    item.dispose();
    connection.dispose();
  });

  it('says the broker is offline, and why, while the server cannot read it', () => {
    const { connection, item } = setup();
    connection.start();
    FakeWebSocket.last.hello({
      user: 'alice',
      cursor: null,
      broker: {
        reachable: false,
        reason: 'Error 111 connecting to 127.0.0.1:6380'
      }
    });
    expect(item.node.dataset.jlnState).toBe('offline-broker');
    expect(item.node.textContent).toBe('Notifications: broker offline');
    expect(item.node.title).toContain(
      'the server cannot reach the notification broker: Error 111 connecting to 127.0.0.1:6380'
    );
    FakeWebSocket.last.send({ type: 'broker', reachable: true, reason: null });
    expect(item.node.textContent).toBe('Notifications: live');
    item.dispose();
    connection.dispose();
  });

  it('opens the inbox on click and on Enter', () => {
    const { connection, item, executed } = setup();
    item.node.click();
    item.node.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter' }));
    expect(executed).toEqual(['jln:open-inbox', 'jln:open-inbox']);
    item.dispose();
    connection.dispose();
  });

  it('shows the unread count beside the state, hidden at 0', () => {
    const { connection, item, unread } = setup();
    const count = item.node.querySelector('.jln-StatusItem-unread');
    expect(count).not.toBeNull();
    expect((count as HTMLElement).hidden).toBe(true);
    unread.set(3);
    expect(count?.textContent).toBe('3');
    expect((count as HTMLElement).hidden).toBe(false);
    expect(item.node.getAttribute('aria-label')).toBe(
      'Notifications: connecting, 3 unread notifications'
    );
    unread.set(0);
    expect((count as HTMLElement).hidden).toBe(true);
    item.dispose();
    connection.dispose();
  });

  it('stops following the connection when disposed', () => {
    const { connection, item } = setup();
    item.dispose();
    connection.start();
    FakeWebSocket.last.hello();
    expect(item.node.textContent).toBe('Notifications: connecting');
    connection.dispose();
  });
});
