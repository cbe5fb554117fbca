// Meetings through the server's SFU (the default server), in real Chromium with fake cameras:
// six people each play the five others while sending one camera (in simulcast layers) over
// one connection; a seventh joins and everyone sees it; one leaves and its tile goes; a 26th
// is told the room is full; mute, chat, pin and a shared screen reach the others.
import { test, expect, Page } from '@playwright/test';
import { closeUsers, connected, OwnServer, users } from './support';
import { join, newRoom as roomNamed, playing, seat, tile } from './meetings';

const newRoom = () => roomNamed('sfu');

test.afterEach(closeUsers);

// Small pages: six Chromium pages encode and decode on two cores.
const SMALL = { width: 480, height: 360 };

/** Keeps every RTCPeerConnection a page makes in `window.__pcs`, for its stats. */
async function watchConnections(page: Page) {
  await page.addInitScript(() => {
    const Original = window.RTCPeerConnection;
    const made: RTCPeerConnection[] = [];
    (window as any).__pcs = made;
    window.RTCPeerConnection = function (this: unknown, ...args: any[]) {
      const pc = new (Original as any)(...args);
      made.push(pc);
      return pc;
    } as any;
    window.RTCPeerConnection.prototype = Original.prototype;
  });
}

/** The page's open connections that send video, and the video streams they send. */
async function sending(page: Page) {
  return page.evaluate(async () => {
    const pcs: RTCPeerConnection[] = (window as any).__pcs.filter((pc: RTCPeerConnection) => pc.connectionState !== 'closed');
    const out = [];
    for (const pc of pcs) {
      const report = await pc.getStats();
      const video = [...report.values()].filter((s: any) => s.type === 'outbound-rtp' && s.kind === 'video');
      if (video.length) out.push({ mids: [...new Set(video.map((s: any) => s.mid))], rids: video.map((s: any) => s.rid).sort() });
    }
    return out;
  });
}

test('six people each play the five others over one connection that sends one camera; a seventh joins, one leaves', async ({ browser }) => {
  test.setTimeout(120_000);
  const room = newRoom();
  const names = ['P1', 'P2', 'P3', 'P4', 'P5', 'P6'];
  const pages = await users(browser, 7, SMALL);
  for (const page of pages) await watchConnections(page);
  for (const [i, name] of names.entries()) await join(pages[i], room, name);
  const six = pages.slice(0, 6);
  for (const [i, page] of six.entries()) {
    await expect(page.locator('.meet-tile:not(.mine)')).toHaveCount(5);
    for (const other of names.filter((n) => n !== names[i])) {
      await expect.poll(() => playing(page, other), { message: `${names[i]} plays ${other}`, timeout: 30_000 }).toBe(true);
    }
    await expect(page.getByTestId('count')).toHaveText('6 people in this meeting');
  }
  // One connection sends video, one camera in simulcast layers: not one copy per person.
  for (const page of six) {
    const out = await sending(page);
    expect(out).toHaveLength(1);
    expect(out[0].mids).toHaveLength(1);
    expect(out[0].rids.length).toBeGreaterThanOrEqual(2);
    for (const rid of out[0].rids) expect(['h', 'l', 'm']).toContain(rid);
  }

  await join(pages[6], room, 'P7');
  for (const page of pages) {
    await expect(page.locator('.meet-tile:not(.mine)')).toHaveCount(6);
  }
  for (const page of six) {
    await expect.poll(() => playing(page, 'P7'), { timeout: 30_000 }).toBe(true);
  }

  await pages[2].getByRole('button', { name: 'Leave' }).click();
  for (const page of pages.filter((_, i) => i !== 2)) {
    await expect(tile(page, 'P3')).toHaveCount(0, { timeout: 2_000 });
  }
  // The server's offers that stop P3's tracks left the others' media as they were.
  for (const [page, other] of [[pages[0], 'P7'], [pages[6], 'P1'], [pages[5], 'P2']] as const) {
    await expect.poll(() => playing(page, other), { timeout: 10_000 }).toBe(true);
  }
});

