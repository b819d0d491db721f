import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { IDeliveredNotification } from '../model';
import { PinBanner } from '../pins/banner';
import { PinsModel } from '../pins/model';
import { deferred, note } from './fakes';

const NOW = 1_700_000_000_000;

function pin(
  id: string,
  overrides: Partial<IDeliveredNotification> = {}
): IDeliveredNotification {
  return note(id, { pinned: true, createdAt: NOW, ...overrides });
}

/**
 * A banner attached to the document, on a model with no pins yet, and what
 * its Acknowledge button asked.
 */
function setUp(
  acknowledge: (id: string) => Promise<unknown> = async () => undefined,
  trans?: TranslationBundle
): { model: PinsModel; banner: PinBanner; acknowledged: jest.Mock } {
  const model = new PinsModel({
    load: async () => [],
    clock: { now: () => NOW }
  });
  const acknowledged = jest.fn(acknowledge);
  const banner = new PinBanner({ model, acknowledge: acknowledged, trans });
  Widget.attach(banner, document.body);
  return { model, banner, acknowledged };
}

function items(banner: PinBanner): HTMLElement[] {
  return Array.from(
    banner.node.querySelectorAll<HTMLElement>('.jln-BannerItem')
  );
}

function ackButton(banner: PinBanner, id: string): HTMLButtonElement | null {
  return banner.node.querySelector<HTMLButtonElement>(
    `.jln-BannerItem[data-jln-id="${id}"] .jln-BannerItem-ack`
  );
}

describe('PinBanner', () => {
  let banner: PinBanner | null = null;

  afterEach(() => {
    banner?.dispose();
    banner = null;
  });

  it('is hidden while there is no pin', () => {
    const made = setUp();
    banner = made.banner;

    expect(banner.hasClass('jln-Banner')).toBe(true);
    expect(banner.isHidden).toBe(true);
    expect(items(banner)).toEqual([]);
  });

  it('shows one item per pin, newest first, with its type and no close button', () => {
    const made = setUp();
    banner = made.banner;

    made.model.add([
      pin('1-0', { type: 'warning', title: 'Maintenance' }),
      pin('2-0', { type: 'error', createdAt: NOW + 1 })
    ]);

    expect(banner.isHidden).toBe(false);
    expect(
      items(banner).map(i => [i.dataset.jlnId, i.dataset.jlnType])
    ).toEqual([
      ['jln:broadcast/2-0', 'error'],
      ['jln:broadcast/1-0', 'warning']
    ]);
    expect(banner.node.querySelectorAll('button')).toHaveLength(0);
    expect(
      banner.node.querySelectorAll('.jln-BannerItem-icon svg')
    ).toHaveLength(2);
  });

  it('shows the title and message as text, never as markup', () => {
    const made = setUp();
    banner = made.banner;

    made.model.add([
      pin('1-0', {
        title: '<b>Bold</b>',
        message: '<img src=x onerror=alert(1)>'
      })
    ]);

    const [item] = items(banner);
    expect(item.querySelector('.jln-BannerItem-title')?.textContent).toBe(
      '<b>Bold</b>'
    );
    expect(item.querySelector('.jln-BannerItem-message')?.textContent).toBe(
      '<img src=x onerror=alert(1)>'
    );
    expect(item.querySelector('img, b')).toBeNull();
  });

  it('acknowledges by id and lets the notice go once the server agreed', async () => {
    const made = setUp();
    banner = made.banner;
    made.model.add([pin('1-0', { requireAck: true }), pin('2-0')]);
    const button = ackButton(banner, 'jln:broadcast/1-0');

    button?.click();
    await Promise.resolve();

    expect(button?.textContent).toBe('Acknowledge');
    expect(made.acknowledged).toHaveBeenCalledWith('jln:broadcast/1-0');
    expect(items(banner).map(i => i.dataset.jlnId)).toEqual([
      'jln:broadcast/2-0'
    ]);
    expect(ackButton(banner, 'jln:broadcast/2-0')).toBeNull();
  });

  it('keeps the notice and the button when acknowledging fails', async () => {
    const answer = deferred<unknown>();
    const made = setUp(() => answer.promise);
    banner = made.banner;
    made.model.add([pin('1-0', { requireAck: true })]);
    const button = ackButton(banner, 'jln:broadcast/1-0');

    button?.click();
    const waiting = button?.disabled;
    answer.resolve(Promise.reject(new Error('server gone')));
    await new Promise(done => setTimeout(done, 0));

    expect(waiting).toBe(true);
    expect(button?.disabled).toBe(false);
    expect(button?.title).toContain('server gone');
    expect(items(banner)).toHaveLength(1);
  });

  it('labels the button in the given language', () => {
    const trans = {
      __: (text: string) => (text === 'Acknowledge' ? 'Bestätigen' : text)
    } as unknown as TranslationBundle;
    const made = setUp(undefined, trans);
    banner = made.banner;

    made.model.add([pin('1-0', { requireAck: true })]);

    expect(ackButton(banner, 'jln:broadcast/1-0')?.textContent).toBe(
      'Bestätigen'
    );
  });

  it('stops following the model once disposed', () => {
    const made = setUp();
    made.banner.dispose();

    made.model.add([pin('1-0')]);

    expect(made.banner.node.childElementCount).toBe(0);
  });

  it('hides itself again when the last pin goes', () => {
    const made = setUp();
    banner = made.banner;
    made.model.add([pin('1-0', { requireAck: true })]);

    made.model.applyState({
      type: 'state',
      ids: ['jln:broadcast/1-0'],
      read: true,
      unread: 0
    });

    expect(banner.isHidden).toBe(true);
  });
});
