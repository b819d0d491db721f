import type { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { ServerClock } from '../clock';
import {
  IDeliveredNotification,
  IInboxCount,
  IInboxPage,
  IStateAnswer,
  IStateFrame,
  ITopics,
  NotificationType
} from '../model';
import { InboxClient } from './client';

/**
 * What the inbox panel shows: the user's notifications under the chosen
 * filters, a page at a time, newest first, kept live.
 *
 * The server is the record: pages and counts come from its inbox API, and
 * every change this tab makes goes there first-hand. Between answers the
 * model stays true on its own: a notification pushed while it is open goes
 * on top when the filters admit it (replacing an item with its origin and
 * key), a state frame (this tab's or another's) patches the items it names,
 * and a change made "for all" reloads what is shown. Answers that arrive
 * after the filters changed are dropped.
 */
export class InboxModel implements IDisposable {
  /**
   * Construct a model; nothing is loaded until `load()` or `setFilters()`.
   */
  constructor(options: InboxModel.IOptions) {
    this._client = options.client;
    this._clock = options.clock ?? new ServerClock();
    this._pageSize = options.pageSize ?? InboxModel.PAGE_SIZE;
    this._isMuted = options.isMuted ?? (() => false);
    this._onUnread = options.onUnread ?? (() => undefined);
  }

  /**
   * Emitted when the items, counts, filters or loading state change.
   */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /**
   * Emitted when an item is opened (and so marked read).
   */
  get opened(): ISignal<this, IDeliveredNotification> {
    return this._opened;
  }

  /**
   * The items loaded, newest first.
   */
  get items(): ReadonlyArray<IDeliveredNotification> {
    return this._items;
  }

  /**
   * The filters in force.
   */
  get filters(): InboxModel.IFilters {
    return this._filters;
  }

  /**
   * How many notifications the filters admit, and how many are unread.
   */
  get counts(): IInboxCount {
    return this._counts;
  }

  /**
   * The topics and origins of the inbox, for the filter menus.
   */
  get topics(): ITopics {
    return this._topics;
  }

  /**
   * Whether more items wait past the last one loaded.
   */
  get hasMore(): boolean {
    return this._next !== null;
  }

  /**
   * Whether a request for items is under way.
   */
  get loading(): boolean {
    return this._loading > 0;
  }

  /**
   * What went wrong last, `null` when the last request succeeded.
   */
  get error(): string | null {
    return this._error;
  }

  /**
   * The server clock, for the items' ages.
   */
  get clock(): ServerClock {
    return this._clock;
  }

  /**
   * Whether the model is disposed.
   */
  get isDisposed(): boolean {
    return this._disposed;
  }

  /**
   * Whether toasts of this item are muted (it is still listed).
   */
  isMuted(notification: IDeliveredNotification): boolean {
    return this._isMuted(notification);
  }

  /**
   * Change how muting is decided, and show it.
   */
  setMuted(isMuted: (notification: IDeliveredNotification) => boolean): void {
    this._isMuted = isMuted;
    this._emit();
  }

  /**
   * Load the first page again under the current filters, and the topics.
   */
  async load(): Promise<void> {
    const generation = ++this._generation;
    this._loaded = Promise.all([
      this._fetch(generation, null, false),
      this._loadTopics(generation)
    ]).then(() => undefined);
    await this._loaded;
  }

  /**
   * An item by id, loading pages until it is listed (at most `maxPages`);
   * `null` when the filters hide it or it is older than that.
   */
  async find(
    id: string,
    maxPages = InboxModel.FIND_PAGES
  ): Promise<IDeliveredNotification | null> {
    await (this._loaded ?? this.load());
    let pages = 0;
    while (!this._has(id)) {
      if (this._inflight !== null) {
        await this._inflight; // A reload may have started the list again.
      } else if (this.hasMore && pages < maxPages) {
        pages++;
        await this.loadMore();
      } else {
        break;
      }
    }
    return this._items.find(item => item.id === id) ?? null;
  }

  /**
   * Show other filters: the list starts again from the first page.
   */
  async setFilters(filters: Partial<InboxModel.IFilters>): Promise<void> {
    this._filters = { ...this._filters, ...filters };
    this._items = [];
    this._next = null;
    this._emit();
    await this.load();
  }

  /**
   * Load the next page, if there is one and none is loading.
   */
  async loadMore(): Promise<void> {
    if (this._next === null || this.loading) {
      return;
    }
    await this._fetch(this._generation, this._next, true);
  }

  /**
   * Take notifications pushed live, oldest first.
   */
  receive(notifications: ReadonlyArray<IDeliveredNotification>): void {
    let changed = false;
    for (const notification of notifications) {
      changed = this._insert(notification) || changed;
    }
    if (changed) {
      this._emit();
    }
  }

  /**
   * Take a state frame: read, saved or dismissed changed somewhere.
   */
  applyState(frame: IStateFrame): void {
    if (frame.all) {
      void this._reload();
      return;
    }
    const ids = new Set(frame.ids);
    if (this._patch(ids, frame)) {
      this._emit();
    }
    void this._recount();
  }

  /**
   * Mark items read or unread.
   */
  async markRead(ids: ReadonlyArray<string>, read: boolean): Promise<void> {
    await this._change(ids, { read });
  }

  /**
   * Save or unsave an item.
   */
  async save(id: string, saved: boolean): Promise<void> {
    await this._change([id], { saved });
  }

  /**
   * Dismiss an item: out of the inbox for good.
   */
  async dismiss(id: string): Promise<void> {
    this._patch(new Set([id]), { dismissed: true });
    this._emit();
    await this._guard(() => this._client.dismiss(id));
    void this._recount();
  }

  /**
   * Mark read every notification the current filters admit.
   */
  async markAllRead(): Promise<void> {
    await this._guard(() =>
      this._client.setStateAll(InboxModel.serverFilters(this._filters), {
        read: true
      })
    );
    await this._reload();
  }

  /**
   * Open an item: it is marked read (unless it awaits an acknowledgement,
   * which only its banner's button gives) and `opened` tells the panel.
   */
  async open(notification: IDeliveredNotification): Promise<void> {
    this._opened.emit(notification);
    if (!notification.read && !notification.requireAck) {
      await this.markRead([notification.id], true);
    }
  }

  /**
   * Stop emitting.
   */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._generation++;
    Signal.clearData(this);
  }

  private async _fetch(
    generation: number,
    cursor: string | null,
    append: boolean,
    limit = this._pageSize
  ): Promise<void> {
    const fetching = this._fetchPage(generation, cursor, append, limit);
    this._inflight = fetching;
    try {
      await fetching;
    } finally {
      if (this._inflight === fetching) {
        this._inflight = null;
      }
    }
  }

  private async _fetchPage(
    generation: number,
    cursor: string | null,
    append: boolean,
    limit: number
  ): Promise<void> {
    this._loading++;
    this._emit();
    let page: IInboxPage | null = null;
    try {
      page = await this._client.page({
        filters: InboxModel.serverFilters(this._filters),
        limit,
        cursor
      });
      this._error = null;
    } catch (reason) {
      this._error = errorText(reason);
    } finally {
      this._loading--;
    }
    if (generation !== this._generation || this._disposed) {
      return;
    }
    if (page !== null) {
      this._clock.observe(page.serverTime);
      const fresh = page.notifications.filter(n => !this._has(n.id));
      this._items = append
        ? [...this._items, ...fresh]
        : [...page.notifications];
      this._next = page.next;
      this._counts = { unread: page.unreadCount, total: page.totalCount };
    }
    this._emit();
  }

  private async _reload(): Promise<void> {
    const generation = ++this._generation;
    const limit = Math.min(
      InboxModel.MAX_PAGE,
      Math.max(this._pageSize, this._items.length)
    );
    await this._fetch(generation, null, false, limit);
  }

  private async _loadTopics(generation: number): Promise<void> {
    try {
      const topics = await this._client.topics();
      if (generation === this._generation && !this._disposed) {
        this._topics = topics;
        this._emit();
      }
    } catch {
      // The filter menus keep what they had; the list reports errors.
    }
  }

  private async _recount(): Promise<void> {
    const generation = this._generation;
    try {
      const counts = await this._client.count(
        InboxModel.serverFilters(this._filters)
      );
      if (generation === this._generation && !this._disposed) {
        this._counts = counts;
        this._emit();
      }
    } catch {
      // The next page or state frame brings the counts up to date.
    }
  }

  private async _change(
    ids: ReadonlyArray<string>,
    change: InboxClient.IChange
  ): Promise<void> {
    if (this._patch(new Set(ids), change)) {
      this._emit();
    }
    await this._guard(() => this._client.setState(ids, change));
    void this._recount();
  }

  private async _guard(request: () => Promise<IStateAnswer>): Promise<void> {
    try {
      const answer = await request();
      this._onUnread(answer.unread);
      this._error = null;
    } catch (reason) {
      await this._reload(); // Show what the server really has,
      this._error = errorText(reason); // and why it is not what was asked.
    }
    this._emit();
  }

  private _insert(notification: IDeliveredNotification): boolean {
    if (
      (notification.expiresAt !== undefined &&
        notification.expiresAt <= this._clock.now()) ||
      this._has(notification.id)
    ) {
      return false;
    }
    const superseded = this._items.findIndex(item =>
      InboxModel.sameKey(item, notification)
    );
    const admitted = InboxModel.admits(this._filters, notification);
    if (superseded < 0 && !admitted) {
      return false;
    }
    const counts = { ...this._counts };
    if (superseded >= 0) {
      const old = this._items[superseded];
      this._items = this._items.filter((_, index) => index !== superseded);
      counts.total--;
      counts.unread -= old.read ? 0 : 1;
    }
    if (admitted) {
      this._items = [notification, ...this._items];
      counts.total++;
      counts.unread += notification.read ? 0 : 1;
    }
    this._counts = counts;
    return true;
  }

  private _patch(
    ids: ReadonlySet<string>,
    change: InboxClient.IChange
  ): boolean {
    let changed = false;
    const kept: IDeliveredNotification[] = [];
    for (const item of this._items) {
      if (!ids.has(item.id)) {
        kept.push(item);
        continue;
      }
      changed = true;
      if (change.dismissed) {
        continue;
      }
      const read = change.read ?? item.read;
      kept.push({
        ...item,
        read,
        readAt: read ? (item.readAt ?? this._clock.now()) : null,
        saved: change.saved ?? item.saved
      });
    }
    this._items = kept;
    return changed;
  }

  private _has(id: string): boolean {
    return this._items.some(item => item.id === id);
  }

  private _emit(): void {
    if (!this._disposed) {
      this._changed.emit();
    }
  }

  private _changed = new Signal<this, void>(this);
  private _client: InboxModel.IClient;
  private _clock: ServerClock;
  private _counts: IInboxCount = { unread: 0, total: 0 };
  private _disposed = false;
  private _error: string | null = null;
  private _filters: InboxModel.IFilters = { ...InboxModel.NO_FILTERS };
  private _generation = 0;
  private _isMuted: (notification: IDeliveredNotification) => boolean;
  private _items: IDeliveredNotification[] = [];
  private _inflight: Promise<void> | null = null;
  private _loaded: Promise<void> | null = null;
  private _loading = 0;
  private _next: string | null = null;
  private _onUnread: (unread: number) => void;
  private _opened = new Signal<this, IDeliveredNotification>(this);
  private _pageSize: number;
  private _topics: ITopics = { topics: [], origins: [] };
}

