/// <reference types="node" />
import { readFileSync } from 'fs';
import { resolve } from 'path';

import {
  parseErrorBody,
  parseFrame,
  parseInboxCount,
  parseInboxPage,
  parseNotification,
  parsePollResponse,
  parseReceipts,
  parseStateAnswer,
  parseTopics,
  WIRE_VERSION
} from '../model';
import { note } from './fakes';

/**
 * An item as the inbox server sends it in every list and frame.
 */
function item(id: string, extra: object = {}): object {
  return {
    ...note(id, { stream: 'jln:user:ada', createdAt: 1700000000000 }),
    id: `jln:user:ada/${id}`,
    ...extra
  };
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('WIRE_VERSION', () => {
  it('is the version of the server module the shapes come from', () => {
    const wire = readFileSync(
      resolve(__dirname, '../../../jln_server/wire.py'),
      'utf-8'
    );
    const match = /^WIRE_VERSION = (\d+)$/m.exec(wire);
    expect(match).not.toBeNull();
    expect(WIRE_VERSION).toBe(Number(match?.[1]));
  });
});

describe('parseFrame', () => {
  it('reads a hello with its version and unread count', () => {
    expect(
      parseFrame(
        '{"type":"hello","version":1,"cursor":"c","serverTime":5,' +
          '"pollInterval":30,"user":"u","unread":4}'
      )
    ).toEqual({
      type: 'hello',
      version: 1,
      cursor: 'c',
      serverTime: 5,
      pollInterval: 30,
      user: 'u',
      unread: 4,
      broker: { reachable: true, reason: null }
    });
  });

  it('reads a hello without a cursor from a server that cannot read the broker yet', () => {
    expect(
      parseFrame(
        '{"type":"hello","version":1,"cursor":null,"serverTime":5,"pollInterval":30,' +
          '"user":"u","unread":0,"broker":{"reachable":false,"reason":"refused"}}'
      )
    ).toMatchObject({
      cursor: null,
      broker: { reachable: false, reason: 'refused' }
    });
  });

  it('reads broker and gap frames, dropping malformed gaps', () => {
    expect(
      parseFrame('{"type":"broker","reachable":false,"reason":"down"}')
    ).toEqual({ type: 'broker', reachable: false, reason: 'down' });
    expect(
      parseFrame('{"type":"broker","reachable":true,"reason":"stale"}')
    ).toEqual({ type: 'broker', reachable: true, reason: null });
    expect(parseFrame('{"type":"broker"}')).toBeNull();
    expect(
      parseFrame(
        '{"type":"gap","streams":{"jln:broadcast":{"after":"1-0","resumedAt":"5-0"},' +
          '"jln:user:u":{"after":"2-0","resumedAt":null},"bad":{"resumedAt":"1-0"}}}'
      )
    ).toEqual({
      type: 'gap',
      streams: {
        'jln:broadcast': { after: '1-0', resumedAt: '5-0' },
        'jln:user:u': { after: '2-0', resumedAt: null }
      }
    });
  });

  it("reads an old server's hello as version 0 with nothing unread", () => {
    expect(
      parseFrame(
        '{"type":"hello","cursor":"c","serverTime":5,"pollInterval":30,"user":"u"}'
      )
    ).toEqual({
      type: 'hello',
      version: 0,
      cursor: 'c',
      serverTime: 5,
      pollInterval: 30,
      user: 'u',
      unread: 0,
      broker: { reachable: true, reason: null }
    });
  });

  it('reads a state frame for a list of ids', () => {
    expect(
      parseFrame(
        JSON.stringify({
          type: 'state',
          ids: ['jln:user:ada/1-0', 'jln:broadcast/2-0'],
          read: true,
          saved: false,
          unread: 3
        })
      )
    ).toEqual({
      type: 'state',
      ids: ['jln:user:ada/1-0', 'jln:broadcast/2-0'],
      read: true,
      saved: false,
      unread: 3
    });
  });

  it('reads a state frame for everything the filters matched', () => {
    expect(
      parseFrame(
        JSON.stringify({
          type: 'state',
          all: true,
          ids: ['jln:broadcast/2-0'],
          dismissed: true,
          unread: 0
        })
      )
    ).toEqual({
      type: 'state',
      all: true,
      ids: ['jln:broadcast/2-0'],
      dismissed: true,
      unread: 0
    });
  });

  it('drops the malformed parts of a state frame', () => {
    expect(
      parseFrame(
        JSON.stringify({
          type: 'state',
          all: false,
          ids: ['jln:broadcast/2-0', 7, '', null],
          read: 'yes',
          saved: true,
          unread: 1
        })
      )
    ).toEqual({
      type: 'state',
      ids: ['jln:broadcast/2-0'],
      saved: true,
      unread: 1
    });
  });

  it('refuses a state frame without ids or unread count', () => {
    const frame = (fields: object) =>
      parseFrame(JSON.stringify({ type: 'state', ...fields }));
    expect(frame({ read: true, unread: 1 })).toBeNull();
    expect(frame({ ids: 'jln:broadcast/2-0', read: true, unread: 1 })).toBe(
      null
    );
    expect(frame({ ids: [], read: true })).toBeNull();
    expect(frame({ ids: [], read: true, unread: -1 })).toBeNull();
    expect(frame({ ids: [], read: true, unread: 1.5 })).toBeNull();
    expect(frame({ ids: [], read: true, unread: '2' })).toBeNull();
  });

  it('keeps the well-formed notifications of a batch', () => {
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const frame = parseFrame(
      JSON.stringify({
        type: 'notifications',
        cursor: 'c2',
        serverTime: 9,
        notifications: [
          {
            id: 'jln:broadcast/1-0',
            stream: 'jln:broadcast',
            createdAt: 1,
            message: 'ok',
            type: 'bogus',
            autoClose: false,
            actions: [
              { label: 'Go', displayType: 'weird', link: 'https://x' },
              7
            ],
            data: { a: 1 }
          },
          { id: 'no message', createdAt: 1 },
          'junk'
        ]
      })
    );
    expect(frame).toEqual({
      type: 'notifications',
      cursor: 'c2',
      serverTime: 9,
      notifications: [
        {
          id: 'jln:broadcast/1-0',
          stream: 'jln:broadcast',
          createdAt: 1,
          message: 'ok',
          type: 'default',
          autoClose: false,
          actions: [
            {
              label: 'Go',
              caption: '',
              displayType: 'default',
              link: 'https://x'
            }
          ],
          data: { a: 1 },
          read: false,
          saved: false,
          readAt: null
        }
      ]
    });
  });

  it('refuses what is not a frame', () => {
    expect(parseFrame('not json')).toBeNull();
    expect(parseFrame('[1]')).toBeNull();
    expect(parseFrame('{"type":"hello"}')).toBeNull();
    expect(
      parseFrame('{"type":"other","cursor":"c","serverTime":1}')
    ).toBeNull();
    expect(parseFrame('{"cursor":"c","serverTime":1}')).toBeNull();
  });
});

describe('parseNotification', () => {
  it("reads the owner's state and the scheduling fields", () => {
    expect(
      parseNotification(
        item('1-0', {
          read: true,
          saved: true,
          readAt: 1700000000500,
          notBefore: 1700000000400,
          excludeUsers: ['bob', 'eve']
        })
      )
    ).toEqual({
      id: 'jln:user:ada/1-0',
      stream: 'jln:user:ada',
      createdAt: 1700000000000,
      message: 'message 1-0',
      type: 'info',
      autoClose: 5000,
      notBefore: 1700000000400,
      excludeUsers: ['bob', 'eve'],
      read: true,
      saved: true,
      readAt: 1700000000500
    });
  });

  it("takes an old server's item as unread, unsaved and never read", () => {
    expect(
      parseNotification({
        id: 'jln:broadcast/1-0',
        stream: 'jln:broadcast',
        createdAt: 1,
        message: 'hi',
        type: 'info',
        autoClose: 5000
      })
    ).toEqual({
      id: 'jln:broadcast/1-0',
      stream: 'jln:broadcast',
      createdAt: 1,
      message: 'hi',
      type: 'info',
      autoClose: 5000,
      read: false,
      saved: false,
      readAt: null
    });
  });

  it('drops state and scheduling values of the wrong type', () => {
    const parsed = parseNotification(
      item('1-0', {
        read: 'true',
        saved: 1,
        readAt: '1700000000500',
        notBefore: '2024-01-01T00:00:00Z',
        excludeUsers: 'bob'
      })
    );
    expect(parsed).toMatchObject({ read: false, saved: false, readAt: null });
    expect(parsed).not.toHaveProperty('notBefore');
    expect(parsed).not.toHaveProperty('excludeUsers');
    expect(
      parseNotification(item('2-0', { excludeUsers: ['bob', 3, ''] }))
    ).toHaveProperty('excludeUsers', ['bob']);
    expect(
      parseNotification(item('3-0', { excludeUsers: [3] }))
    ).not.toHaveProperty('excludeUsers');
  });

  it('reads a pinned notice and one that asks for an acknowledgement', () => {
    expect(parseNotification(item('1-0', { pinned: true }))).toMatchObject({
      pinned: true
    });
    expect(
      parseNotification(item('2-0', { pinned: true, requireAck: true }))
    ).toMatchObject({ pinned: true, requireAck: true });
  });

  it('takes requireAck as pinned, and anything but true as absent', () => {
    expect(parseNotification(item('1-0', { requireAck: true }))).toMatchObject({
      pinned: true,
      requireAck: true
    });
    for (const value of [false, 'true', 1, null]) {
      const parsed = parseNotification(
        item('2-0', { pinned: value, requireAck: value })
      );
      expect(parsed).not.toHaveProperty('pinned');
      expect(parsed).not.toHaveProperty('requireAck');
    }
  });

  it('reads the return address of a notebook cell or a terminal', () => {
    const cell = { kind: 'notebook', path: 'a/b.ipynb', cellId: 'x1' };
    expect(parseNotification(item('1-0', { source: cell }))).toHaveProperty(
      'source',
      cell
    );
    expect(
      parseNotification(
        item('2-0', { source: { kind: 'terminal', name: '2' } })
      )
    ).toHaveProperty('source', { kind: 'terminal', name: '2' });
    for (const source of [
      'a.ipynb',
      { kind: 'notebook' },
      { kind: 'notebook', path: 3 },
      { kind: 'kernel', path: 'a.ipynb' },
      { kind: 'terminal', name: '' }
    ]) {
      expect(parseNotification(item('3-0', { source }))).not.toHaveProperty(
        'source'
      );
    }
  });
});

describe('parsePollResponse', () => {
  it('reads a page and its more flag', () => {
    expect(
      parsePollResponse({
        notifications: [],
        cursor: 'c',
        serverTime: 1,
        pollInterval: 60,
        more: true,
        gap: { 'jln:broadcast': { after: '1-0', resumedAt: '3-0' } }
      })
    ).toEqual({
      notifications: [],
      cursor: 'c',
      serverTime: 1,
      pollInterval: 60,
      more: true,
      gap: { 'jln:broadcast': { after: '1-0', resumedAt: '3-0' } }
    });
    expect(parsePollResponse({ cursor: 'c' })).toBeNull();
  });

  it('takes an inbox page as a baseline: its live cursor, no more', () => {
    expect(
      parsePollResponse({
        notifications: [item('2-0', { read: true, readAt: 9 }), item('1-0')],
        next: 'n1',
        totalCount: 2,
        unreadCount: 1,
        cursor: 'live',
        serverTime: 10,
        pollInterval: 30
      })
    ).toMatchObject({
      notifications: [
        { id: 'jln:user:ada/2-0', read: true, readAt: 9 },
        { id: 'jln:user:ada/1-0', read: false, readAt: null }
      ],
      cursor: 'live',
      serverTime: 10,
      pollInterval: 30,
      more: false,
      gap: {}
    });
  });
});

describe('parseInboxPage', () => {
  const answer = {
    notifications: [item('2-0', { saved: true }), item('1-0')],
    next: 'opaque-next',
    totalCount: 12,
    unreadCount: 5,
    cursor: 'live',
    serverTime: 1700000001000,
    pollInterval: 30
  };

  it('reads a page with its counts, next page and live cursor', () => {
    const page = parseInboxPage(answer);
    expect(page).toMatchObject({
      next: 'opaque-next',
      totalCount: 12,
      unreadCount: 5,
      cursor: 'live',
      serverTime: 1700000001000,
      pollInterval: 30
    });
    expect(page?.notifications.map(n => [n.id, n.saved])).toEqual([
      ['jln:user:ada/2-0', true],
      ['jln:user:ada/1-0', false]
    ]);
  });

  it('reads the last page as having no next', () => {
    expect(parseInboxPage({ ...answer, next: null })?.next).toBeNull();
    expect(parseInboxPage({ ...answer, next: undefined })?.next).toBeNull();
    expect(parseInboxPage({ ...answer, next: '' })?.next).toBeNull();
    expect(
      parseInboxPage({ ...answer, pollInterval: undefined })?.pollInterval
    ).toBe(0);
  });

  it('drops malformed items and refuses a malformed page', () => {
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect(
      parseInboxPage({
        ...answer,
        notifications: [item('1-0'), { id: 'x' }, 'junk']
      })?.notifications.map(n => n.id)
    ).toEqual(['jln:user:ada/1-0']);
    expect(parseInboxPage({ ...answer, next: 3 })).toBeNull();
    expect(parseInboxPage({ ...answer, totalCount: undefined })).toBeNull();
    expect(parseInboxPage({ ...answer, unreadCount: -1 })).toBeNull();
    expect(parseInboxPage({ ...answer, cursor: null })).toBeNull();
    expect(parseInboxPage({ ...answer, notifications: {} })).toBeNull();
    expect(parseInboxPage([answer])).toBeNull();
  });
});

describe('parseInboxCount', () => {
  it('reads the unread and total counts', () => {
    expect(parseInboxCount({ unread: 2, total: 7 })).toEqual({
      unread: 2,
      total: 7
    });
  });

  it('refuses counts that are not counts', () => {
    expect(parseInboxCount({ unread: 2 })).toBeNull();
    expect(parseInboxCount({ unread: '2', total: 7 })).toBeNull();
    expect(parseInboxCount({ unread: 2, total: 7.5 })).toBeNull();
    expect(parseInboxCount(null)).toBeNull();
  });
});

describe('parseStateAnswer', () => {
  it('reads how many changed and how many stay unread', () => {
    expect(parseStateAnswer({ updated: 3, unread: 0 })).toEqual({
      updated: 3,
      unread: 0
    });
  });

  it('refuses a malformed answer', () => {
    expect(parseStateAnswer({ updated: 3 })).toBeNull();
    expect(parseStateAnswer({ updated: true, unread: 0 })).toBeNull();
    expect(parseStateAnswer('{"updated":3,"unread":0}')).toBeNull();
  });
});

describe('parseTopics', () => {
  it('reads the topics and origins with their counts', () => {
    const answer = {
      topics: [
        { name: 'builds', count: 4, unread: 1 },
        { name: 'deploys', count: 1, unread: 0 }
      ],
      origins: [{ name: 'ci', count: 5, unread: 1 }]
    };
    expect(parseTopics(answer)).toEqual(answer);
  });

  it('drops malformed entries and refuses a missing list', () => {
    expect(
      parseTopics({
        topics: [
          { name: 'builds', count: 4, unread: 1 },
          { name: 'no counts' },
          { count: 1, unread: 0 },
          'junk'
        ],
        origins: []
      })
    ).toEqual({
      topics: [{ name: 'builds', count: 4, unread: 1 }],
      origins: []
    });
    expect(parseTopics({ topics: [] })).toBeNull();
    expect(parseTopics({ topics: {}, origins: [] })).toBeNull();
  });
});

describe('parseReceipts', () => {
  it('reads who has read it and who has not', () => {
    const answer = {
      id: 'jln:broadcast/1-0',
      read: [
        { user: 'ada', readAt: 1700000000123 },
        { user: 'bob', readAt: null }
      ],
      unread: [{ user: 'eve' }]
    };
    expect(parseReceipts(answer)).toEqual(answer);
  });

  it('drops malformed entries and refuses a malformed answer', () => {
    expect(
      parseReceipts({
        id: 'jln:broadcast/1-0',
        read: [{ user: 'ada', readAt: 'soon' }, { readAt: 5 }, 'bob'],
        unread: [{ user: 'eve' }, { name: 'mallory' }]
      })
    ).toEqual({
      id: 'jln:broadcast/1-0',
      read: [{ user: 'ada', readAt: null }],
      unread: [{ user: 'eve' }]
    });
    expect(parseReceipts({ read: [], unread: [] })).toBeNull();
    expect(parseReceipts({ id: 'x', read: [] })).toBeNull();
    expect(parseReceipts({ id: 'x', read: {}, unread: [] })).toBeNull();
  });
});

describe('parseErrorBody', () => {
  it('reads the error and the field it names', () => {
    expect(
      parseErrorBody({ error: 'limit: too large', field: 'limit' })
    ).toEqual({ error: 'limit: too large', field: 'limit' });
    expect(parseErrorBody({ error: 'Redis unreachable', field: null })).toEqual(
      { error: 'Redis unreachable', field: null }
    );
    expect(parseErrorBody({ error: 'no field' })).toEqual({
      error: 'no field',
      field: null
    });
  });

  it('refuses what is not an error body', () => {
    expect(parseErrorBody({ message: 'nope' })).toBeNull();
    expect(parseErrorBody('error')).toBeNull();
    expect(parseErrorBody(null)).toBeNull();
  });
});
