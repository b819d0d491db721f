import { sendCommand } from '../sendcommand';
import { SendDialogBody } from '../senddialog';
import { NotificationSender } from '../sender';
import { serverSettings } from './fakes';

function recordingSender() {
  const bodies: unknown[] = [];
  const fetch = async (input: RequestInfo, init?: RequestInit) => {
    bodies.push(await new Request(input, init).json());
    return new Response(JSON.stringify({ ids: ['jln:broadcast/1-0'] }), {
      status: 201,
      headers: { 'Content-Type': 'application/json' }
    });
  };
  const sender = new NotificationSender({
    settings: serverSettings({ fetch })
  });
  return { sender, bodies };
}

describe('jln:send', () => {
  it('sends at once when another extension gives a message, without a dialog', async () => {
    const { sender, bodies } = recordingSender();
    const ids = await sendCommand(sender, {
      message: 'Backup done',
      type: 'success',
      autoClose: 0,
      groups: 'ops, admins'
    });
    expect(ids).toEqual(['jln:broadcast/1-0']);
    expect(bodies).toEqual([
      {
        message: 'Backup done',
        type: 'success',
        autoClose: 0,
        groups: ['ops', 'admins']
      }
    ]);
    expect(document.querySelector('.jp-Dialog')).toBeNull();
  });

  it('keeps the key, topic and data it was given when the dialog is asked for', async () => {
    const { sender, bodies } = recordingSender();
    const ask = jest
      .spyOn(SendDialogBody, 'ask')
      .mockImplementation(async initial => {
        // The user presses Send without changing the form.
        const body = new SendDialogBody(initial);
        const value = body.getValue();
        body.dispose();
        return value;
      });
    try {
      await sendCommand(sender, {
        message: 'Build 42 running',
        key: 'build-42',
        topic: 'ci',
        data: { build: 42 },
        dialog: true
      });
    } finally {
      ask.mockRestore();
    }
    expect(bodies).toEqual([
      {
        message: 'Build 42 running',
        type: 'info',
        autoClose: 5000,
        key: 'build-42',
        topic: 'ci',
        data: { build: 42 }
      }
    ]);
  });

  it('rejects with the refused field when the server says no', async () => {
    const fetch = () =>
      Promise.resolve(
        new Response(
          JSON.stringify({ error: 'no such user', field: 'users' }),
          {
            status: 403
          }
        )
      );
    const sender = new NotificationSender({
      settings: serverSettings({ fetch })
    });
    const error = await sendCommand(sender, {
      message: 'x',
      users: ['z']
    }).catch(reason => reason);
    expect(error).toBeInstanceOf(NotificationSender.SendError);
    expect(error.field).toBe('users');
  });
});

describe('SendDialogBody', () => {
  it('has the fields of a notification and its audience, and reads them back', () => {
    const body = new SendDialogBody({
      message: 'Maintenance at 18:00',
      type: 'warning',
      autoClose: false,
      users: ['bob', 'carol'],
      groups: ['ops']
    });
    const labels = Array.from(body.node.querySelectorAll('label > span')).map(
      span => span.textContent
    );
    expect(labels).toEqual([
      'Message',
      'Title (optional)',
      'Type',
      'Toast',
      'Link (optional, http or https)',
      'Users (comma-separated)',
      'Groups (comma-separated)'
    ]);
    expect(body.getValue()).toEqual({
      message: 'Maintenance at 18:00',
      type: 'warning',
      autoClose: false,
      users: ['bob', 'carol'],
      groups: ['ops']
    });
    body.dispose();
  });

  it('builds its form as text: a message with markup stays text', () => {
    const body = new SendDialogBody({ message: '<b>hi</b>' });
    expect(body.node.querySelector('b')).toBeNull();
    expect(body.getValue().message).toBe('<b>hi</b>');
    body.dispose();
  });
});
