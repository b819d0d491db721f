import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { isNotificationType, NOTIFICATION_TYPES } from './model';
import { NotificationSender } from './sender';

/**
 * The body of the "Send Notification" dialog: a plain form built with DOM
 * calls and `textContent` only.
 */
export class SendDialogBody
  extends Widget
  implements Dialog.IBodyWidget<NotificationSender.IRequest>
{
  /**
   * Construct the form, filled with what the command was given.
   */
  constructor(initial: Partial<NotificationSender.IRequest> = {}) {
    super();
    this.addClass('jln-SendDialog');
    this._message.value = initial.message ?? '';
    this._message.rows = 4;
    this._message.maxLength = SendDialogBody.MAX_MESSAGE;
    this._title.value = initial.title ?? '';
    this._link.value = initial.link ?? '';
    this._link.type = 'url';
    this._users.value = (initial.users ?? []).join(', ');
    this._groups.value = (initial.groups ?? []).join(', ');
    for (const type of NOTIFICATION_TYPES) {
      this._type.appendChild(option(type, type));
    }
    this._type.value = initial.type ?? 'info';
    for (const [value, label] of SendDialogBody.DURATIONS) {
      this._autoClose.appendChild(option(value, label));
    }
    this._autoClose.value = SendDialogBody.durationValue(initial.autoClose);

    // The form does not show these; a command's arguments still go through.
    this._hidden = {
      ...(initial.key ? { key: initial.key } : {}),
      ...(initial.topic ? { topic: initial.topic } : {}),
      ...(initial.data !== undefined ? { data: initial.data } : {})
    };

    this._addField('Message', this._message);
    this._addField('Title (optional)', this._title);
    this._addField('Type', this._type);
    this._addField('Toast', this._autoClose);
    this._addField('Link (optional, http or https)', this._link);
    this._addField('Users (comma-separated)', this._users);
    this._addField('Groups (comma-separated)', this._groups);
    const hint = document.createElement('div');
    hint.className = 'jln-SendDialog-hint';
    hint.textContent = 'No users and no groups: everyone receives it.';
    this.node.appendChild(hint);
  }

  /**
   * The request described by the form.
   */
  getValue(): NotificationSender.IRequest {
    const request: NotificationSender.IRequest = {
      message: this._message.value.trim(),
      type: isNotificationType(this._type.value) ? this._type.value : 'info',
      autoClose: SendDialogBody.parseDuration(this._autoClose.value),
      ...this._hidden
    };
    const title = this._title.value.trim();
    if (title) {
      request.title = title;
    }
    const link = this._link.value.trim();
    if (link) {
      request.link = link;
    }
    const users = NotificationSender.toList(this._users.value);
    if (users.length > 0) {
      request.users = users;
    }
    const groups = NotificationSender.toList(this._groups.value);
    if (groups.length > 0) {
      request.groups = groups;
    }
    return request;
  }

  /**
   * Put the focus on the message when the dialog opens.
   */
  protected onAfterAttach(): void {
    this._message.focus();
  }

  private _addField(text: string, input: HTMLElement): void {
    const label = document.createElement('label');
    const caption = document.createElement('span');
    caption.textContent = text;
    label.appendChild(caption);
    label.appendChild(input);
    this.node.appendChild(label);
  }

  private _autoClose = document.createElement('select');
  private _groups = document.createElement('input');
  private _hidden: Pick<NotificationSender.IRequest, 'key' | 'topic' | 'data'>;
  private _link = document.createElement('input');
  private _message = document.createElement('textarea');
  private _title = document.createElement('input');
  private _type = document.createElement('select');
  private _users = document.createElement('input');
}

/**
 * A namespace for SendDialogBody statics.
 */
export namespace SendDialogBody {
  /**
   * The longest message the form accepts.
   */
  export const MAX_MESSAGE = 2000;

  /**
   * The toast durations offered, as (option value, label).
   */
  export const DURATIONS: ReadonlyArray<[string, string]> = [
    ['5000', 'for 5 seconds'],
    ['10000', 'for 10 seconds'],
    ['30000', 'for 30 seconds'],
    ['false', 'until dismissed'],
    ['0', 'no toast (notification center only)']
  ];

  /**
   * The option value for an `autoClose`.
   */
  export function durationValue(autoClose: number | false | undefined): string {
    const value = autoClose === undefined ? '5000' : String(autoClose);
    return DURATIONS.some(([known]) => known === value) ? value : '5000';
  }

  /**
   * The `autoClose` of an option value.
   */
  export function parseDuration(value: string): number | false {
    if (value === 'false') {
      return false;
    }
    const ms = Number(value);
    return Number.isFinite(ms) && ms >= 0 ? ms : 5000;
  }

  /**
   * Show the dialog; resolves with the request, or `null` when cancelled.
   */
  export async function ask(
    initial: Partial<NotificationSender.IRequest> = {}
  ): Promise<NotificationSender.IRequest | null> {
    const result = await showDialog({
      title: 'Send Notification',
      body: new SendDialogBody(initial),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Send' })],
      focusNodeSelector: 'textarea'
    });
    return result.button.accept && result.value ? result.value : null;
  }
}

function option(value: string, label: string): HTMLOptionElement {
  const element = document.createElement('option');
  element.value = value;
  element.textContent = label;
  return element;
}
