import type { Notification } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import type { ReadonlyJSONObject } from '@lumino/coreutils';
import { Signal } from '@lumino/signaling';

import { CursorStore, FallbackPoller, SocketAttempt } from '../connection';
import { Gaps, IDeliveredNotification, IPollResponse } from '../model';
import { Presenter } from '../presenter';

/**
 * A WebSocket stand-in: records the URL, lets a test play the server.
 */
export class FakeWebSocket implements SocketAttempt.IWebSocket {
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
      version: number;
      cursor: string | null;
      serverTime: number;
      pollInterval: number;
      user: string;
      unread: number;
      broker: { reachable: boolean; reason: string | null };
    }> = {}
  ): void {
    this.send({
      type: 'hello',
      version: 1,
      cursor: 'c0',
      serverTime: Date.now(),
      pollInterval: 30,
      user: 'alice',
      unread: 0,
      broker: { reachable: true, reason: null },
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
  more = false,
  gap: Gaps = {}
): IPollResponse {
  return {
    notifications,
    cursor,
    serverTime: Date.now(),
    pollInterval: 30,
    more,
    gap
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
    read: false,
    saved: false,
    readAt: null,
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

/**
 * A notification manager that behaves like JupyterLab's (newest or last
 * updated first, `changed` signal) and records what it is asked.
 */
export class FakeManager implements Presenter.INotificationManager {
  /**
   * Every `notify`, in order.
   */
  readonly notified: Array<{
    id: string;
    message: string;
    type: Notification.TypeOptions;
    options: Notification.IOptions<ReadonlyJSONObject>;
  }> = [];

  /**
   * Every `update`, in order, as given.
   */
  readonly updates: Array<Notification.IUpdate<ReadonlyJSONObject>> = [];

  get changed(): Signal<this, Notification.IChange> {
    return this._changed;
  }

  get notifications(): Notification.INotification[] {
    return this._queue.slice();
  }

  notify(
    message: string,
    type: Notification.TypeOptions,
    options: Notification.IOptions<ReadonlyJSONObject>
  ): string {
    const id = `n${this.notified.length + 1}`;
    this.notified.push({ id, message, type, options });
    const now = Date.now();
    const notification = {
      id,
      message,
      type,
      options: { autoClose: 0, ...options },
      createdAt: now,
      modifiedAt: now
    };
    this._queue.unshift(notification);
    this._changed.emit({ type: 'added', notification });
    return id;
  }

  update(args: Notification.IUpdate<ReadonlyJSONObject>): boolean {
    this.updates.push(args);
    const index = this._queue.findIndex(n => n.id === args.id);
    if (index < 0) {
      return false;
    }
    const old = this._queue[index];
    const notification = {
      ...old,
      message: args.message ?? old.message,
      type: args.type ?? old.type,
      options: {
        actions: args.actions ?? old.options.actions,
        autoClose: args.autoClose ?? old.options.autoClose,
        data: args.data ?? old.options.data,
        progress: args.progress ?? old.options.progress
      },
      modifiedAt: Date.now()
    };
    this._queue.splice(index, 1);
    this._queue.unshift(notification);
    this._changed.emit({ type: 'updated', notification });
    return true;
  }

  has(id: string): boolean {
    return this._queue.some(n => n.id === id);
  }

  /**
   * Remove a notification, as the user does from the center.
   */
  dismiss(id: string): void {
    const index = this._queue.findIndex(n => n.id === id);
    if (index >= 0) {
      const [notification] = this._queue.splice(index, 1);
      this._changed.emit({ type: 'removed', notification });
    }
  }

  /**
   * The message a notification has now.
   */
  messageOf(id: string): string | undefined {
    return this._queue.find(n => n.id === id)?.message;
  }

  /**
   * Click an action button of the notification emitted `index`-th.
   */
  click(index: number, label: string): void {
    const action = this.notified[index].options.actions?.find(
      a => a.label === label
    );
    if (!action) {
      throw new Error(`no action ${label}`);
    }
    action.callback(new MouseEvent('click'));
  }

  private _changed = new Signal<this, Notification.IChange>(this);
  private _queue: Notification.INotification[] = [];
}
