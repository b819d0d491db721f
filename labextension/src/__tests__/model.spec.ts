import { parseFrame, parsePollResponse } from '../model';

describe('parseFrame', () => {
  it('reads a hello', () => {
    expect(
      parseFrame(
        '{"type":"hello","cursor":"c","serverTime":5,"pollInterval":30,"user":"u"}'
      )
    ).toEqual({
      type: 'hello',
      cursor: 'c',
      serverTime: 5,
      pollInterval: 30,
      user: 'u'
    });
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
          data: { a: 1 }
        }
      ]
    });
    jest.restoreAllMocks();
  });

  it('refuses what is not a frame', () => {
    expect(parseFrame('not json')).toBeNull();
    expect(parseFrame('[1]')).toBeNull();
    expect(parseFrame('{"type":"hello"}')).toBeNull();
    expect(
      parseFrame('{"type":"other","cursor":"c","serverTime":1}')
    ).toBeNull();
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
        more: true
      })
    ).toEqual({
      notifications: [],
      cursor: 'c',
      serverTime: 1,
      pollInterval: 60,
      more: true
    });
    expect(parsePollResponse({ cursor: 'c' })).toBeNull();
  });
});
