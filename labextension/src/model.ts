import type { ReadonlyJSONObject } from '@lumino/coreutils';

/**
 * The notification types JupyterLab knows, in increasing order of urgency.
 */
export const NOTIFICATION_TYPES = [
  'default',
  'info',
  'success',
  'in-progress',
  'warning',
  'error'
] as const;

/**
 * The type of a notification.
 */
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

/**
 * The display types of a notification action button.
 */
export type ActionDisplayType = 'default' | 'accent' | 'warn' | 'link';

/**
 * An action button attached to a notification, as the server sends it.
 */
export interface INotificationAction {
  /**
   * The button label.
   */
  readonly label: string;
  /**
   * The longer description shown as the button tooltip.
   */
  readonly caption: string;
  /**
   * How the button looks.
   */
  readonly displayType: ActionDisplayType;
  /**
   * A URL to open in a new tab (http and https only).
   */
  readonly link?: string;
  /**
   * A JupyterLab command to run (only if the settings allow it).
   */
  readonly commandId?: string;
  /**
   * The arguments of the command.
   */
  readonly args?: ReadonlyJSONObject;
}

/**
 * Where a notification was sent from: its return address.
 */
export type INotificationSource =
  | {
      /**
       * Sent from a kernel of a notebook.
       */
      readonly kind: 'notebook';
      /**
       * The notebook's path, relative to the server root.
       */
      readonly path: string;
      /**
       * The id of the cell that sent it, when known.
       */
      readonly cellId?: string;
    }
  | {
      /**
       * Sent from a JupyterLab terminal.
       */
      readonly kind: 'terminal';
      /**
       * The terminal's name.
       */
      readonly name: string;
    };

/**
 * A notification delivered by the JLN server.
 */
export interface IDeliveredNotification {
  /**
   * Unique id: `<stream>/<stream entry id>`.
   */
  readonly id: string;
  /**
   * The stream the notification was read from.
   */
  readonly stream: string;
  /**
   * Creation time, in milliseconds of the server clock.
   */
  readonly createdAt: number;
  /**
   * The text to show (plain text, never HTML).
   */
  readonly message: string;
  /**
   * The notification type.
   */
  readonly type: NotificationType;
  /**
   * Milliseconds before the toast hides; `0` means no toast; `false` means sticky.
   */
  readonly autoClose: number | false;
  /**
   * An optional title shown before the message.
   */
  readonly title?: string;
  /**
   * Who sent the notification.
   */
  readonly origin?: string;
  /**
   * A topic for grouping.
   */
  readonly topic?: string;
  /**
   * A URL the notification is about.
   */
  readonly link?: string;
  /**
   * Notifications sharing a key replace each other in place.
   */
  readonly key?: string;
  /**
   * After this time (server clock, ms) the notification is no longer shown.
   */
  readonly expiresAt?: number;
  /**
   * Scheduled delivery: not shown before this time (server clock, ms).
   */
  readonly notBefore?: number;
  /**
   * Users of the audience who do not get the notification.
   */
  readonly excludeUsers?: ReadonlyArray<string>;
  /**
   * Whether it shows as a banner until it expires or a later notification
   * with its key withdraws it; it cannot be dismissed (present when true).
   */
  readonly pinned?: boolean;
  /**
   * Whether its banner stays until the user acknowledges it (marks it read
   * by its id); it then is pinned too (present when true).
   */
  readonly requireAck?: boolean;
  /**
   * Where it was sent from (a notebook cell, a terminal): the browser offers
   * to open it.
   */
  readonly source?: INotificationSource;
  /**
   * Action buttons.
   */
  readonly actions?: ReadonlyArray<INotificationAction>;
  /**
   * Free data for other extensions.
   */
  readonly data?: ReadonlyJSONObject;
  /**
   * Whether this user has read it (`false` from servers that do not say).
   */
  readonly read: boolean;
  /**
   * Whether this user has saved it (`false` from servers that do not say).
   */
  readonly saved: boolean;
  /**
   * When this user read it (server clock, ms); `null` when unread or unknown.
   */
  readonly readAt: number | null;
}

