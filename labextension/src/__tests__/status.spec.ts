import { ConnectionManager, CursorStore } from '../connection';
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
  const item = new ConnectionStatus({
    connection,
    commands: {
      execute: id => {
        executed.push(id);
        return Promise.resolve();
      }
    }
  });
  return { connection, item, executed };
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

  it('opens the notification center on click', () => {
    const { connection, item, executed } = setup();
    item.node.click();
    expect(executed).toEqual(['apputils:display-notifications']);
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
