import { UUID } from '@lumino/coreutils';
import type { IDisposable } from '@lumino/disposable';

/**
 * Chooses, among the open tabs of one JupyterLab, the one that shows toasts.
 *
 * A person with several tabs of the same JupyterLab should see a notification
 * once, in the tab they are looking at; the other tabs still file it in their
 * center and inbox. The tabs talk over a browser channel (no server round
 * trip): each announces its focus and visibility when they change, a
 * heartbeat, and its leaving on `pagehide`. Every tab keeps the table of live
 * tabs and applies the same rule to it, so each decision is immediate and
 * all tabs agree once the latest announcements have arrived.
 *
 * The rule: the focused tab; else the visible tab most recently focused; else
 * the tab most recently focused; ties broken by id. A lone tab is chosen.
 *
 * Browsers may slow the timers of hidden tabs to a beat a minute, so a hidden
 * tab can drop out of the others' tables for a while. Only the choice among
 * hidden tabs (OS notifications) can then be made twice; those carry the
 * notification id as their tag, so the browser shows them once.
 */
export class TabElection implements IDisposable {
  /**
   * Join the tabs sharing the channel name and start the heartbeat.
   */
  constructor(options: TabElection.IOptions) {
    this._now = options.now ?? (() => Date.now());
    this._page = options.page ?? TabElection.browserPage();
    const heartbeatMs = options.heartbeatMs ?? 2000;
    this._timeoutMs = options.timeoutMs ?? 3.5 * heartbeatMs;
    this._self = {
      id: options.id ?? UUID.uuid4(),
      ...this._sample(),
      focusedAt: 0
    };
    if (this._self.focused) {
      this._self = { ...this._self, focusedAt: this._now() };
    }
    for (const type of PAGE_EVENTS) {
      this._page.addEventListener(type, this._onPageEvent);
    }
    const open = options.openChannel ?? TabElection.openChannel;
    this._channel = open(options.channelName, data => this._receive(data));
    this._channel.post({ kind: 'join', tab: this._self });
    this._timer = setInterval(() => this._beat(), heartbeatMs);
  }

  /**
   * This tab's id, unique among the tabs of the channel.
   */
  get id(): string {
    return this._self.id;
  }

  /**
   * Whether the election has been left.
   */
  get isDisposed(): boolean {
    return this._disposed;
  }

  /**
   * Whether this tab is the one to raise toasts now.
   */
  shouldToast(): boolean {
    return elect(this._liveTabs()).id === this._self.id;
  }

  /**
   * Whether this tab is the one to raise an OS notification now: true in
   * exactly one tab, and only when no tab of this JupyterLab is visible.
   */
  shouldNotifyDesktop(): boolean {
    const tabs = this._liveTabs();
    return !tabs.some(tab => tab.visible) && elect(tabs).id === this._self.id;
  }

  /**
   * Leave the election: announce it, close the channel, stop listening.
   */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    clearInterval(this._timer);
    for (const type of PAGE_EVENTS) {
      this._page.removeEventListener(type, this._onPageEvent);
    }
    this._channel.post({ kind: 'leave', id: this._self.id });
    this._channel.close();
    this._others.clear();
  }

  /**
   * This tab and the others heard from within the timeout.
   */
  private _liveTabs(): TabElection.ITabState[] {
    const oldest = this._now() - this._timeoutMs;
    const tabs = [this._self];
    for (const { tab, seenAt } of this._others.values()) {
      if (seenAt >= oldest) {
        tabs.push(tab);
      }
    }
    return tabs;
  }

  /**
   * Read the page's focus and visibility.
   */
  private _sample(): Pick<TabElection.ITabState, 'focused' | 'visible'> {
    const visible = this._page.visibilityState === 'visible';
    return { focused: visible && this._page.hasFocus(), visible };
  }

  /**
   * Take up a change of the page; announce it if it changed anything.
   */
  private _refresh(): boolean {
    const { focused, visible } = this._sample();
    const before = this._self;
    if (focused === before.focused && visible === before.visible) {
      return false;
    }
    const focusedAt =
      focused && !before.focused ? this._now() : before.focusedAt;
    this._self = { id: before.id, focused, visible, focusedAt };
    return true;
  }

  /**
   * The heartbeat: read the page again (focus leaving from inside an iframe
   * fires no event here), announce this tab, forget the tabs gone silent.
   */
  private _beat(): void {
    this._refresh();
    this._channel.post({ kind: 'state', tab: this._self });
    const oldest = this._now() - this._timeoutMs;
    for (const [id, { seenAt }] of this._others) {
      if (seenAt < oldest) {
        this._others.delete(id);
      }
    }
  }

  /**
   * Handle a message of another tab.
   */
  private _receive(data: unknown): void {
    const message = TabElection.parseMessage(data);
    if (this._disposed || !message) {
      return;
    }
    if (message.kind === 'leave') {
      this._others.delete(message.id);
      return;
    }
    if (message.tab.id === this._self.id) {
      return;
    }
    this._others.set(message.tab.id, { tab: message.tab, seenAt: this._now() });
    if (message.kind === 'join') {
      this._channel.post({ kind: 'state', tab: this._self });
    }
  }

  private _onPageEvent = (event: Event): void => {
    if (event.type === 'pagehide') {
      this._channel.post({ kind: 'leave', id: this._self.id });
    } else if (this._refresh()) {
      this._channel.post({ kind: 'state', tab: this._self });
    }
  };

  private _channel: TabElection.IChannel;
  private _disposed = false;
  private _now: () => number;
  private _others = new Map<
    string,
    { tab: TabElection.ITabState; seenAt: number }
  >();
  private _page: TabElection.IPage;
  private _self: TabElection.ITabState;
  private _timeoutMs: number;
  private _timer: ReturnType<typeof setInterval>;
}