/**
 * The first frame of every WebSocket connection.
 */
export interface IHelloFrame {
  /**
   * The frame type.
   */
  readonly type: 'hello';
  /**
   * The wire version of the server; `0` for servers older than the inbox.
   */
  readonly version: number;
  /**
   * The server's cursor at connection time; `null` while the server has not
   * read the broker yet (a notifications frame brings one later).
   */
  readonly cursor: string | null;
  /**
   * The server clock, in milliseconds.
   */
  readonly serverTime: number;
  /**
   * The poll interval the server suggests, in seconds.
   */
  readonly pollInterval: number;
  /**
   * The user the server identified.
   */
  readonly user: string;
  /**
   * How many notifications of the inbox are unread (`0` from old servers).
   */
  readonly unread: number;
  /**
   * Whether the server can read the broker (reachable from old servers).
   */
  readonly broker: IBrokerState;
}

/**
 * Whether the server can read the notification broker, and if not, why.
 */
export interface IBrokerState {
  /**
   * Whether it can.
   */
  readonly reachable: boolean;
  /**
   * Why not, `null` when reachable.
   */
  readonly reason: string | null;
}

/**
 * The server lost or regained the broker.
 */
export interface IBrokerFrame extends IBrokerState {
  /**
   * The frame type.
   */
  readonly type: 'broker';
}

/**
 * Per stream, notifications after the client's cursor that are no longer
 * held (trimmed, deleted, or of an earlier epoch of the streams).
 */
export type Gaps = {
  readonly [stream: string]: {
    /**
     * The position the client resumed after.
     */
    readonly after: string;
    /**
     * The oldest entry still held, `null` when none is.
     */
    readonly resumedAt: string | null;
  };
};

/**
 * Sent before a replay that cannot be whole.
 */
export interface IGapFrame {
  /**
   * The frame type.
   */
  readonly type: 'gap';
  /**
   * What was lost, per stream.
   */
  readonly streams: Gaps;
}

/**
 * A batch of notifications (replay or live).
 */
export interface INotificationsFrame {
  /**
   * The frame type.
   */
  readonly type: 'notifications';
  /**
   * The notifications, oldest first.
   */
  readonly notifications: ReadonlyArray<IDeliveredNotification>;
  /**
   * The cursor just after the last notification of the batch.
   */
  readonly cursor: string;
  /**
   * The server clock, in milliseconds.
   */
  readonly serverTime: number;
}

/**
 * The read, saved or dismissed state of notifications changed, in this tab or
 * another one of the same user.
 */
export interface IStateFrame {
  /**
   * The frame type.
   */
  readonly type: 'state';
  /**
   * The ids whose state changed.
   */
  readonly ids: ReadonlyArray<string>;
  /**
   * Present and `true` when the change was asked for every notification
   * matching some filters rather than for a list of ids.
   */
  readonly all?: boolean;
  /**
   * The new read state, when it changed.
   */
  readonly read?: boolean;
  /**
   * The new saved state, when it changed.
   */
  readonly saved?: boolean;
  /**
   * Present and `true` when the notifications were dismissed (and so read).
   */
  readonly dismissed?: boolean;
  /**
   * How many notifications of the inbox are unread after the change.
   */
  readonly unread: number;
}

/**
 * A frame the server sends over the WebSocket.
 */
export type ServerFrame =
  IHelloFrame | INotificationsFrame | IStateFrame | IBrokerFrame | IGapFrame;

/**
 * The version of the wire shapes this client reads (`WIRE_VERSION` of the
 * server's `jln_server/wire.py`, sent in the hello).
 */
export const WIRE_VERSION = 1;

/**
 * The answer of the poll endpoint.
 */
