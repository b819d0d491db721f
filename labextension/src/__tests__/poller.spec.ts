import { FallbackPoller } from '../connection';
import { serverSettings } from './fakes';

function fakeFetch(status: number, body: unknown) {
  const urls: string[] = [];
  const fetch = (input: RequestInfo) => {
    urls.push(new Request(input).url);
    return Promise.resolve(new Response(JSON.stringify(body), { status }));
  };
  return { fetch, urls };
}

describe('FallbackPoller.makeFetchPage', () => {
  it('asks for 100 notifications after the cursor', async () => {
    const { fetch, urls } = fakeFetch(200, {
      notifications: [],
      cursor: 'c9',
      serverTime: 1,
      pollInterval: 30
    });
    const fetchPage = FallbackPoller.makeFetchPage(serverSettings({ fetch }));
    const answer = await fetchPage('c 1/+');
    const first = new URL(urls[0]);
    expect(first.origin + first.pathname).toBe(
      'http://localhost:8888/user/alice/jln/api/notifications'
    );
    expect(first.searchParams.get('since')).toBe('c 1/+');
    expect(first.searchParams.get('limit')).toBe('100');
    expect(answer.cursor).toBe('c9');
    await fetchPage(null);
    const second = new URL(urls[1]);
    expect(second.searchParams.has('since')).toBe(false);
    expect(second.searchParams.get('limit')).toBe('100');
  });

  it('tells a refused cursor from other failures', async () => {
    const refused = fakeFetch(400, {
      error: 'cursor: is not a cursor',
      field: 'cursor'
    });
    await expect(
      FallbackPoller.makeFetchPage(serverSettings({ fetch: refused.fetch }))(
        'bad'
      )
    ).rejects.toBeInstanceOf(FallbackPoller.CursorRejectedError);
    const down = fakeFetch(503, { error: 'broker unreachable', field: null });
    const error = await FallbackPoller.makeFetchPage(
      serverSettings({ fetch: down.fetch })
    )('c').catch(e => e);
    expect(error).not.toBeInstanceOf(FallbackPoller.CursorRejectedError);
    expect(error.message).toContain('503');
  });
});
