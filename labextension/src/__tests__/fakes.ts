import { ServerConnection } from '@jupyterlab/services';

import { ConnectionManager } from '../connection';
import { CursorStore } from '../cursorstore';
import { IDeliveredNotification, IPollResponse } from '../model';
import { FallbackPoller } from '../poller';

/**
 * A WebSocket stand-in: records the URL, lets a test play the server.
 */
export class FakeWebSocket implements ConnectionManager.IWebSocket {
  /**
   * Every socket constructed, oldest first.
   */
  static instances: FakeWebSocket[] = [];

  /**
   * Forget the sockets of the previous test.
   */
  static reset(): void {
    FakeWebSocket.instances = [];
  }

  /**
   * The socket constructed last.
   */
  static get last(): FakeWebSocket {
    const socket = FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
    if (!socket) {
      throw new Error('no socket was opened');
    }
    return socket;
  }

  constructor(readonly url: string) {
    FakeWebSocket.instances.push(this);
  }

  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  closedByClient: { code?: number; reason?: string } | null = null;

  /**
   * The query parameters of the URL.
   */
  get query(): URLSearchParams {
    return new URL(this.url).searchParams;
  }

  close(code?: number, reason?: string): void {
    this.closedByClient = { code, reason };
  }

  /**
   * The server sends a JSON frame.
   */
  send(frame: object): void {
    this.onmessage?.(
      new MessageEvent('message', { data: JSON.stringify(frame) })
    );
  }

  /**
   * The server says hello.
   */
  hello(
    overrides: Partial<{
      cursor: string;
      serverTime: number;
      pollInterval: number;
      user: string;
    }> = {}
  ): void {
    this.send({
      type: 'hello',
      cursor: 'c0',
      serverTime: Date.now(),
      pollInterval: 30,
      user: 'alice',
      ...overrides
    });
  }

  /**
   * The server sends a batch of notifications.
   */
  notifications(
    notifications: IDeliveredNotification[],
    cursor: string,
    serverTime = Date.now()
  ): void {
    this.send({ type: 'notifications', notifications, cursor, serverTime });
  }

  /**
   * The connection ends from the server side (or the network).
   */
  serverClose(code: number, reason = ''): void {
    this.onclose?.(new CloseEvent('close', { code, reason }));
  }
}

/**
 * An in-memory `localStorage`.
 */
export class MemoryStorage implements CursorStore.IStorage {
  readonly items = new Map<string, string>();

  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }

  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
}

/**
 * A poll endpoint stand-in: answers from a queue, records the cursors asked.
 */
export class FakePollServer {
  /**
   * The `since` of every request, in order.
   */
  readonly requests: Array<string | null> = [];

  /**
   * The signal of every request, in order.
   */
  readonly signals: Array<AbortSignal | undefined> = [];

  /**
   * What the next requests get; when empty, `fallback` answers.
   */
  readonly answers: Array<IPollResponse | Error | Promise<IPollResponse>> = [];

  /**
   * The answer when the queue is empty.
   */
  fallback: IPollResponse | Error = page([], 'p0');

  readonly fetchPage: FallbackPoller.FetchPage = (cursor, signal) => {
    this.requests.push(cursor);
    this.signals.push(signal);
    const answer = this.answers.shift() ?? this.fallback;
    if (answer instanceof Error) {
      return Promise.reject(answer);
    }
    return Promise.resolve(answer);
  };
}

/**
 * A poll answer.
 */
export function page(
  notifications: IDeliveredNotification[],
  cursor: string,
  more = false
): IPollResponse {
  return {
    notifications,
    cursor,
    serverTime: Date.now(),
    pollInterval: 30,
    more
  };
}

/**
 * A delivered notification with sensible defaults.
 */
export function note(
  id: string,
  overrides: Partial<IDeliveredNotification> = {}
): IDeliveredNotification {
  return {
    id: `jln:broadcast/${id}`,
    stream: 'jln:broadcast',
    createdAt: Date.now(),
    message: `message ${id}`,
    type: 'info',
    autoClose: 5000,
    ...overrides
  };
}

/**
 * Server settings for a server at localhost:8888 with a token.
 */
export function serverSettings(
  overrides: Partial<ServerConnection.ISettings> = {}
): ServerConnection.ISettings {
  return ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/user/alice/',
    wsUrl: 'ws://localhost:8888/user/alice/',
    token: 'secret-token',
    ...overrides
  });
}

/**
 * A promise and its resolver, for answers that arrive late.
 */
export function deferred<T>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
} {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>(done => {
    resolve = done;
  });
  return { promise, resolve };
}
