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
   * Action buttons.
   */
  readonly actions?: ReadonlyArray<INotificationAction>;
  /**
   * Free data for other extensions.
   */
  readonly data?: ReadonlyJSONObject;
}

/**
 * The first frame of every WebSocket connection.
 */
export interface IHelloFrame {
  readonly type: 'hello';
  /**
   * The server's cursor at connection time.
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
   * The user the server identified.
   */
  readonly user: string;
}

/**
 * A batch of notifications (replay or live).
 */
export interface INotificationsFrame {
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
 * A frame the server sends over the WebSocket.
 */
export type ServerFrame = IHelloFrame | INotificationsFrame;

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
  if (
    value.type === 'hello' &&
    typeof value.cursor === 'string' &&
    isFiniteNumber(value.serverTime)
  ) {
    return {
      type: 'hello',
      cursor: value.cursor,
      serverTime: value.serverTime,
      pollInterval: isFiniteNumber(value.pollInterval) ? value.pollInterval : 0,
      user: typeof value.user === 'string' ? value.user : ''
    };
  }
  if (
    value.type === 'notifications' &&
    Array.isArray(value.notifications) &&
    typeof value.cursor === 'string' &&
    isFiniteNumber(value.serverTime)
  ) {
    return {
      type: 'notifications',
      notifications: parseNotifications(value.notifications),
      cursor: value.cursor,
      serverTime: value.serverTime
    };
  }
  return null;
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
    more: value.more === true
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
    ...(Array.isArray(value.actions)
      ? { actions: parseActions(value.actions) }
      : {}),
    ...(isObject(value.data) ? { data: value.data as ReadonlyJSONObject } : {})
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

function optionalString(
  value: { readonly [key: string]: unknown },
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
