// The video meeting over a full mesh (a server started with --meet-media mesh), in real
// Chromium with fake cameras: three people in one room see each other, mute shows on the others' grids, the room chat goes over the data channels, a page
// that closes leaves every grid; without a camera one joins with the microphone; a fifth is
// told the room is full; five who click Join at the same moment are four who see each other
// and one told the room is full, room after room.
import { test, expect, Page } from '@playwright/test';
import { closeUsers, connected, users } from './support';
import { join, newRoom, playing, seat, tile } from './meetings';
import { MESH_PORT } from '../ports';

test.use({ baseURL: `http://127.0.0.1:${MESH_PORT}` });
test.afterEach(closeUsers);

const VIEW = { width: 900, height: 700 };

test('three people see each other, each tile with its quality line; mute, the room chat and leaving show on every page', async ({ browser }) => {
  const room = newRoom();
  const [ada, bo, cy] = await users(browser, 3, VIEW);
  await join(ada, room, 'Ada');
  await join(bo, room, 'Bo');
  await join(cy, room, 'Cy');
  const everyone: [Page, string[]][] = [
    [ada, ['Bo', 'Cy']],
    [bo, ['Ada', 'Cy']],
    [cy, ['Ada', 'Bo']],
  ];
  for (const [page, others] of everyone) {
    await expect(page.locator('.meet-tile:not(.mine)')).toHaveCount(2);
    for (const other of others) {
      await expect(tile(page, other)).not.toHaveClass(/waiting/);
      await expect.poll(() => playing(page, other)).toBe(true);
    }
  }
  // Each tile says how its connection goes: on loopback a direct path, its round trip, loss and rate.
  for (const [page, others] of everyone) {
    for (const other of others) {
      await expect(tile(page, other).getByTestId('tile-quality')).toHaveText(/^direct · \d+ ms · \d+\.\d% lost · \d+ kbit\/s$/, { timeout: 10_000 });
    }
  }

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

  // Cy's page closes: gone from both grids within 5 s.
  await cy.context().close();
  for (const page of [ada, bo]) {
    await expect(tile(page, 'Cy')).toHaveCount(0, { timeout: 5_000 });
  }
  // Bo leaves with the button.
  await bo.getByRole('button', { name: 'Leave' }).click();
  await expect(tile(ada, 'Bo')).toHaveCount(0, { timeout: 5_000 });
  await expect(ada.locator('.chat-log')).toContainText('Bo left');
});

test('without a camera one joins with the microphone, and the others see the camera is off', async ({ browser }) => {
  const room = newRoom();
  const [withCamera, noCamera] = await users(browser, 2, VIEW);
  await noCamera.addInitScript(() => {
    const devices = navigator.mediaDevices;
    const open = devices.getUserMedia.bind(devices);
    devices.getUserMedia = (constraints?: MediaStreamConstraints) =>
      constraints?.video ? Promise.reject(new DOMException('No camera here', 'NotFoundError')) : open(constraints);
  });
  await join(withCamera, room, 'Ada');
  await join(noCamera, room, 'Bo');
  await expect(noCamera.getByTestId('notice')).toContainText('microphone only');
  await expect(tile(withCamera, 'Bo')).not.toHaveClass(/waiting/);
  await expect(tile(withCamera, 'Bo').getByTestId('camera-off')).toBeVisible();
  // Bo still sees Ada.
  await expect.poll(() => playing(noCamera, 'Ada')).toBe(true);
});

test('a fifth person is told the room is full', async ({ browser, baseURL }) => {
  const room = newRoom();
  const sockets = await seat(baseURL!, room, ['One', 'Two', 'Three', 'Four']);
  try {
    const [fifth] = await users(browser, 1, VIEW);
    await fifth.goto(`/meet?room=${room}`);
    await connected(fifth);
    await fifth.getByLabel('Your name').fill('Five');
    await fifth.getByRole('button', { name: 'Join' }).click();
    await expect(fifth.getByTestId('problem')).toContainText('This room is full');
  } finally {
    for (const socket of sockets) socket.close();
  }
});

test('five who click Join at once: four see each other, one is told the room is full, in every room', async ({ browser }) => {
  const ROOMS = Number(process.env.MEET_ROOMS ?? 5);
  test.setTimeout(ROOMS * 20_000);
  const pages = await users(browser, 5, { width: 640, height: 480 });
  for (let r = 0; r < ROOMS; r++) {
    const t0 = Date.now();
    const room = newRoom();
    await Promise.all(pages.map(async (page, i) => {
      await page.goto(`/meet?room=${room}`);
      await connected(page);
      await page.getByLabel('Your name').fill(`P${i}`);
    }));
    // The same moment in every page: each queues its click for one wall-clock time.
    const at = Date.now() + 300;
    await Promise.all(pages.map((page) => page.evaluate((at) => {
      const button = document.querySelector<HTMLButtonElement>('form.composer button[type="submit"]')!;
      setTimeout(() => button.click(), at - Date.now());
    }, at)));
    const full = async (page: Page) => (await page.getByTestId('problem').count()) > 0;
    await expect.poll(async () => (await Promise.all(pages.map(full))).filter(Boolean).length,
      { message: `room ${r}: exactly one is refused` }).toBe(1);
    const refused = (await Promise.all(pages.map(full))).indexOf(true);
    await expect(pages[refused].getByTestId('problem')).toContainText('This room is full');
    const inRoom = pages.filter((_, i) => i !== refused);
    const names = inRoom.map((page) => `P${pages.indexOf(page)}`);
    for (const page of inRoom) {
      const me = `P${pages.indexOf(page)}`;
      await expect(page.locator('.meet-tile:not(.mine)'), `room ${r}: ${me} has three tiles`).toHaveCount(3);
      // What races is the join, in every room; the mesh's media are the same each time, and
      // playing them took 10 s a room (the first room proves they play).
      if (r > 0) continue;
      for (const other of names.filter((n) => n !== me)) {
        await expect.poll(() => playing(page, other), { message: `room ${r}: ${me} plays ${other}`, timeout: 20_000 }).toBe(true);
      }
    }
    console.log(`room ${r}: ${Date.now() - t0} ms`);
  }
});

test('New meeting makes a room nobody can guess, and a named room says anyone may join it', async ({ page }) => {
  await page.goto('/meet');
  await expect(page.getByText('open to anyone who knows or guesses the name')).toBeVisible();
  await page.getByRole('button', { name: 'New meeting' }).click();
  await expect(page).toHaveURL(/\/meet\?room=[a-z2-7]{26}$/);
  const first = page.url();
  await page.goto('/meet');
  await page.getByRole('button', { name: 'New meeting' }).click();
  await expect(page).toHaveURL(/\/meet\?room=[a-z2-7]{26}$/);
  expect(page.url()).not.toBe(first);
  await expect(page.getByTestId('invite-url')).toHaveAttribute('href', /\/meet\?room=[a-z2-7]{26}$/);
});