export interface IPollResponse {
  /**
   * The notifications, oldest first.
   */
  readonly notifications: ReadonlyArray<IDeliveredNotification>;
  /**
   * The cursor to pass as `since` next time.
   */
  readonly cursor: string;
  /**
   * The server clock, in milliseconds.
   */
  readonly serverTime: number;
  /**
   * The poll interval the server suggests, in seconds.
   */
  readonly pollInterval: number;
  /**
   * Whether more notifications wait after this page.
   */
  readonly more: boolean;
  /**
   * What after `since` is no longer held, per stream (empty when whole).
   */
  readonly gap: Gaps;
}

/**
 * A page of the inbox: `GET jln/api/notifications` without `since`.
 */
export interface IInboxPage {
  /**
   * The notifications of the page, in the order asked for.
   */
  readonly notifications: ReadonlyArray<IDeliveredNotification>;
  /**
   * The `cursor` argument of the next page; `null` on the last page.
   */
  readonly next: string | null;
  /**
   * How many notifications the filters admit, on every page.
   */
  readonly totalCount: number;
  /**
   * How many of those are unread.
   */
  readonly unreadCount: number;
  /**
   * Where the live feed stands now: a `since` for the poll endpoint.
   */
  readonly cursor: string;
  /**
   * The server clock, in milliseconds.
   */
  readonly serverTime: number;
  /**
   * The poll interval the server suggests, in seconds.
   */
  readonly pollInterval: number;
}

/**
 * The answer of `GET jln/api/notifications/count`.
 */
export interface IInboxCount {
  /**
   * How many notifications the filters admit are unread.
   */
  readonly unread: number;
  /**
   * How many notifications the filters admit.
   */
  readonly total: number;
}

/**
 * The answer of a state change (`POST jln/api/notifications/state`, or
 * `DELETE jln/api/notifications/{id}`).
 */
export interface IStateAnswer {
  /**
   * How many notifications changed state.
   */
  readonly updated: number;
  /**
   * How many notifications of the inbox are unread after the change.
   */
  readonly unread: number;
}

/**
 * A topic or an origin of the inbox, with its counts.
 */
export interface ITopicCount {
  /**
   * The topic or origin.
   */
  readonly name: string;
  /**
   * How many notifications of the inbox carry it.
   */
  readonly count: number;
  /**
   * How many of those are unread.
   */
  readonly unread: number;
}

/**
 * The answer of `GET jln/api/topics`, each list sorted by name.
 */
export interface ITopics {
  /**
   * The topics of the inbox.
   */
  readonly topics: ReadonlyArray<ITopicCount>;
  /**
   * The origins of the inbox.
   */
  readonly origins: ReadonlyArray<ITopicCount>;
}

/**
 * A user who has read a notification.
 */
export interface IReceiptRead {
  /**
   * The user name.
   */
  readonly user: string;
  /**
   * When they read it (ms); `null` when it counts as read because it came
   * before their server first read the stream.
   */
  readonly readAt: number | null;
}

/**
 * Who has read a notification: `GET jln/api/notifications/{id}/receipts`.
 */
export interface IReceipts {
  /**
   * The notification id.
   */
  readonly id: string;
  /**
   * The users who have read it, sorted by name.
   */
  readonly read: ReadonlyArray<IReceiptRead>;
  /**
   * The users who have not, sorted by name.
   */
  readonly unread: ReadonlyArray<{ readonly user: string }>;
}

/**
 * The body of every refusal of the server.
 */
export interface IErrorBody {
  /**
   * What is wrong, in words.
   */
  readonly error: string;
  /**
   * The input it is about, `null` when none.
   */
  readonly field: string | null;
}

/**
 * Parse one WebSocket text frame; `null` when it is not a frame we know.
 */
