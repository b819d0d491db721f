import { InboxClient } from '../inbox/client';
import { InboxModel } from '../inbox/model';
import { UnreadCount } from '../inbox/unread';
import {
  IDeliveredNotification,
  IInboxCount,
  IInboxPage,
  IStateAnswer,
  ITopics
} from '../model';
import { deferred, note, serverSettings } from './fakes';

/**
 * An inbox server in memory: newest first, filters as the server applies
 * them, pages by an index cursor, state changes answered with the unread
 * count. Records every request.
 */
class FakeInbox implements InboxModel.IClient {
  constructor(public items: IDeliveredNotification[] = []) {}

  requests: string[] = [];

  async page(query: InboxClient.IQuery = {}): Promise<IInboxPage> {
    this.requests.push(`page ${JSON.stringify(query)}`);
    const admitted = this._filter(query.filters ?? {});
    const start = query.cursor ? Number(query.cursor) : 0;
    const limit = query.limit ?? 50;
    const end = start + limit;
    return {
      notifications: admitted.slice(start, end),
      next: end < admitted.length ? String(end) : null,
      totalCount: admitted.length,
      unreadCount: admitted.filter(n => !n.read).length,
      cursor: 'live',
      serverTime: Date.now(),
      pollInterval: 30
    };
  }

  async count(filters: InboxClient.IFilters = {}): Promise<IInboxCount> {
    this.requests.push(`count ${JSON.stringify(filters)}`);
    const admitted = this._filter(filters);
    return {
      unread: admitted.filter(n => !n.read).length,
      total: admitted.length
    };
  }

  async topics(): Promise<ITopics> {
    return { topics: [{ name: 'ci', count: 1, unread: 1 }], origins: [] };
  }

  async setState(
    ids: ReadonlyArray<string>,
    change: InboxClient.IChange
  ): Promise<IStateAnswer> {
    this.requests.push(`state ${ids.join(',')} ${JSON.stringify(change)}`);
    return this._apply(item => ids.includes(item.id), change);
  }

  async setStateAll(
    filters: InboxClient.IFilters,
    change: InboxClient.IChange
  ): Promise<IStateAnswer> {
    this.requests.push(`all ${JSON.stringify(filters)}`);
    const admitted = new Set(this._filter(filters).map(n => n.id));
    return this._apply(item => admitted.has(item.id), change);
  }

  async dismiss(id: string): Promise<IStateAnswer> {
    this.requests.push(`dismiss ${id}`);
    return this._apply(item => item.id === id, { dismissed: true });
  }

  private _apply(
    chosen: (item: IDeliveredNotification) => boolean,
    change: InboxClient.IChange
  ): IStateAnswer {
    let updated = 0;
    const kept: IDeliveredNotification[] = [];
    for (const item of this.items) {
      if (!chosen(item)) {
        kept.push(item);
        continue;
      }
      updated++;
      if (!change.dismissed) {
        kept.push({
          ...item,
          read: change.read ?? item.read,
          saved: change.saved ?? item.saved
        });
      }
    }
    this.items = kept;
    return { updated, unread: kept.filter(n => !n.read).length };
  }

  private _filter(filters: InboxClient.IFilters): IDeliveredNotification[] {
    return this.items.filter(
      n =>
        (filters.read === undefined || n.read === filters.read) &&
        (filters.saved === undefined || n.saved === filters.saved) &&
        (!filters.type || filters.type.includes(n.type)) &&
        (!filters.topic || n.topic === filters.topic) &&
        (!filters.origin || n.origin === filters.origin) &&
        (!filters.search ||
          `${n.title ?? ''} ${n.message}`
            .toLowerCase()
            .includes(filters.search.toLowerCase()))
    );
  }
}

/** `count` notifications, newest first: n<count-1> ... n0. */
function history(count: number): IDeliveredNotification[] {
  return Array.from({ length: count }, (_, i) =>
    note(`${count - 1 - i}-0`, {
      createdAt: 1000 + count - i,
      type: i % 3 === 0 ? 'error' : 'info',
      message: i % 5 === 0 ? `disk full on node ${i}` : `job ${i} done`
    })
  );
}