/**
 * A namespace for TabElection statics.
 */
export namespace TabElection {
  /**
   * The options of a tab election.
   */
  export interface IOptions {
    /**
     * The channel shared by the tabs of one JupyterLab and one user (build
     * it from the base URL and the user name).
     */
    channelName: string;
    /**
     * This tab's id; a random UUID by default.
     */
    id?: string;
    /**
     * The page whose focus and visibility count; the browser's by default.
     */
    page?: IPage;
    /**
     * Open the channel; `TabElection.openChannel` by default.
     */
    openChannel?: ChannelFactory;
    /**
     * The clock, in milliseconds; `Date.now` by default.
     */
    now?: () => number;
    /**
     * Milliseconds between two announcements of this tab; 2000 by default.
     */
    heartbeatMs?: number;
    /**
     * Milliseconds of silence after which a tab counts as gone; 3.5
     * heartbeats by default.
     */
    timeoutMs?: number;
  }

  /**
   * What a tab announces of itself.
   */
  export interface ITabState {
    /**
     * The tab's id.
     */
    readonly id: string;
    /**
     * Whether the tab has the focus.
     */
    readonly focused: boolean;
    /**
     * Whether the tab is visible.
     */
    readonly visible: boolean;
    /**
     * When the tab last gained the focus (ms); 0 if never.
     */
    readonly focusedAt: number;
  }

  /**
   * A message between tabs: a new tab asks the others to announce
   * themselves, a tab announces its state, a tab leaves.
   */
  export type IMessage =
    | { readonly kind: 'join' | 'state'; readonly tab: ITabState }
    | { readonly kind: 'leave'; readonly id: string };

  /**
   * The page events the election listens to.
   */
  export type PageEvent = 'focus' | 'blur' | 'visibilitychange' | 'pagehide';

  /**
   * The focus and visibility of a page, and their change events.
   */
  export interface IPage {
    /**
     * Whether the page has the focus (as `document.hasFocus()`).
     */
    hasFocus(): boolean;
    /**
     * The page's visibility (as `document.visibilityState`).
     */
    readonly visibilityState: DocumentVisibilityState;
    /**
     * Listen to a page event.
     */
    addEventListener(type: PageEvent, listener: (event: Event) => void): void;
    /**
     * Stop listening to a page event.
     */
    removeEventListener(
      type: PageEvent,
      listener: (event: Event) => void
    ): void;
  }

  /**
   * A channel to the other tabs (messages are not echoed to the sender).
   */
  export interface IChannel {
    /**
     * Send a message to the other tabs.
     */
    post(message: IMessage): void;
    /**
     * Stop sending and receiving.
     */
    close(): void;
  }

  /**
   * Open a named channel, calling `onMessage` with what other tabs post.
   */
  export type ChannelFactory = (
    name: string,
    onMessage: (data: unknown) => void
  ) => IChannel;