export function parseFrame(text: string): ServerFrame | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(value)) {
    return null;
  }
  switch (value.type) {
    case 'hello':
      return parseHello(value);
    case 'notifications':
      return parseNotificationsFrame(value);
    case 'state':
      return parseStateFrame(value);
    case 'broker':
      return typeof value.reachable === 'boolean'
        ? { type: 'broker', ...parseBrokerState(value) }
        : null;
    case 'gap':
      return { type: 'gap', streams: parseGaps(value.streams) };
    default:
      return null;
  }
}

/**
 * Check the body of a poll answer; `null` when it is malformed.
 */
export function parsePollResponse(value: unknown): IPollResponse | null {
  if (
    !isObject(value) ||
    !Array.isArray(value.notifications) ||
    typeof value.cursor !== 'string' ||
    !isFiniteNumber(value.serverTime)
  ) {
    return null;
  }
  return {
    notifications: parseNotifications(value.notifications),
    cursor: value.cursor,
    serverTime: value.serverTime,
    pollInterval: isFiniteNumber(value.pollInterval) ? value.pollInterval : 0,
    more: value.more === true,
    gap: parseGaps(value.gap)
  };
}

/**
 * Check the body of an inbox page; `null` when it is malformed.
 */
export function parseInboxPage(value: unknown): IInboxPage | null {
  if (
    !isObject(value) ||
    !Array.isArray(value.notifications) ||
    typeof value.cursor !== 'string' ||
    !isFiniteNumber(value.serverTime) ||
    !isCount(value.totalCount) ||
    !isCount(value.unreadCount)
  ) {
    return null;
  }
  const next = value.next;
  if (next !== undefined && next !== null && typeof next !== 'string') {
    return null;
  }
  return {
    notifications: parseNotifications(value.notifications),
    next: typeof next === 'string' && next !== '' ? next : null,
    totalCount: value.totalCount,
    unreadCount: value.unreadCount,
    cursor: value.cursor,
    serverTime: value.serverTime,
    pollInterval: isFiniteNumber(value.pollInterval) ? value.pollInterval : 0
  };
}

/**
 * Check the body of a count answer; `null` when it is malformed.
 */
export function parseInboxCount(value: unknown): IInboxCount | null {
  if (!isObject(value) || !isCount(value.unread) || !isCount(value.total)) {
    return null;
  }
  return { unread: value.unread, total: value.total };
}

/**
 * Check the body of a state-change answer; `null` when it is malformed.
 */
export function parseStateAnswer(value: unknown): IStateAnswer | null {
  if (!isObject(value) || !isCount(value.updated) || !isCount(value.unread)) {
    return null;
  }
  return { updated: value.updated, unread: value.unread };
}

/**
 * Check the body of a topics answer, dropping malformed entries; `null` when
 * a list is missing.
 */
export function parseTopics(value: unknown): ITopics | null {
  if (
    !isObject(value) ||
    !Array.isArray(value.topics) ||
    !Array.isArray(value.origins)
  ) {
    return null;
  }
  return {
    topics: keep(value.topics, parseTopicCount),
    origins: keep(value.origins, parseTopicCount)
  };
}

/**
 * Check the body of a receipts answer, dropping malformed entries; `null`
 * when the id or a list is missing.
 */
export function parseReceipts(value: unknown): IReceipts | null {
  if (
    !isObject(value) ||
    typeof value.id !== 'string' ||
    value.id === '' ||
    !Array.isArray(value.read) ||
    !Array.isArray(value.unread)
  ) {
    return null;
  }
  return {
    id: value.id,
    read: keep(value.read, entry =>
      isObject(entry) && typeof entry.user === 'string'
        ? {
            user: entry.user,
            readAt: isFiniteNumber(entry.readAt) ? entry.readAt : null
          }
        : null
    ),
    unread: keep(value.unread, entry =>
      isObject(entry) && typeof entry.user === 'string'
        ? { user: entry.user }
        : null
    )
  };
}

/**
 * Check the body of a refusal; `null` when it is not one (no `error` text).
 */
