import { GapNotice } from '../gapnotice';
import { FakeManager } from './fakes';

describe('GapNotice', () => {
  it('says it once while the notice is in the center, and again once it is gone', () => {
    const manager = new FakeManager();
    const notice = new GapNotice({ manager });

    expect(notice.show()).toBe(true);
    expect(notice.show()).toBe(false);
    expect(manager.notified.map(n => [n.message, n.type])).toEqual([
      ['Some older notifications are no longer available', 'warning']
    ]);
    expect(manager.notified[0].options.autoClose).toBe(GapNotice.AUTO_CLOSE_MS);

    manager.dismiss(manager.notified[0].id);
    expect(notice.show()).toBe(true);
    expect(manager.notified).toHaveLength(2);
  });
});
