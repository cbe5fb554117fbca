// WebRTC with Chromium's fake camera, on loopback only (no ICE servers needed).
import { test, expect, Page, Browser } from '@playwright/test';
import { connected, users } from './support';

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

test('the same one-way call through Peer', async ({ browser }) => {
  const { tx } = await oneWay(browser, '/webrtc/peer-sender', '/webrtc/peer-receiver');
  await expect(tx.getByTestId('status')).toHaveText(/^Connected to /);
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

/** Two /call pages, each knowing the other's id. */
async function twoCallers(browser: Browser) {
  const [a, b] = await users(browser, 2);
  for (const page of [a, b]) {
    await page.goto('/call');
    await connected(page);
    await expectMovingVideo(page, 'My camera');
  }
  return { a, b, aId: await idOf(a), bId: await idOf(b) };
}

function callButton(page: Page, peerId: string) {
  return page.locator('.peer-list li', { hasText: peerId }).getByRole('button', { name: 'Call' });
}

test('a call: both videos play, chat works both ways, hanging up ends it on both sides', async ({ browser }) => {
  const { a, b, aId, bId } = await twoCallers(browser);
  await callButton(a, bId).click();
  await expect(a.getByTestId('call-state')).toHaveText(`In a call with ${bId}`, { timeout: 20_000 });
  await expect(b.getByTestId('call-state')).toHaveText(`In a call with ${aId}`);
  await expectMovingVideo(a, 'Their camera');
  await expectMovingVideo(b, 'Their camera');

  await a.getByLabel('Message').fill('hello over the data channel');
  await a.getByRole('button', { name: 'Send' }).click();
  await expect(b.getByRole('log')).toContainText('<them> hello over the data channel');
  await b.getByLabel('Message').fill('and back');
  await b.getByLabel('Message').press('Enter');
  await expect(a.getByRole('log')).toContainText('<them> and back');

  await a.getByRole('button', { name: 'Mute' }).click();
  await expect(a.getByRole('button', { name: 'Unmute' })).toBeVisible();
  await a.getByRole('button', { name: 'Hang up' }).click();
  await expect(a.getByTestId('notice')).toHaveText(`You hung up on ${bId}.`);
  await expect(b.getByTestId('notice')).toHaveText(`${aId} hung up.`);
  await expect(callButton(b, aId)).toBeVisible();
});

test('the other page closing ends the call and brings back the list', async ({ browser }) => {
  const { a, b, aId, bId } = await twoCallers(browser);
  await callButton(b, aId).click();
  await expect(a.getByTestId('call-state')).toHaveText(`In a call with ${bId}`, { timeout: 20_000 });
  await b.close();
  await expect(a.getByTestId('notice')).toHaveText(new RegExp(`${bId} left\\.|The call with ${bId} ended\\.`));
  await expect(a.getByText('Who to call')).toBeVisible();
});

test('both calling each other at the same moment ends in one working call', async ({ browser }) => {
  const [a, b] = await users(browser, 2);
  // Hold both pages' outgoing signals until both have called, so that each really sends its
  // offer before it hears the other's: a true collision, every time.
  const held: (() => void)[] = [];
  let holding = true;
  for (const page of [a, b]) {
    await page.routeWebSocket(/\/socket\.io\//, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((message) => {
        if (holding && String(message).includes('["signal"')) held.push(() => server.send(message));
        else server.send(message);
      });
      server.onMessage((message) => ws.send(message));
    });
  }
  for (const page of [a, b]) {
    await page.goto('/call');
    await connected(page);
    await expectMovingVideo(page, 'My camera');
  }
  const [aId, bId] = [await idOf(a), await idOf(b)];
  await callButton(a, bId).click();
  await callButton(b, aId).click();
  await expect.poll(() => held.filter(Boolean).length).toBeGreaterThanOrEqual(2);
  holding = false;
  held.splice(0).forEach((send) => send());

  await expect(a.getByTestId('call-state')).toHaveText(`In a call with ${bId}`, { timeout: 20_000 });
  await expect(b.getByTestId('call-state')).toHaveText(`In a call with ${aId}`, { timeout: 20_000 });
  await expectMovingVideo(a, 'Their camera');
  await expectMovingVideo(b, 'Their camera');
  await a.getByLabel('Message').fill('one call, not two');
  await a.getByRole('button', { name: 'Send' }).click();
  await expect(b.getByRole('log')).toContainText('one call, not two');
});