/**
 * A namespace for InboxModel statics.
 */
export namespace InboxModel {
  /**
   * Items asked for per page.
   */
  export const PAGE_SIZE = 30;

  /**
   * How many pages `find` loads at the most.
   */
  export const FIND_PAGES = 10;

  /**
   * The largest page the server gives.
   */
  export const MAX_PAGE = 200;

  /**
   * Which part of the inbox is shown.
   */
  export type Show = 'all' | 'unread' | 'saved';

  /**
   * The filters of the panel; empty texts mean any.
   */
  export interface IFilters {
    /**
     * All, unread only, or saved only.
     */
    readonly show: Show;
    /**
     * One type, or `''` for any.
     */
    readonly type: NotificationType | '';
    /**
     * One topic, or `''` for any.
     */
    readonly topic: string;
    /**
     * One origin, or `''` for any.
     */
    readonly origin: string;
    /**
     * Text to find in the title or message.
     */
    readonly search: string;
  }

  /**
   * The filters of a fresh panel: everything.
   */
  export const NO_FILTERS: IFilters = {
    show: 'all',
    type: '',
    topic: '',
    origin: '',
    search: ''
  };

  /**
   * The part of `InboxClient` the model uses.
   */
  export type IClient = Pick<
    InboxClient,
    'page' | 'count' | 'topics' | 'setState' | 'setStateAll' | 'dismiss'
  >;