function last(values: string[]): string {
  return values[values.length - 1];
}

function ids(model: InboxModel): string[] {
  return model.items.map(item => item.id.split('/')[1]);
}

describe('InboxModel', () => {
  it('loads the newest page, then the next ones, without repeats', async () => {
    const server = new FakeInbox(history(70));
    const model = new InboxModel({ client: server, pageSize: 30 });
    await model.load();
    expect(model.items).toHaveLength(30);
    expect(ids(model)[0]).toBe('69-0');
    expect(model.hasMore).toBe(true);
    expect(model.counts).toEqual({ unread: 70, total: 70 });
    await model.loadMore();
    await model.loadMore();
    expect(model.items).toHaveLength(70);
    expect(new Set(ids(model)).size).toBe(70);
    expect(model.hasMore).toBe(false);
    expect(ids(model)[69]).toBe('0-0');
    expect(model.topics.topics[0].name).toBe('ci');
  });

  it('finds an item by loading pages until it is listed, within a bound', async () => {
    const server = new FakeInbox(history(100));
    const model = new InboxModel({ client: server, pageSize: 10 });
    const found = await model.find('jln:broadcast/42-0');
    expect(found?.id).toBe('jln:broadcast/42-0');
    expect(model.items).toHaveLength(60); // 100 - 42 = 58 newer or equal: six pages
    expect(await model.find('jln:broadcast/0-0', 2)).toBeNull();
    expect(model.items).toHaveLength(80);
    expect(await model.find('jln:broadcast/missing')).toBeNull();
  });

  it('asks the server with the filters and starts again from the top', async () => {
    const server = new FakeInbox(history(30));
    const model = new InboxModel({ client: server, pageSize: 10 });
    await model.load();
    await model.loadMore();
    await model.setFilters({ type: 'error', search: 'DISK ' });
    expect(last(server.requests)).toBe(
      'page {"filters":{"search":"DISK","type":["error"]},"limit":10,"cursor":null}'
    );
    expect(model.items.every(item => item.type === 'error')).toBe(true);
    expect(model.items.every(item => item.message.includes('disk'))).toBe(true);
    expect(model.counts.total).toBe(model.items.length);
    await model.setFilters({ type: '', search: '', show: 'unread' });
    expect(last(server.requests)).toContain('"filters":{"read":false}');
    await model.setFilters({ show: 'saved' });
    expect(last(server.requests)).toContain('"filters":{"saved":true}');
  });

  it('drops an answer that arrives after the filters changed', async () => {
    const server = new FakeInbox(history(5));
    const late = deferred<IInboxPage>();
    const answer = server.page.bind(server);
    jest
      .spyOn(server, 'page')
      .mockImplementation(query =>
        query?.filters?.search === 'old' ? late.promise : answer(query)
      );
    const model = new InboxModel({ client: server });
    const first = model.setFilters({ search: 'old' });
    await model.setFilters({ search: '' });
    late.resolve({
      notifications: [note('stale-0')],
      next: null,
      totalCount: 1,
      unreadCount: 1,
      cursor: 'x',
      serverTime: 0,
      pollInterval: 30
    });
    await first;
    expect(ids(model)).not.toContain('stale-0');
    expect(model.items).toHaveLength(5);
  });

  it('puts a live notification on top when the filters admit it', async () => {
    const server = new FakeInbox(history(3));
    const model = new InboxModel({ client: server });
    await model.setFilters({ type: 'error' });
    const before = model.items.length;
    model.receive([
      note('100-0', { type: 'info', message: 'not an error' }),
      note('101-0', { type: 'error', message: 'build broke' })
    ]);
    expect(ids(model)[0]).toBe('101-0');
    expect(model.items).toHaveLength(before + 1);
    expect(model.counts.total).toBe(before + 1);
    model.receive([note('101-0', { type: 'error' })]); // replayed: once only
    expect(model.items).toHaveLength(before + 1);
  });

  it('replaces the item with the same origin and key', async () => {
    const server = new FakeInbox([
      note('2-0', { key: 'job', origin: 'ci', message: 'job at 50%' }),
      note('1-0', { key: 'job', origin: 'other', message: 'their job' })
    ]);
    const model = new InboxModel({ client: server });
    await model.load();
    model.receive([
      note('3-0', {
        key: 'job',
        origin: 'ci',
        message: 'job done',
        read: false
      })
    ]);
    expect(model.items.map(item => item.message)).toEqual([
      'job done',
      'their job'
    ]);
    expect(model.counts).toEqual({ unread: 2, total: 2 });
  });

  it('drops an expired live notification', async () => {
    const model = new InboxModel({ client: new FakeInbox() });
    await model.load();
    model.receive([note('1-0', { expiresAt: Date.now() - 1000 })]);
    expect(model.items).toHaveLength(0);
  });

  it('patches read and saved from a state frame of another tab', async () => {
    const server = new FakeInbox(history(4));
    const model = new InboxModel({ client: server });
    await model.load();
    const [first, second] = model.items;
    server.items = server.items.map(n =>
      n.id === first.id ? { ...n, read: true } : n
    );
    model.applyState({ type: 'state', ids: [first.id], read: true, unread: 3 });
    model.applyState({
      type: 'state',
      ids: [second.id],
      saved: true,
      unread: 3
    });
    expect(model.items[0].read).toBe(true);
    expect(model.items[0].readAt).not.toBeNull();
    expect(model.items[1].saved).toBe(true);
    await Promise.resolve();
    await Promise.resolve();
    expect(model.counts.unread).toBe(3); // recounted by the server
    model.applyState({
      type: 'state',
      ids: [second.id],
      dismissed: true,
      unread: 2
    });
    expect(model.items.map(item => item.id)).not.toContain(second.id);
  });

  it('reloads what is shown when a change was made for all', async () => {
    const server = new FakeInbox(history(40));
    const model = new InboxModel({ client: server, pageSize: 15 });
    await model.load();
    await model.loadMore();
    server.items = server.items.map(n => ({ ...n, read: true }));
    model.applyState({
      type: 'state',
      ids: [],
      all: true,
      read: true,
      unread: 0
    });
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(model.items).toHaveLength(30); // as much as was loaded
    expect(model.items.every(item => item.read)).toBe(true);
    expect(model.counts.unread).toBe(0);
  });

  it('marks read, saves, dismisses and opens through the server', async () => {
    const server = new FakeInbox(history(3));
    const told: number[] = [];
    const model = new InboxModel({
      client: server,
      onUnread: count => told.push(count)
    });
    await model.load();
    const [a, b, c] = model.items;
    await model.markRead([a.id], true);
    expect(model.items[0].read).toBe(true);
    await model.save(b.id, true);
    expect(model.items[1].saved).toBe(true);
    await model.dismiss(c.id);
    expect(model.items.map(item => item.id)).toEqual([a.id, b.id]);
    const opened: string[] = [];
    model.opened.connect((_, item) => opened.push(item.id));
    await model.open(model.items[1]);
    expect(opened).toEqual([b.id]);
    expect(model.items[1].read).toBe(true);
    expect(server.requests.filter(r => r.startsWith('state'))).toEqual([
      `state ${a.id} {"read":true}`,
      `state ${b.id} {"saved":true}`,
      `state ${b.id} {"read":true}`
    ]);
    expect(server.requests).toContain(`dismiss ${c.id}`);
    expect(told).toEqual([2, 2, 1, 0]);
  });

  it('opens a notice awaiting acknowledgement without reading it', async () => {
    const server = new FakeInbox([
      note('1-0', { pinned: true, requireAck: true, message: 'Maintenance' })
    ]);
    const model = new InboxModel({ client: server });
    await model.load();
    await model.open(model.items[0]);
    expect(model.items[0].read).toBe(false);
    expect(server.requests.some(r => r.startsWith('state'))).toBe(false);
  });

  it('marks all read under the current filters only', async () => {
    const server = new FakeInbox(history(9));
    const model = new InboxModel({ client: server });
    await model.setFilters({ type: 'error' });
    await model.markAllRead();
    expect(server.requests).toContain('all {"type":["error"]}');
    expect(
      server.items.filter(n => !n.read).every(n => n.type !== 'error')
    ).toBe(true);
    expect(model.counts.unread).toBe(0);
  });

  it('shows a refusal and what the server really has', async () => {
    const server = new FakeInbox(history(2));
    jest.spyOn(server, 'setState').mockImplementation(async () => {
      throw new InboxClient.RequestError('ids[0]: no such id', 400, 'ids[0]');
    });
    const model = new InboxModel({ client: server });
    await model.load();
    await model.markRead([model.items[0].id], true);
    expect(model.error).toBe('ids[0]: no such id');
    expect(model.items[0].read).toBe(false); // reloaded from the server
  });

  it('admits as the server does: text in title or message, any case', () => {
    const filters = { ...InboxModel.NO_FILTERS, search: 'Deploy' };
    expect(
      InboxModel.admits(filters, note('1-0', { title: 'DEPLOY', message: 'x' }))
    ).toBe(true);
    expect(
      InboxModel.admits(filters, note('1-0', { message: 'deployed' }))
    ).toBe(true);
    expect(InboxModel.admits(filters, note('1-0', { message: 'build' }))).toBe(
      false
    );
  });
});

