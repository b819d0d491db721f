import type { IDeliveredNotification } from './model';

/**
 * The person's mute rules: the origins and topics whose notifications do not
 * raise a toast or an OS notification (they still reach the inbox).
 *
 * Rules match exactly, case included. The rules are a snapshot of the
 * settings: `toggled` returns the new setting list to write, and a new
 * `MuteRules` is built when the settings change.
 */
export class MuteRules {
  /**
   * Construct the rules from the settings.
   */
  constructor(settings: Partial<MuteRules.ISettings> = {}) {
    this._muted = {
      origin: new Set(settings.mutedOrigins ?? []),
      topic: new Set(settings.mutedTopics ?? [])
    };
  }

  /**
   * Whether a notification is muted by its origin or its topic.
   */
  isMuted(notification: IDeliveredNotification): boolean {
    return MuteRules.KINDS.some(kind => {
      const name = notification[kind];
      return name !== undefined && this._muted[kind].has(name);
    });
  }

  /**
   * Whether the notifications of an origin (or a topic) are muted.
   */
  has(kind: MuteRules.Kind, name: string): boolean {
    return this._muted[kind].has(name);
  }

  /**
   * The setting list of that kind (`MuteRules.SETTINGS[kind]`) with the name
   * muted when it was not, unmuted when it was.
   */
  toggled(kind: MuteRules.Kind, name: string): string[] {
    const names = this._muted[kind];
    return names.has(name)
      ? [...names].filter(other => other !== name)
      : [...names, name];
  }

  private _muted: { readonly [kind in MuteRules.Kind]: ReadonlySet<string> };
}

/**
 * A namespace for MuteRules statics.
 */
export namespace MuteRules {
  /**
   * What a rule mutes by.
   */
  export type Kind = 'origin' | 'topic';

  /**
   * Every kind of rule.
   */
  export const KINDS: ReadonlyArray<Kind> = ['origin', 'topic'];

  /**
   * The setting that holds the rules of each kind.
   */
  export const SETTINGS: { readonly [kind in Kind]: keyof ISettings } = {
    origin: 'mutedOrigins',
    topic: 'mutedTopics'
  };

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
