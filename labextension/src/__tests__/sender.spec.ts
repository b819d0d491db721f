import { NotificationSender } from '../sender';
import { serverSettings } from './fakes';

function fakeFetch(status: number, body: unknown) {
  const requests: Request[] = [];
  const fetch = (input: RequestInfo, init?: RequestInit) => {
    requests.push(new Request(input, init));
    return Promise.resolve(
      new Response(JSON.stringify(body), {
        status,
        headers: { 'Content-Type': 'application/json' }
      })
    );
  };
  return { fetch, requests };
}

describe('NotificationSender', () => {
  it('posts the notification and its recipients, and returns the ids', async () => {
    const { fetch, requests } = fakeFetch(201, { ids: ['jln:user:bob/1-0'] });
    const sender = new NotificationSender({
      settings: serverSettings({ fetch })
    });
    const ids = await sender.send({
      message: 'Maintenance at 18:00',
      type: 'warning',
      autoClose: false,
      users: ['bob'],
      groups: []
    });
    expect(ids).toEqual(['jln:user:bob/1-0']);
    expect(requests).toHaveLength(1);
    expect(requests[0].method).toBe('POST');
    const url = new URL(requests[0].url);
    expect(url.origin + url.pathname).toBe(
      'http://localhost:8888/user/alice/jln/api/notifications'
    );
    expect(requests[0].headers.get('Authorization')).toBe('token secret-token');
    expect(await requests[0].json()).toEqual({
      message: 'Maintenance at 18:00',
      type: 'warning',
      autoClose: false,
      users: ['bob']
    });
  });

  it('reports the refused field', async () => {
    const { fetch } = fakeFetch(400, {
      error: 'type: must be one of ...',
      field: 'type'
    });
    const sender = new NotificationSender({
      settings: serverSettings({ fetch })
    });
    const error = await sender.send({ message: 'x' }).catch(e => e);
    expect(error).toBeInstanceOf(NotificationSender.SendError);
    expect(error.status).toBe(400);
    expect(error.field).toBe('type');
    expect(error.message).toBe('type: must be one of ...');
  });

  it('reads command arguments, lists as arrays or comma-separated', () => {
    expect(
      NotificationSender.fromArgs({
        message: 'hi',
        type: 'success',
        autoClose: 0,
        users: 'bob, carol,,',
        groups: ['ops', 3 as unknown as string],
        title: ''
      })
    ).toEqual({
      message: 'hi',
      type: 'success',
      autoClose: 0,
      users: ['bob', 'carol'],
      groups: ['ops']
    });
    expect(NotificationSender.fromArgs({ type: 'nonsense' })).toEqual({
      message: ''
    });
  });
});