describe('UnreadCount', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('takes counts and asks once for a burst of notifications', async () => {
    let asked = 0;
    const count = new UnreadCount({
      fetch: async () => ({ unread: 7 + asked++, total: 9 }),
      delayMs: 100
    });
    const seen: number[] = [];
    count.changed.connect((_, value) => seen.push(value));
    count.set(3);
    count.refresh();
    count.refresh();
    count.refresh();
    await jest.advanceTimersByTimeAsync(100);
    expect(asked).toBe(1);
    expect(seen).toEqual([3, 7]);
    count.dispose();
  });

  it('ignores an answer older than a count the server gave since', async () => {
    const late = deferred<IInboxCount>();
    const count = new UnreadCount({ fetch: () => late.promise, delayMs: 0 });
    count.refresh();
    await jest.advanceTimersByTimeAsync(0);
    count.set(0); // a state frame: everything read
    late.resolve({ unread: 5, total: 5 });
    await jest.advanceTimersByTimeAsync(0);
    expect(count.value).toBe(0);
    count.dispose();
  });
});

describe('InboxClient', () => {
  it('sends filters as query arguments and reads refusals', async () => {
    const calls: Array<{ url: string; method: string; body: string }> = [];
    const settings = serverSettings({
      fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
        const request = new Request(input, init);
        const url = request.url;
        calls.push({ url, method: request.method, body: await request.text() });
        if (url.includes('/count')) {
          return new Response(
            JSON.stringify({
              error: 'type: must be one of ...',
              field: 'type'
            }),
            { status: 400 }
          );
        }
        return new Response(JSON.stringify({ updated: 1, unread: 4 }), {
          status: 200
        });
      }
    });
    const client = new InboxClient({ settings });
    await expect(
      client.count({ type: ['error', 'warning'], search: 'a b', read: false })
    ).rejects.toMatchObject({ status: 400, field: 'type' });
    // (ServerConnection adds a cache-busting argument to GETs.)
    expect(calls[0].url).toMatch(
      /^http:\/\/localhost:8888\/user\/alice\/jln\/api\/notifications\/count\?type=error&type=warning&search=a%20b&read=false&\d+$/
    );
    await expect(
      client.setStateAll({ topic: 'ci' }, { read: true })
    ).resolves.toEqual({ updated: 1, unread: 4 });
    expect(JSON.parse(calls[1].body)).toEqual({
      all: true,
      filters: { topic: 'ci' },
      read: true
    });
    await client.dismiss('jln:user:ada/1-0');
    expect(calls[2].url).toMatch(
      /^http:\/\/localhost:8888\/user\/alice\/jln\/api\/notifications\/jln%3Auser%3Aada%2F1-0\?\d+$/
    );
    expect(calls[2].method).toBe('DELETE');
  });
});