export function parseErrorBody(value: unknown): IErrorBody | null {
  if (!isObject(value) || typeof value.error !== 'string') {
    return null;
  }
  return {
    error: value.error,
    field: typeof value.field === 'string' ? value.field : null
  };
}

/**
 * Keep the well-formed notifications of a list, dropping the others.
 */
export function parseNotifications(
  values: ReadonlyArray<unknown>
): IDeliveredNotification[] {
  const result: IDeliveredNotification[] = [];
  for (const value of values) {
    const notification = parseNotification(value);
    if (notification) {
      result.push(notification);
    } else {
      console.warn('JLN: ignoring a malformed notification', value);
    }
  }
  return result;
}

/**
 * Check one notification; `null` when a required field is missing or wrong.
 */
export function parseNotification(
  value: unknown
): IDeliveredNotification | null {
  if (
    !isObject(value) ||
    typeof value.id !== 'string' ||
    value.id === '' ||
    typeof value.message !== 'string' ||
    !isFiniteNumber(value.createdAt)
  ) {
    return null;
  }
  const autoClose = value.autoClose;
  const notification: IDeliveredNotification = {
    id: value.id,
    stream: typeof value.stream === 'string' ? value.stream : '',
    createdAt: value.createdAt,
    message: value.message,
    type: isNotificationType(value.type) ? value.type : 'default',
    autoClose:
      autoClose === false || isFiniteNumber(autoClose) ? autoClose : 5000,
    ...optionalString(value, 'title'),
    ...optionalString(value, 'origin'),
    ...optionalString(value, 'topic'),
    ...optionalString(value, 'link'),
    ...optionalString(value, 'key'),
    ...(isFiniteNumber(value.expiresAt) ? { expiresAt: value.expiresAt } : {}),
    ...(isFiniteNumber(value.notBefore) ? { notBefore: value.notBefore } : {}),
    ...optionalNames(value, 'excludeUsers'),
    ...(value.pinned === true || value.requireAck === true
      ? { pinned: true }
      : {}),
    ...(value.requireAck === true ? { requireAck: true } : {}),
    ...optionalSource(value.source),
    ...(Array.isArray(value.actions)
      ? { actions: parseActions(value.actions) }
      : {}),
    ...(isObject(value.data) ? { data: value.data as ReadonlyJSONObject } : {}),
    read: value.read === true,
    saved: value.saved === true,
    readAt: isFiniteNumber(value.readAt) ? value.readAt : null
  };
  return notification;
}

/**
 * Whether a value is one of the notification types.
 */
export function isNotificationType(value: unknown): value is NotificationType {
  return (
    typeof value === 'string' &&
    (NOTIFICATION_TYPES as ReadonlyArray<string>).includes(value)
  );
}

/**
 * Keep the well-formed actions of a list.
 */
function parseActions(values: ReadonlyArray<unknown>): INotificationAction[] {
  const result: INotificationAction[] = [];
  for (const value of values) {
    if (!isObject(value) || typeof value.label !== 'string') {
      continue;
    }
    const displayType = value.displayType;
    result.push({
      label: value.label,
      caption: typeof value.caption === 'string' ? value.caption : '',
      displayType:
        displayType === 'accent' ||
        displayType === 'warn' ||
        displayType === 'link'
          ? displayType
          : 'default',
      ...optionalString(value, 'link'),
      ...optionalString(value, 'commandId'),
      ...(isObject(value.args)
        ? { args: value.args as ReadonlyJSONObject }
        : {})
    });
  }
  return result;
}

type JsonObject = { readonly [key: string]: unknown };

