import { ServerClock } from '../clock';
import { IDeliveredNotification, IStateFrame } from '../model';
import { PinsModel } from '../pins/model';
import { deferred, note } from './fakes';

const NOW = 1_700_000_000_000;

/**
 * A clock standing still at `now` (server time), moved by the tests.
 */
class StillClock {
  now(): number {
    return this.at;
  }
  at = NOW;
}

function pin(
  id: string,
  overrides: Partial<IDeliveredNotification> = {}
): IDeliveredNotification {
  return note(id, { pinned: true, createdAt: NOW, ...overrides });
}

function asking(
  id: string,
  overrides: Partial<IDeliveredNotification> = {}
): IDeliveredNotification {
  return pin(id, { requireAck: true, ...overrides });
}

function state(ids: string[], extra: Partial<IStateFrame> = {}): IStateFrame {
  return { type: 'state', ids, unread: 0, ...extra };
}

function shown(model: PinsModel): string[] {
  return model.pins.map(p => p.id.replace('jln:broadcast/', ''));
}

function model(
  load: () => Promise<ReadonlyArray<IDeliveredNotification>> = async () => [],
  clock: Pick<ServerClock, 'now'> = new StillClock()
): PinsModel {
  return new PinsModel({ load, clock });
}

describe('PinsModel', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('loads the pins the server lists, hiding acknowledged ones', async () => {
    const pins = model(async () => [
      pin('1-0'),
      asking('2-0', { createdAt: NOW + 1 }),
      asking('3-0', { read: true })
    ]);
    const changed = jest.fn();
    pins.changed.connect(changed);

    await pins.load();

    expect(shown(pins)).toEqual(['2-0', '1-0']);
    expect(changed).toHaveBeenCalled();
  });

  it('shows live pinned notifications newest first and ignores the others', () => {
    const pins = model();

    pins.add([note('1-0'), pin('2-0'), pin('3-0', { createdAt: NOW + 5 })]);

    expect(shown(pins)).toEqual(['3-0', '2-0']);
  });

  it('is withdrawn by a later notification with its origin and key', () => {
    const pins = model();
    pins.add([pin('1-0', { key: 'maint', origin: 'ops' })]);

    pins.add([note('2-0', { key: 'maint', origin: 'ci', createdAt: NOW + 1 })]);
    const otherOrigin = shown(pins);
    pins.add([
      note('3-0', { key: 'maint', origin: 'ops', createdAt: NOW + 2 })
    ]);

    expect(otherOrigin).toEqual(['1-0']);
    expect(shown(pins)).toEqual([]);
  });

  it('is replaced by a later pinned one with its key', () => {
    const pins = model();
    pins.add([pin('1-0', { key: 'maint' })]);

    pins.add([pin('2-0', { key: 'maint', message: 'moved to 23:00' })]);

    expect(pins.pins.map(p => p.message)).toEqual(['moved to 23:00']);
  });

  it('is not brought back by an older copy once withdrawn', async () => {
    const answer = deferred<ReadonlyArray<IDeliveredNotification>>();
    const pins = model(() => answer.promise);
    const loading = pins.load();

    pins.add([note('2-0', { key: 'maint', createdAt: NOW + 1 })]);
    answer.resolve([pin('1-0', { key: 'maint' })]);
    await loading;

    expect(shown(pins)).toEqual([]);
  });

  it('expires on the server clock, by itself', () => {
    jest.useFakeTimers();
    const clock = new StillClock();
    const pins = model(undefined, clock);
    const changed = jest.fn();
    pins.add([pin('1-0', { expiresAt: NOW + 1000 }), pin('2-0')]);
    pins.changed.connect(changed);

    clock.at = NOW + 1000;
    jest.advanceTimersByTime(1000);

    expect(shown(pins)).toEqual(['2-0']);
    expect(changed).toHaveBeenCalledTimes(1);
    pins.dispose();
  });

  it('never shows what has already expired', () => {
    const pins = model();

    pins.add([pin('1-0', { expiresAt: NOW })]);

    expect(shown(pins)).toEqual([]);
  });

  it('waits at most an hour before looking at a far expiry again', () => {
    jest.useFakeTimers();
    const pins = model();
    pins.add([pin('1-0', { expiresAt: NOW + 90 * 86_400_000 })]);
    const changed = jest.fn();
    pins.changed.connect(changed);

    jest.advanceTimersByTime(PinsModel.MAX_WAIT);

    expect(changed).toHaveBeenCalledTimes(1);
    expect(shown(pins)).toEqual(['1-0']);
    pins.dispose();
  });

  it('hides one asking for an acknowledgement when its id is read', () => {
    const pins = model();
    pins.add([pin('1-0'), asking('2-0'), asking('3-0')]);

    pins.applyState(
      state(['jln:broadcast/1-0', 'jln:broadcast/2-0'], { read: true })
    );

    expect(shown(pins)).toEqual(['3-0', '1-0']);
  });

  it('shows it again when its id is marked unread', () => {
    const pins = model();
    pins.add([asking('1-0', { read: true })]);

    pins.applyState(state(['jln:broadcast/1-0'], { read: false }));

    expect(shown(pins)).toEqual(['1-0']);
  });

  it('keeps it when all are marked read, as the server does', () => {
    const pins = model();
    pins.add([asking('1-0')]);

    pins.applyState(state(['jln:broadcast/1-0'], { all: true, read: true }));
    pins.applyState(state(['jln:broadcast/1-0'], { saved: true }));

    expect(shown(pins)).toEqual(['1-0']);
  });

  it('drops on load the pins the server no longer lists', async () => {
    let listed = [pin('1-0'), pin('2-0')];
    const pins = model(async () => listed);
    await pins.load();

    listed = [pin('2-0')];
    await pins.load();

    expect(shown(pins)).toEqual(['2-0']);
  });

  it('keeps what arrived or was acknowledged while loading', async () => {
    const answer = deferred<ReadonlyArray<IDeliveredNotification>>();
    const pins = model(() => answer.promise);
    pins.add([asking('1-0')]);
    const loading = pins.load();

    pins.add([pin('2-0')]);
    pins.applyState(state(['jln:broadcast/1-0'], { read: true }));
    answer.resolve([asking('1-0')]);
    await loading;

    expect(shown(pins)).toEqual(['2-0']);
  });

  it('stops its expiry timer when disposed', () => {
    jest.useFakeTimers();
    const pins = model();
    pins.add([pin('1-0', { expiresAt: NOW + 1000 })]);
    const changed = jest.fn();
    pins.changed.connect(changed);

    pins.dispose();
    jest.advanceTimersByTime(2000);

    expect(pins.isDisposed).toBe(true);
    expect(changed).not.toHaveBeenCalled();
  });
});
