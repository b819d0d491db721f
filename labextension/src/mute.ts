import type { IDeliveredNotification } from './model';

/**
 * The person's mute rules: the origins and topics whose notifications do not
 * raise a toast or an OS notification (they still reach the inbox).
 *
 * Rules match exactly, case included. The rules are a snapshot of the
 * settings: the `mute*` and `unmute*` methods return the new setting list to
 * write, and a new `MuteRules` is built when the settings change.
 */
export class MuteRules {
  /**
   * Construct the rules from the settings.
   */
  constructor(settings: Partial<MuteRules.ISettings> = {}) {
    this._origins = new Set(settings.mutedOrigins ?? []);
    this._topics = new Set(settings.mutedTopics ?? []);
  }

  /**
   * Whether a notification is muted by its origin or its topic.
   */
  isMuted(notification: IDeliveredNotification): boolean {
    const { origin, topic } = notification;
    return (
      (origin !== undefined && this._origins.has(origin)) ||
      (topic !== undefined && this._topics.has(topic))
    );
  }

  /**
   * Whether the notifications of an origin are muted.
   */
  isOriginMuted(origin: string): boolean {
    return this._origins.has(origin);
  }

  /**
   * Whether the notifications of a topic are muted.
   */
  isTopicMuted(topic: string): boolean {
    return this._topics.has(topic);
  }

  /**
   * The `mutedOrigins` setting with an origin added.
   */
  muteOrigin(origin: string): string[] {
    return withItem(this._origins, origin);
  }

  /**
   * The `mutedOrigins` setting with an origin removed.
   */
  unmuteOrigin(origin: string): string[] {
    return withoutItem(this._origins, origin);
  }

  /**
   * The `mutedTopics` setting with a topic added.
   */
  muteTopic(topic: string): string[] {
    return withItem(this._topics, topic);
  }

  /**
   * The `mutedTopics` setting with a topic removed.
   */
  unmuteTopic(topic: string): string[] {
    return withoutItem(this._topics, topic);
  }

  private _origins: ReadonlySet<string>;
  private _topics: ReadonlySet<string>;
}

/**
 * A namespace for MuteRules statics.
 */
export namespace MuteRules {
  /**
   * The mute settings, as the settings registry keeps them.
   */
  export interface ISettings {
    /**
     * Origins whose notifications are muted.
     */
    readonly mutedOrigins: ReadonlyArray<string>;
    /**
     * Topics whose notifications are muted.
     */
    readonly mutedTopics: ReadonlyArray<string>;
  }

  /**
   * Read the mute settings from a settings object of unknown shape (a
   * missing or malformed list is empty; entries that are not strings are
   * left out).
   */
  export function readSettings(composite: unknown): ISettings {
    const source =
      typeof composite === 'object' && composite !== null
        ? (composite as Record<string, unknown>)
        : {};
    return {
      mutedOrigins: strings(source.mutedOrigins),
      mutedTopics: strings(source.mutedTopics)
    };
  }
}

/**
 * The strings of a value that should be a list of strings.
 */
function strings(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((item): item is string => typeof item === 'string')
    : [];
}

/**
 * The items of a set, with one more at the end.
 */
function withItem(items: ReadonlySet<string>, item: string): string[] {
  return items.has(item) ? [...items] : [...items, item];
}

/**
 * The items of a set, but one.
 */
function withoutItem(items: ReadonlySet<string>, item: string): string[] {
  return [...items].filter(other => other !== item);
}
