import { PresenceReporter } from '../presence';
import { serverSettings } from './fakes';

/** A document whose visibility the test sets. */
class Page extends EventTarget {
  visibilityState: DocumentVisibilityState = 'visible';

  hide(hidden: boolean): void {
    this.visibilityState = hidden ? 'hidden' : 'visible';
    this.dispatchEvent(new Event('visibilitychange'));
  }
}

function setup(ttl: unknown = 90) {
  const reports: Array<{ tab: string; visible: boolean }> = [];
  const settings = serverSettings({
    fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init);
      expect(request.url).toContain('/user/alice/jln/api/presence');
      expect(request.method).toBe('POST');
      reports.push(JSON.parse(await request.text()));
      return new Response(JSON.stringify({ ttl }), { status: 200 });
    }
  });
  const page = new Page();
  const reporter = new PresenceReporter({
    settings,
    tab: 'tab-1',
    document: page as unknown as Document
  });
  return { reports, page, reporter };
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('PresenceReporter', () => {
  it('reports at start, at each change and before the ttl runs out', async () => {
    const { reports, page, reporter } = setup(90);
    reporter.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(reports).toEqual([{ tab: 'tab-1', visible: true }]);
    await jest.advanceTimersByTimeAsync(45_000);
    expect(reports).toHaveLength(2); // renewed at half the lifetime
    page.hide(true);
    await jest.advanceTimersByTimeAsync(0);
    expect(reports[2]).toEqual({ tab: 'tab-1', visible: false });
    await jest.advanceTimersByTimeAsync(200_000);
    expect(reports).toHaveLength(3); // hidden: nothing to renew
    page.hide(false);
    await jest.advanceTimersByTimeAsync(0);
    expect(reports[3]).toEqual({ tab: 'tab-1', visible: true });
    reporter.dispose();
    await jest.advanceTimersByTimeAsync(0);
    expect(reports[4]).toEqual({ tab: 'tab-1', visible: false });
    await jest.advanceTimersByTimeAsync(200_000);
    expect(reports).toHaveLength(5);
  });

  it('falls back to a minute when the answer says no ttl', async () => {
    const { reports, reporter } = setup('soon');
    reporter.start();
    await jest.advanceTimersByTimeAsync(29_000);
    expect(reports).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(reports).toHaveLength(2);
    reporter.dispose();
  });
});