  /**
   * The options of a model.
   */
  export interface IOptions {
    /**
     * The inbox API.
     */
    client: IClient;
    /**
     * The server clock (kept in step by the answers).
     */
    clock?: ServerClock;
    /**
     * Items per page (default 30).
     */
    pageSize?: number;
    /**
     * Whether the user muted an item's origin or topic.
     */
    isMuted?: (notification: IDeliveredNotification) => boolean;
    /**
     * Told the inbox's unread count after each change this model makes.
     */
    onUnread?: (unread: number) => void;
  }

  /**
   * The panel's filters as the server's.
   */
  export function serverFilters(filters: IFilters): InboxClient.IFilters {
    return {
      ...(filters.search.trim() ? { search: filters.search.trim() } : {}),
      ...(filters.type ? { type: [filters.type] } : {}),
      ...(filters.topic ? { topic: filters.topic } : {}),
      ...(filters.origin ? { origin: filters.origin } : {}),
      ...(filters.show === 'unread' ? { read: false } : {}),
      ...(filters.show === 'saved' ? { saved: true } : {})
    };
  }

  /**
   * Whether the filters admit a notification, as the server decides it
   * (the text is found in the title or message, whatever the case).
   */
  export function admits(
    filters: IFilters,
    notification: IDeliveredNotification
  ): boolean {
    const needle = filters.search.trim().toLowerCase();
    const text = `${notification.title ?? ''}\n${notification.message}`;
    return (
      (!needle || text.toLowerCase().includes(needle)) &&
      (!filters.type || notification.type === filters.type) &&
      (!filters.topic || notification.topic === filters.topic) &&
      (!filters.origin || notification.origin === filters.origin) &&
      (filters.show !== 'unread' || !notification.read) &&
      (filters.show !== 'saved' || notification.saved)
    );
  }

  /**
   * Whether two notifications share a key (and origin): the later one
   * replaces the earlier.
   */
  export function sameKey(
    a: IDeliveredNotification,
    b: IDeliveredNotification
  ): boolean {
    return a.key !== undefined && a.key === b.key && a.origin === b.origin;
  }
}

function errorText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}
