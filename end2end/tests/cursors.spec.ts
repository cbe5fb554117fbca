import { test, expect, Page } from '@playwright/test';
import { closeUsers, connected, users } from './support';

test.afterEach(closeUsers);

const VIEW = { width: 800, height: 600 };

async function myId(page: Page): Promise<string> {
  await expect(page.getByTestId('my-id')).not.toHaveText('');
  return (await page.getByTestId('my-id').textContent())!;
}

/** The centre of the cursor with this id, in CSS pixels of the window. */
async function centreOf(page: Page, id: string) {
  const box = (await page.locator(`.cursor[data-id="${id}"]`).boundingBox())!;
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
}

test('moving the mouse in one page moves its cursor in the other; closing removes it', async ({ browser }) => {
  const [alice, bob] = await users(browser, 2, VIEW);
  for (const page of [alice, bob]) {
    await page.goto('/cursors');
    await connected(page);
  }
  const aliceId = await myId(alice);
  await expect(bob.locator(`.cursor[data-id="${aliceId}"]`)).toBeVisible();
  await expect(bob.getByTestId('people')).toHaveText('2 people here.');
  await expect(alice.locator(`.cursor.mine[data-id="${aliceId}"]`)).toBeVisible();

  await alice.mouse.move(200, 450);
  await expect.poll(async () => centreOf(bob, aliceId)).toEqual({ x: 200, y: 450 });
  await alice.mouse.move(640, 120, { steps: 5 });
  await expect.poll(async () => centreOf(bob, aliceId)).toEqual({ x: 640, y: 120 });

  await alice.close();
  await expect(bob.locator(`.cursor[data-id="${aliceId}"]`)).toHaveCount(0);
  await expect(bob.getByTestId('people')).toHaveText('Only you so far.');
});

test('touch moves a cursor too', async ({ browser }) => {
  const context = await browser.newContext({ viewport: VIEW, hasTouch: true });
  const phone = await context.newPage();
  const [watcher] = await users(browser, 1, VIEW);
  for (const page of [phone, watcher]) {
    await page.goto('/cursors');
    await connected(page);
  }
  const phoneId = await myId(phone);
  const cdp = await context.newCDPSession(phone);
  const touch = (type: string, x: number, y: number) =>
    cdp.send('Input.dispatchTouchEvent', { type, touchPoints: type === 'touchEnd' ? [] : [{ x, y }] });
  await touch('touchStart', 100, 100);
  await touch('touchMove', 300, 200);
  await touch('touchMove', 400, 300);
  await touch('touchEnd', 0, 0);
  await expect.poll(async () => centreOf(watcher, phoneId)).toEqual({ x: 400, y: 300 });
});
