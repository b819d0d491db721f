import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type {
  PartialJSONObject,
  ReadonlyJSONObject,
  ReadonlyPartialJSONObject
} from '@lumino/coreutils';

import { isNotificationType, NotificationType } from './model';

/**
 * Sends notifications through the JLN server's REST endpoint.
 */
export class NotificationSender {
  /**
   * Construct a sender.
   */
  constructor(options: NotificationSender.IOptions = {}) {
    this._settings = options.settings ?? ServerConnection.makeSettings();
  }

  /**
   * Post a notification; resolves with the ids the server gave it.
   *
   * @throws {NotificationSender.SendError} when the server refuses it.
   */
  async send(request: NotificationSender.IRequest): Promise<string[]> {
    const url = URLExt.join(this._settings.baseUrl, 'jln/api/notifications');
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(
        url,
        {
          method: 'POST',
          body: JSON.stringify(NotificationSender.toBody(request)),
          headers: { 'Content-Type': 'application/json' }
        },
        this._settings
      );
    } catch (reason) {
      throw new NotificationSender.SendError(
        `cannot reach the server: ${String(reason)}`,
        0
      );
    }
    const body = await readJson(response);
    if (!response.ok) {
      const error =
        typeof body.error === 'string' ? body.error : `HTTP ${response.status}`;
      const field = typeof body.field === 'string' ? body.field : undefined;
      throw new NotificationSender.SendError(error, response.status, field);
    }
    const ids = Array.isArray(body.ids)
      ? body.ids.filter((id): id is string => typeof id === 'string')
      : [];
    return ids;
  }

  private _settings: ServerConnection.ISettings;
}

/**
 * A namespace for NotificationSender statics.
 */
export namespace NotificationSender {
  /**
   * A notification to send, and to whom.
   */
  export interface IRequest {
    /**
     * The text (plain text).
     */
    message: string;
    /**
     * The type (default `info`).
     */
    type?: NotificationType;
    /**
     * Toast duration in ms, `0` for no toast, `false` for sticky.
     */
    autoClose?: number | false;
    /**
     * A title shown before the message.
     */
    title?: string;
    /**
     * A URL the notification is about.
     */
    link?: string;
    /**
     * A key: later notifications with the same key replace this one.
     */
    key?: string;
    /**
     * A topic for grouping.
     */
    topic?: string;
    /**
     * Recipients by user name; none and no groups means everyone.
     */
    users?: string[];
    /**
     * Recipients by group.
     */
    groups?: string[];
    /**
     * Free data.
     */
    data?: ReadonlyJSONObject;
  }

  /**
   * The options of a sender.
   */
  export interface IOptions {
    /**
     * The server settings; defaults to `ServerConnection.makeSettings()`.
     */
    settings?: ServerConnection.ISettings;
  }

  /**
   * A refusal from the server, or a failure to reach it.
   */
  export class SendError extends Error {
    /**
     * Construct an error.
     */
    constructor(
      message: string,
      readonly status: number,
      readonly field?: string
    ) {
      super(message);
      this.name = 'SendError';
    }
  }

  /**
   * The JSON body of a request, without empty fields.
   */
  export function toBody(request: IRequest): PartialJSONObject {
    const body: PartialJSONObject = { message: request.message };
    if (request.type !== undefined) {
      body.type = request.type;
    }
    if (request.autoClose !== undefined) {
      body.autoClose = request.autoClose;
    }
    for (const name of ['title', 'link', 'key', 'topic'] as const) {
      const value = request[name];
      if (value) {
        body[name] = value;
      }
    }
    if (request.users && request.users.length > 0) {
      body.users = request.users;
    }
    if (request.groups && request.groups.length > 0) {
      body.groups = request.groups;
    }
    if (request.data !== undefined) {
      body.data = request.data as PartialJSONObject;
    }
    return body;
  }

  /**
   * Read a request from command arguments (other extensions call `jln:send`).
   *
   * Lists may be arrays or comma-separated strings. Returns what could be
   * read; `message` is `''` when absent.
   */
  export function fromArgs(args: ReadonlyPartialJSONObject): IRequest {
    const request: IRequest = {
      message: typeof args.message === 'string' ? args.message : ''
    };
    if (isNotificationType(args.type)) {
      request.type = args.type;
    }
    const autoClose = args.autoClose;
    if (autoClose === false) {
      request.autoClose = false;
    } else if (typeof autoClose === 'number' && Number.isFinite(autoClose)) {
      request.autoClose = Math.max(0, autoClose);
    }
    for (const name of ['title', 'link', 'key', 'topic'] as const) {
      const value = args[name];
      if (typeof value === 'string' && value !== '') {
        request[name] = value;
      }
    }
    const users = toList(args.users);
    if (users.length > 0) {
      request.users = users;
    }
    const groups = toList(args.groups);
    if (groups.length > 0) {
      request.groups = groups;
    }
    const data = args.data;
    if (typeof data === 'object' && data !== null && !Array.isArray(data)) {
      request.data = data as ReadonlyJSONObject;
    }
    return request;
  }

  /**
   * Split a comma-separated list, or keep the strings of an array.
   */
  export function toList(value: unknown): string[] {
    const items =
      typeof value === 'string'
        ? value.split(',')
        : Array.isArray(value)
          ? value.filter((item): item is string => typeof item === 'string')
          : [];
    return items.map(item => item.trim()).filter(item => item !== '');
  }
}

async function readJson(
  response: Response
): Promise<{ [key: string]: unknown }> {
  try {
    const body: unknown = await response.json();
    return typeof body === 'object' && body !== null && !Array.isArray(body)
      ? (body as { [key: string]: unknown })
      : {};
  } catch {
    return {};
  }
}
