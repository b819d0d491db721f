import { UnreadCount } from '../inbox/unread';
import { TitleBadge } from '../titlebadge';

async function settle(): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, 0)); // mutation observers
}

describe('TitleBadge', () => {
  let unread: UnreadCount;
  let badge: TitleBadge;

  beforeEach(() => {
    document.head.innerHTML = '<title>JupyterLab</title>';
    unread = new UnreadCount({ fetch: async () => ({ unread: 0, total: 0 }) });
    badge = new TitleBadge({ unread });
  });

  afterEach(() => {
    badge.dispose();
    unread.dispose();
  });

  it('leaves the title alone until enabled', () => {
    unread.set(3);
    expect(document.title).toBe('JupyterLab');
    badge.setEnabled(true);
    expect(document.title).toBe('(3) JupyterLab');
  });

  it('follows the count, and shows nothing at 0', () => {
    badge.setEnabled(true);
    unread.set(2);
    expect(document.title).toBe('(2) JupyterLab');
    unread.set(12);
    expect(document.title).toBe('(12) JupyterLab');
    unread.set(0);
    expect(document.title).toBe('JupyterLab');
  });

  it('puts the count back when JupyterLab changes the title', async () => {
    badge.setEnabled(true);
    unread.set(4);
    document.title = 'analysis.ipynb - JupyterLab';
    await settle();
    expect(document.title).toBe('(4) analysis.ipynb - JupyterLab');
  });

  it('gives the title back when disabled or disposed', async () => {
    badge.setEnabled(true);
    unread.set(5);
    badge.setEnabled(false);
    expect(document.title).toBe('JupyterLab');
    document.title = 'notes.md - JupyterLab';
    await settle();
    expect(document.title).toBe('notes.md - JupyterLab');
    badge.setEnabled(true);
    expect(document.title).toBe('(5) notes.md - JupyterLab');
    badge.dispose();
    expect(document.title).toBe('notes.md - JupyterLab');
  });
});