function parseHello(value: JsonObject): IHelloFrame | null {
  if (
    (typeof value.cursor !== 'string' && value.cursor !== null) ||
    !isFiniteNumber(value.serverTime)
  ) {
    return null;
  }
  return {
    type: 'hello',
    version: isFiniteNumber(value.version) ? value.version : 0,
    cursor: value.cursor,
    serverTime: value.serverTime,
    pollInterval: isFiniteNumber(value.pollInterval) ? value.pollInterval : 0,
    user: typeof value.user === 'string' ? value.user : '',
    unread: isCount(value.unread) ? value.unread : 0,
    broker: isObject(value.broker)
      ? parseBrokerState(value.broker)
      : { reachable: true, reason: null }
  };
}

function parseBrokerState(value: JsonObject): IBrokerState {
  const reachable = value.reachable !== false;
  return {
    reachable,
    reason: reachable || typeof value.reason !== 'string' ? null : value.reason
  };
}

function parseGaps(value: unknown): Gaps {
  const gaps: { [stream: string]: Gaps[string] } = {};
  if (isObject(value)) {
    for (const [stream, gap] of Object.entries(value)) {
      if (isObject(gap) && typeof gap.after === 'string') {
        gaps[stream] = {
          after: gap.after,
          resumedAt: typeof gap.resumedAt === 'string' ? gap.resumedAt : null
        };
      }
    }
  }
  return gaps;
}

function parseNotificationsFrame(
  value: JsonObject
): INotificationsFrame | null {
  if (
    !Array.isArray(value.notifications) ||
    typeof value.cursor !== 'string' ||
    !isFiniteNumber(value.serverTime)
  ) {
    return null;
  }
  return {
    type: 'notifications',
    notifications: parseNotifications(value.notifications),
    cursor: value.cursor,
    serverTime: value.serverTime
  };
}

function parseStateFrame(value: JsonObject): IStateFrame | null {
  if (!Array.isArray(value.ids) || !isCount(value.unread)) {
    return null;
  }
  return {
    type: 'state',
    ids: value.ids.filter(isNonEmptyString),
    ...(value.all === true ? { all: true } : {}),
    ...optionalBoolean(value, 'read'),
    ...optionalBoolean(value, 'saved'),
    ...optionalBoolean(value, 'dismissed'),
    unread: value.unread
  };
}

function optionalSource(value: unknown): { source?: INotificationSource } {
  if (!isObject(value)) {
    return {};
  }
  if (value.kind === 'notebook' && isNonEmptyString(value.path)) {
    return {
      source: {
        kind: 'notebook',
        path: value.path,
        ...(isNonEmptyString(value.cellId) ? { cellId: value.cellId } : {})
      }
    };
  }
  if (value.kind === 'terminal' && isNonEmptyString(value.name)) {
    return { source: { kind: 'terminal', name: value.name } };
  }
  return {};
}

function parseTopicCount(value: unknown): ITopicCount | null {
  if (
    !isObject(value) ||
    typeof value.name !== 'string' ||
    !isCount(value.count) ||
    !isCount(value.unread)
  ) {
    return null;
  }
  return { name: value.name, count: value.count, unread: value.unread };
}

function keep<T>(
  values: ReadonlyArray<unknown>,
  parse: (value: unknown) => T | null
): T[] {
  const result: T[] = [];
  for (const value of values) {
    const parsed = parse(value);
    if (parsed !== null) {
      result.push(parsed);
    }
  }
  return result;
}

function optionalBoolean(
  value: JsonObject,
  name: string
): { [key: string]: boolean } {
  const field = value[name];
  return typeof field === 'boolean' ? { [name]: field } : {};
}

function optionalNames(
  value: JsonObject,
  name: string
): { [key: string]: string[] } {
  const field = value[name];
  const names = Array.isArray(field) ? field.filter(isNonEmptyString) : [];
  return names.length > 0 ? { [name]: names } : {};
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function optionalString(
  value: JsonObject,
  name: string
): { [key: string]: string } {
  const field = value[name];
  return typeof field === 'string' && field !== '' ? { [name]: field } : {};
}

function isObject(value: unknown): value is { [key: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