test('the 26th person is told a room of 25 is full', async ({ browser, baseURL }) => {
  const room = newRoom();
  const names = Array.from({ length: 25 }, (_, n) => `Bot ${n + 1}`);
  const sockets = await seat(baseURL!, room, names);
  try {
    const [late] = await users(browser, 1, SMALL);
    await late.goto(`/meet?room=${room}`);
    await connected(late);
    await late.getByLabel('Your name').fill('Late');
    await late.getByRole('button', { name: 'Join' }).click();
    await expect(late.getByRole('alert')).toContainText('This room is full: 25 people');
  } finally {
    for (const socket of sockets) socket.close();
  }
});

test('mute, camera off, chat, pin and a shared screen reach the others through the server', async ({ browser }) => {
  const room = newRoom();
  const [ada, bo, cy] = await users(browser, 3, { width: 900, height: 700 });
  // A "screen" the test can share without the browser's picker: a canvas that changes.
  await ada.addInitScript(() => {
    navigator.mediaDevices.getDisplayMedia = async () => {
      const canvas = document.createElement('canvas');
      canvas.width = 640;
      canvas.height = 360;
      const paint = canvas.getContext('2d')!;
      let n = 0;
      setInterval(() => {
        paint.fillStyle = `hsl(${(n += 7) % 360} 70% 50%)`;
        paint.fillRect(0, 0, 640, 360);
      }, 50);
      return canvas.captureStream(20);
    };
  });
  await join(ada, room, 'Ada');
  await join(bo, room, 'Bo');
  await join(cy, room, 'Cy');
  for (const [page, others] of [[ada, ['Bo', 'Cy']], [bo, ['Ada', 'Cy']], [cy, ['Ada', 'Bo']]] as const) {
    for (const other of others) {
      await expect(tile(page, other)).not.toHaveClass(/waiting/);
      await expect.poll(() => playing(page, other), { timeout: 20_000 }).toBe(true);
    }
  }
  await expect(ada.getByTestId('server-quality')).toContainText(/Through the meeting server: direct · \d+ ms/, { timeout: 10_000 });

  await bo.getByRole('button', { name: 'Mute' }).click();
  await expect(tile(ada, 'Bo').getByTestId('muted')).toBeVisible();
  await expect(tile(cy, 'Bo').getByTestId('muted')).toBeVisible();
  await cy.getByRole('button', { name: 'Camera off' }).click();
  await expect(tile(ada, 'Cy').getByTestId('camera-off')).toBeVisible();

  await ada.getByLabel('Message').fill('hello room');
  await ada.getByRole('button', { name: 'Send' }).click();
  for (const page of [bo, cy]) {
    await expect(page.locator('.chat-log')).toContainText('hello room');
    await expect(page.locator('.chat-log')).toContainText('Ada');
  }

  await bo.getByRole('button', { name: 'Pin' }).first().click();
  await expect(bo.locator('.meet-tile.pinned')).toHaveCount(1);
  await expect(bo.getByRole('button', { name: 'Unpin' })).toHaveCount(1);

  await ada.getByRole('button', { name: 'Share screen' }).click();
  for (const page of [bo, cy]) {
    await expect(page.getByTestId('screen')).toContainText("Ada's screen", { timeout: 15_000 });
    await expect.poll(() => page.getByTestId('Shared screen').evaluate((v: HTMLVideoElement) => v.videoWidth > 0 && !v.paused), { timeout: 15_000 }).toBe(true);
  }
  await ada.getByRole('button', { name: 'Stop sharing' }).click();
  for (const page of [bo, cy]) {
    await expect(page.getByTestId('screen')).toHaveCount(0, { timeout: 10_000 });
  }
});

test.describe('through the relay only', () => {
  // --relay-only: pages may use relayed paths only; no --turn-allow-loopback: the relay
  // refuses loopback peers, all but this server's own SFU.
  const relayed = new OwnServer(4205, ['--turn', '--turn-port', '4206', '--relay-only']);
  test.beforeAll(() => relayed.start());
  test.afterAll(() => relayed.stop());

  test('a browser that reaches the server only through its relay still gets its meeting', async ({ browser }) => {
    const room = newRoom();
    const [ada, bo] = await users(browser, 2, SMALL);
    await join(ada, room, 'Ada', relayed.url);
    await join(bo, room, 'Bo', relayed.url);
    for (const [page, other] of [[ada, 'Bo'], [bo, 'Ada']] as const) {
      await expect.poll(() => playing(page, other), { timeout: 20_000 }).toBe(true);
      await expect(page.getByTestId('server-quality')).toContainText('relayed through the TURN server', { timeout: 10_000 });
    }
  });
});
