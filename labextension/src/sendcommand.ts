import { Notification } from '@jupyterlab/apputils';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { NotificationSender } from './sender';
import { SendDialogBody } from './senddialog';

/**
 * The arguments of `jln:send`, for other extensions.
 */
export const SEND_ARGS_SCHEMA = {
  type: 'object' as const,
  properties: {
    message: {
      type: 'string',
      description: 'The text; without it the dialog opens.'
    },
    type: { type: 'string', description: 'default, info, success, ...' },
    autoClose: {
      type: ['number', 'boolean'],
      description: 'Toast duration in ms, 0 for no toast, false for sticky.'
    },
    title: { type: 'string' },
    link: { type: 'string' },
    key: { type: 'string' },
    users: {
      type: ['array', 'string'],
      items: { type: 'string' },
      description: 'User names, or a comma-separated string.'
    },
    groups: {
      type: ['array', 'string'],
      items: { type: 'string' },
      description: 'Group names, or a comma-separated string.'
    },
    dialog: {
      type: 'boolean',
      description: 'Open the dialog, filled with the other arguments.'
    }
  }
};

/**
 * Run `jln:send`: send at once when a message is given (and no dialog is
 * asked for), else ask with the dialog. Resolves with the ids, or `null`.
 */
export async function sendCommand(
  sender: NotificationSender,
  args: ReadonlyPartialJSONObject
): Promise<string[] | null> {
  const given = NotificationSender.fromArgs(args);
  if (given.message !== '' && args.dialog !== true) {
    return sender.send(given);
  }
  const request = await SendDialogBody.ask(given);
  if (request === null) {
    return null;
  }
  if (request.message === '') {
    Notification.warning('Nothing was sent: the message is empty.', {
      autoClose: 5000
    });
    return null;
  }
  try {
    const ids = await sender.send(request);
    Notification.success('Notification sent.', { autoClose: 3000 });
    return ids;
  } catch (reason) {
    const detail =
      reason instanceof NotificationSender.SendError && reason.field
        ? `${reason.message} (field: ${reason.field})`
        : String(reason instanceof Error ? reason.message : reason);
    Notification.error(`The notification was not sent: ${detail}`, {
      autoClose: false
    });
    return null;
  }
}
