import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  IInboxCount,
  IInboxPage,
  IStateAnswer,
  ITopics,
  NotificationType,
  parseErrorBody,
  parseInboxCount,
  parseInboxPage,
  parseStateAnswer,
  parseTopics
} from '../model';

/**
 * The inbox API of the JLN server: pages, counts, topics and state changes.
 *
 * Every request goes through `ServerConnection.makeRequest`, so it carries
 * the host's authentication (token or cookie with its XSRF header). Answers
 * are checked with the parsers of `model.ts`; a refusal becomes a
 * `RequestError` naming the field the server named.
 */
export class InboxClient {
  /**
   * Construct a client on the server's settings.
   */
  constructor(options: InboxClient.IOptions) {
    this._settings = options.settings;
  }

  /**
   * One page of the inbox, newest first.
   */
  async page(query: InboxClient.IQuery = {}): Promise<IInboxPage> {
    const args = InboxClient.filterArguments(query.filters ?? {});
    if (query.limit !== undefined) {
      args.push(['limit', String(query.limit)]);
    }
    if (query.cursor) {
      args.push(['cursor', query.cursor]);
    }
    return this._get('jln/api/notifications', args, parseInboxPage);
  }

  /**
   * How many notifications the filters admit, and how many are unread.
   */
  async count(filters: InboxClient.IFilters = {}): Promise<IInboxCount> {
    return this._get(
      'jln/api/notifications/count',
      InboxClient.filterArguments(filters),
      parseInboxCount
    );
  }

  /**
   * The topics and origins of the inbox, with their counts.
   */
  async topics(): Promise<ITopics> {
    return this._get('jln/api/topics', [], parseTopics);
  }

  /**
   * Change the state of some notifications.
   */
  async setState(
    ids: ReadonlyArray<string>,
    change: InboxClient.IChange
  ): Promise<IStateAnswer> {
    return this._send('POST', 'jln/api/notifications/state', {
      ids: [...ids],
      ...change
    });
  }

  /**
   * Change the state of every notification the filters admit.
   */
  async setStateAll(
    filters: InboxClient.IFilters,
    change: InboxClient.IChange
  ): Promise<IStateAnswer> {
    const nested: { [name: string]: string | boolean | string[] } = {};
    for (const [name, value] of Object.entries(filters)) {
      if (value !== undefined && value !== '') {
        nested[name] = Array.isArray(value) ? [...value] : value;
      }
    }
    return this._send('POST', 'jln/api/notifications/state', {
      all: true,
      filters: nested,
      ...change
    });
  }

  /**
   * Dismiss one notification: out of the inbox for good.
   */
  async dismiss(id: string): Promise<IStateAnswer> {
    return this._send(
      'DELETE',
      `jln/api/notifications/${encodeURIComponent(id)}`
    );
  }

  private async _get<T>(
    path: string,
    args: Array<[string, string]>,
    parse: (value: unknown) => T | null
  ): Promise<T> {
    const query = args
      .map(([name, value]) => `${name}=${encodeURIComponent(value)}`)
      .join('&');
    const url =
      URLExt.join(this._settings.baseUrl, path) + (query ? `?${query}` : '');
    return this._request(url, { method: 'GET' }, parse);
  }

  private async _send(
    method: 'POST' | 'DELETE',
    path: string,
    body?: object
  ): Promise<IStateAnswer> {
    const url = URLExt.join(this._settings.baseUrl, path);
    const init: RequestInit =
      body === undefined
        ? { method }
        : {
            method,
            body: JSON.stringify(body),
            headers: { 'Content-Type': 'application/json' }
          };
    return this._request(url, init, parseStateAnswer);
  }

  private async _request<T>(
    url: string,
    init: RequestInit,
    parse: (value: unknown) => T | null
  ): Promise<T> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this._settings);
    } catch (reason) {
      throw new InboxClient.RequestError(
        `cannot reach the server: ${String(reason)}`,
        0,
        null
      );
    }
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      // Not JSON: the status alone tells what happened.
    }
    if (!response.ok) {
      const refusal = parseErrorBody(body);
      throw new InboxClient.RequestError(
        refusal?.error || `HTTP ${response.status}`,
        response.status,
        refusal?.field ?? null
      );
    }
    const parsed = parse(body);
    if (parsed === null) {
      throw new InboxClient.RequestError(
        'the server sent a malformed answer',
        response.status,
        null
      );
    }
    return parsed;
  }

  private _settings: ServerConnection.ISettings;
}

/**
 * A namespace for InboxClient statics.
 */
export namespace InboxClient {
  /**
   * The options of a client.
   */
  export interface IOptions {
    /**
     * The server settings, usually `app.serviceManager.serverSettings`.
     */
    settings: ServerConnection.ISettings;
  }

  /**
   * The inbox filters (the list's query arguments); absent means any.
   */
  export interface IFilters {
    /**
     * Text to find in the title or message.
     */
    readonly search?: string;
    /**
     * Only these types.
     */
    readonly type?: ReadonlyArray<NotificationType>;
    /**
     * Only this topic.
     */
    readonly topic?: string;
    /**
     * Only from this origin.
     */
    readonly origin?: string;
    /**
     * Only read (`true`) or unread (`false`) ones.
     */
    readonly read?: boolean;
    /**
     * Only saved (`true`) or unsaved (`false`) ones.
     */
    readonly saved?: boolean;
    /**
     * Only pinned (`true`) or unpinned (`false`) ones.
     */
    readonly pinned?: boolean;
  }

  /**
   * What page to ask for.
   */
  export interface IQuery {
    /**
     * The filters.
     */
    readonly filters?: IFilters;
    /**
     * The page size (the server's default when absent).
     */
    readonly limit?: number;
    /**
     * The `next` of the previous page.
     */
    readonly cursor?: string | null;
  }

  /**
   * A state change; absent parts stay as they are.
   */
  export interface IChange {
    /**
     * Mark read or unread.
     */
    readonly read?: boolean;
    /**
     * Save or unsave.
     */
    readonly saved?: boolean;
    /**
     * Dismiss.
     */
    readonly dismissed?: boolean;
  }

  /**
   * A request the server refused or that did not reach it.
   */
  export class RequestError extends Error {
    /**
     * Construct an error.
     */
    constructor(
      message: string,
      readonly status: number,
      readonly field: string | null
    ) {
      super(message);
      this.name = 'InboxClient.RequestError';
    }
  }

  /**
   * The filters as query arguments, in a stable order.
   */
  export function filterArguments(filters: IFilters): Array<[string, string]> {
    const args: Array<[string, string]> = [];
    for (const type of filters.type ?? []) {
      args.push(['type', type]);
    }
    for (const name of ['search', 'topic', 'origin'] as const) {
      const value = filters[name];
      if (value) {
        args.push([name, value]);
      }
    }
    for (const name of ['read', 'saved', 'pinned'] as const) {
      const value = filters[name];
      if (value !== undefined) {
        args.push([name, String(value)]);
      }
    }
    return args;
  }
}