  /**
   * The browser's page: focus and visibility of `document`, focus, blur and
   * pagehide events of `window`.
   */
  export function browserPage(): IPage {
    const targetOf = (type: PageEvent): EventTarget =>
      type === 'visibilitychange' ? document : window;
    return {
      hasFocus: () => document.hasFocus(),
      get visibilityState() {
        return document.visibilityState;
      },
      addEventListener: (type, listener) =>
        targetOf(type).addEventListener(type, listener),
      removeEventListener: (type, listener) =>
        targetOf(type).removeEventListener(type, listener)
    };
  }

  /**
   * Open a channel with `BroadcastChannel`; else with `storage` events of
   * `localStorage`; else a silent channel (the tab then acts alone).
   */
  export const openChannel: ChannelFactory = (name, onMessage) => {
    if (typeof BroadcastChannel !== 'undefined') {
      return broadcastChannel(name, onMessage);
    }
    try {
      return storageChannel(name, onMessage, window.localStorage, window);
    } catch {
      return { post: () => undefined, close: () => undefined };
    }
  };

  /**
   * A channel over `BroadcastChannel`.
   */
  export function broadcastChannel(
    name: string,
    onMessage: (data: unknown) => void
  ): IChannel {
    const channel = new BroadcastChannel(name);
    channel.onmessage = event => onMessage(event.data);
    return {
      post: message => channel.postMessage(message),
      close: () => channel.close()
    };
  }

  /**
   * A channel over `storage` events: a message is written to the key `name`
   * and removed at once; other tabs receive the written value in their
   * `storage` event.
   */
  export function storageChannel(
    name: string,
    onMessage: (data: unknown) => void,
    storage: Pick<Storage, 'setItem' | 'removeItem'>,
    target: EventTarget
  ): IChannel {
    const listener = (event: Event): void => {
      const { key, newValue } = event as StorageEvent;
      if (key !== name || !newValue) {
        return;
      }
      try {
        onMessage((JSON.parse(newValue) as { message: unknown }).message);
      } catch {
        // Not ours: ignore it.
      }
    };
    target.addEventListener('storage', listener);
    return {
      post: message => {
        try {
          const nonce = UUID.uuid4();
          storage.setItem(name, JSON.stringify({ message, nonce }));
          storage.removeItem(name);
        } catch {
          // Storage full or refused: the other tabs hear the next beat.
        }
      },
      close: () => target.removeEventListener('storage', listener)
    };
  }

  /**
   * Check a message received from another tab; `null` if malformed.
   */
  export function parseMessage(data: unknown): IMessage | null {
    if (!isRecord(data)) {
      return null;
    }
    if (data.kind === 'leave') {
      return typeof data.id === 'string'
        ? { kind: 'leave', id: data.id }
        : null;
    }
    if (data.kind !== 'join' && data.kind !== 'state') {
      return null;
    }
    const tab = data.tab;
    if (
      !isRecord(tab) ||
      typeof tab.id !== 'string' ||
      typeof tab.focused !== 'boolean' ||
      typeof tab.visible !== 'boolean' ||
      typeof tab.focusedAt !== 'number' ||
      !Number.isFinite(tab.focusedAt)
    ) {
      return null;
    }
    return {
      kind: data.kind,
      tab: {
        id: tab.id,
        focused: tab.focused,
        visible: tab.visible,
        focusedAt: tab.focusedAt
      }
    };
  }
}

/**
 * The page events the election listens to.
 */
const PAGE_EVENTS: ReadonlyArray<TabElection.PageEvent> = [
  'focus',
  'blur',
  'visibilitychange',
  'pagehide'
];

/**
 * Apply the rule: focused first, then visible, then the latest focus, then
 * the smallest id.
 */
function elect(
  tabs: ReadonlyArray<TabElection.ITabState>
): TabElection.ITabState {
  return tabs.reduce((best, tab) => (ranksAbove(tab, best) ? tab : best));
}

/**
 * Whether tab `a` ranks above tab `b`.
 */
function ranksAbove(
  a: TabElection.ITabState,
  b: TabElection.ITabState
): boolean {
  if (a.focused !== b.focused) {
    return a.focused;
  }
  if (a.visible !== b.visible) {
    return a.visible;
  }
  if (a.focusedAt !== b.focusedAt) {
    return a.focusedAt > b.focusedAt;
  }
  return a.id < b.id;
}

/**
 * Whether a value is a plain object.
 */
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
