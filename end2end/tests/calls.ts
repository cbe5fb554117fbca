// What the call tests share: watching a page's peer connections, its video and sound, and
// starting or joining a call on /call.
import { expect, Locator, Page } from '@playwright/test';
import { connected } from './support';

/** Keeps every RTCPeerConnection the page makes in `window.__pcs`, to read its stats. */
export async function keepPeerConnections(page: Page) {
  await page.addInitScript(() => {
    const Original = window.RTCPeerConnection;
    const kept: RTCPeerConnection[] = [];
    (window as any).__pcs = kept;
    window.RTCPeerConnection = class extends Original {
      constructor(config?: RTCConfiguration) {
        super(config);
        kept.push(this);
      }
    } as typeof RTCPeerConnection;
  });
}

/** Bytes of `kind` received by the page's open connections. */
export async function received(page: Page, kind: 'audio' | 'video'): Promise<number> {
  return page.evaluate(async (kind) => {
    let bytes = 0;
    for (const pc of (window as any).__pcs as RTCPeerConnection[]) {
      if (pc.connectionState !== 'connected') continue;
      (await pc.getStats()).forEach((s: any) => {
        if (s.type === 'inbound-rtp' && s.kind === kind) bytes += s.bytesReceived ?? 0;
      });
    }
    return bytes;
  }, kind);
}

export async function expectMovingVideo(page: Page, label: string) {
  await expectVideoMoves(page.getByTestId(label));
}

/** The video shows frames, and they keep coming. */
export async function expectVideoMoves(video: Locator, timeout = 20_000) {
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.videoWidth), { timeout }).toBeGreaterThan(0);
  const t0 = await video.evaluate((v: HTMLVideoElement) => v.currentTime);
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.currentTime), { timeout: 10_000 }).toBeGreaterThan(t0 + 0.2);
}

/** Video and sound arrive on `page` (both keep growing). */
export async function hearsAndSees(page: Page) {
  await expectMovingVideo(page, 'Their camera');
  for (const kind of ['audio', 'video'] as const) {
    const before = await received(page, kind);
    await expect.poll(() => received(page, kind), { message: `${kind} arrives` }).toBeGreaterThan(before);
  }
}

/** Starts a call from /call; the path of its link (the link itself names this server). */
export async function startCall(page: Page, server = ''): Promise<string> {
  await page.goto(`${server}/call`);
  await page.getByRole('button', { name: 'Start a call' }).click();
  await connected(page);
  await expect(page.getByTestId('call-state')).toHaveText('Waiting for someone to open the link…');
  const link = new URL((await page.getByTestId('invite-url').getAttribute('href'))!);
  expect(link.search).toMatch(/^\?c=[a-z2-7]{26}$/);
  return `${link.pathname}${link.search}`;
}

export async function inCall(page: Page) {
  await expect(page.getByTestId('call-state')).toHaveText('In a call', { timeout: 20_000 });
}
