// WebRTC with Chromium's fake camera, on loopback only (no ICE servers needed).
import { test, expect, Page, Browser } from '@playwright/test';
import { closeUsers, connected, OwnServer, users } from './support';

test.afterEach(closeUsers);

// Real media in several browser pages at once is heavy on a two-core machine: give each test
// room to breathe.
test.describe.configure({ timeout: 60_000 });

/** Resolves once the video has decoded frames and its time keeps advancing. */
async function expectMovingVideo(page: Page, label: string) {
  const video = page.getByTestId(label);
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.videoWidth), { timeout: 20_000 }).toBeGreaterThan(0);
  const t0 = await video.evaluate((v: HTMLVideoElement) => v.currentTime);
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.currentTime), { timeout: 10_000 }).toBeGreaterThan(t0 + 0.2);
}

async function idOf(page: Page) {
  await expect(page.getByTestId('my-id')).not.toHaveText('');
  return (await page.getByTestId('my-id').textContent())!;
}

async function oneWay(browser: Browser, sender: string, receiver: string) {
  const [rx, tx] = await users(browser, 2);
  await rx.goto(receiver);
  await connected(rx);
  const rxId = await idOf(rx);
  await tx.goto(sender);
  await connected(tx);
  await expectMovingVideo(tx, 'My camera');
  await tx.getByLabel('Peer').selectOption(rxId);
  await expectMovingVideo(rx, 'Their camera');
  return { rx, tx };
}

test('raw sender to receiver shows moving video', async ({ browser }) => {
  await oneWay(browser, '/webrtc/sender', '/webrtc/receiver');
});

test('the same one-way call through Peer, with a quality line on both pages', async ({ browser }) => {
  const { tx, rx } = await oneWay(browser, '/webrtc/peer-sender', '/webrtc/peer-receiver');
  await expect(tx.getByTestId('status')).toHaveText(/^Connected to /);
  // Both sides say how the call goes: on loopback a direct path and its round trip.
  for (const page of [tx, rx]) {
    await expect(page.getByTestId('peer-quality')).toHaveText(/^direct · \d+ ms · \d+\.\d% lost/, { timeout: 10_000 });
  }
  await expect(rx.getByTestId('peer-quality')).toHaveText(/[1-9]\d* kbit\/s$/);
});

test('the webcam page shows the fake camera and switches resolution', async ({ page }) => {
  await page.goto('/webcam');
  await expectMovingVideo(page, 'My camera');
  await expect(page.getByTestId('actual-size')).toHaveText(/^640 × 480/);
  await page.getByLabel('Resolution').selectOption('1280x720');
  await expect(page.getByTestId('actual-size')).toHaveText(/^1280 × 720/);
  await expect.poll(() => page.getByTestId('My camera').evaluate((v: HTMLVideoElement) => v.videoWidth)).toBe(1280);
  await page.getByLabel('Resolution').selectOption('320x240');
  await expect(page.getByTestId('actual-size')).toHaveText(/^320 × 240/);
  await page.getByRole('button', { name: 'Back' }).click();
  await expect(page.getByRole('button', { name: 'Back' })).toHaveAttribute('aria-pressed', 'true');
  await expectMovingVideo(page, 'My camera');
});

test('a denied camera is explained on the page', async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  // Make getUserMedia fail the way a user's "Block" does.
  await page.addInitScript(() => {
    navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
  });
  await page.goto('/webcam');
  await expect(page.getByTestId('camera-problem')).toContainText('Camera access was denied');
});

test('on a server others can reach, the course pages say everyone can see them and point to a private call', async ({ browser, page }) => {
  // The shared test server listens on loopback only: no such line there.
  await page.goto('/webrtc/receiver');
  await connected(page);
  await expect(page.getByTestId('public-lobby')).toHaveCount(0);
  const server = new OwnServer(4186, ['--public-url', 'https://switchboard.example.org', '--no-ice-servers']);
  await server.start();
  try {
    const [visitor] = await users(browser, 1);
    for (const path of ['/webrtc/sender', '/webrtc/peer-receiver']) {
      await visitor.goto(`${server.url}${path}`);
      await expect(visitor.getByTestId('public-lobby')).toContainText('Everyone on this server can see you');
      await visitor.getByRole('link', { name: 'start a private call' }).click();
      await expect(visitor.getByRole('button', { name: 'Start a call' })).toBeVisible();
    }
  } finally {
    await server.stop();
  }
});
