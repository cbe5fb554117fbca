// The whiteboard in real Chromium: lines drawn on one page appear on the others, a page that
// opens later gets the board, clear empties it everywhere, touch draws without scrolling,
// and a line drawn while offline arrives once the page is back. One board for the whole
// server: these tests run one after the other.
import { test, expect, Page } from '@playwright/test';
import { closeUsers, connected, network, users } from './support';

test.afterEach(closeUsers);

test.describe.configure({ mode: 'serial' });

const VIEW = { width: 800, height: 600 };

const board = (page: Page) => page.getByTestId('board');

/** How many segments the page has on its board. */
async function segments(page: Page): Promise<number> {
  return Number(await board(page).getAttribute('data-segments'));
}

/** The colour of the canvas at (x, y) of the window, as [r, g, b, a] (a = 0: nothing drawn). */
async function pixel(page: Page, x: number, y: number): Promise<number[]> {
  return page.evaluate(([x, y]) => {
    const canvas = document.querySelector('canvas.board') as HTMLCanvasElement;
    const rect = canvas.getBoundingClientRect();
    const scale = canvas.width / rect.width;
    const data = canvas.getContext('2d')!.getImageData(Math.round((x - rect.left) * scale), Math.round((y - rect.top) * scale), 1, 1).data;
    return Array.from(data);
  }, [x, y]);
}

/** Where a fraction of the canvas is, in the window. */
async function at(page: Page, fx: number, fy: number) {
  const box = (await board(page).boundingBox())!;
  return { x: box.x + fx * box.width, y: box.y + fy * box.height };
}

async function stroke(page: Page, from: [number, number], to: [number, number]) {
  const a = await at(page, ...from);
  const b = await at(page, ...to);
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move(b.x, b.y, { steps: 8 });
  await page.mouse.up();
}

async function open(page: Page) {
  await page.goto('/draw');
  await connected(page);
}

async function clearBoard(page: Page) {
  await page.getByRole('button', { name: 'Clear', exact: true }).click();
  await expect(page.getByRole('alertdialog')).toContainText('Clear the board for everyone?');
  await page.getByTestId('confirm-clear').click();
}

const BLACK = [0, 0, 0, 255];
const RED = [255, 0, 0, 255];

test('lines drawn on one page appear on the others, a later page gets them, clear empties all', async ({ browser }) => {
  const [ada, bo] = await users(browser, 2, VIEW);
  await open(ada);
  await open(bo);
  await clearBoard(ada);
  await expect(board(bo)).toHaveAttribute('data-segments', '0');

  // Ada: a black horizontal line across the middle.
  await stroke(ada, [0.2, 0.5], [0.8, 0.5]);
  const drawn = await segments(ada);
  expect(drawn).toBeGreaterThan(1);
  await expect(board(bo)).toHaveAttribute('data-segments', String(drawn));
  const middle = await at(bo, 0.5, 0.5);
  expect(await pixel(bo, middle.x, middle.y)).toEqual(BLACK);

  // Bo: a thick red vertical line.
  await bo.getByRole('button', { name: 'red' }).click();
  await bo.getByRole('button', { name: '16 pixels' }).click();
  await stroke(bo, [0.3, 0.1], [0.3, 0.9]);
  const total = await segments(bo);
  await expect(board(ada)).toHaveAttribute('data-segments', String(total));
  const onRed = await at(ada, 0.3, 0.2);
  expect(await pixel(ada, onRed.x + 6, onRed.y)).toEqual(RED); // 16 px wide: 6 px off centre is red

  // Cy comes later, on a smaller window, and gets both lines where they belong.
  const [cy] = await users(browser, 1, { width: 500, height: 700 });
  await open(cy);
  await expect(board(cy)).toHaveAttribute('data-segments', String(total));
  const cyMiddle = await at(cy, 0.6, 0.5);
  expect(await pixel(cy, cyMiddle.x, cyMiddle.y)).toEqual(BLACK);
  // Resized, the board is drawn again at the new size.
  await cy.setViewportSize({ width: 700, height: 450 });
  const resized = await at(cy, 0.3, 0.7);
  await expect.poll(() => pixel(cy, resized.x, resized.y)).toEqual(RED);

  await clearBoard(cy);
  for (const page of [ada, bo, cy]) {
    await expect(board(page)).toHaveAttribute('data-segments', '0');
    const p = await at(page, 0.5, 0.5);
    expect(await pixel(page, p.x, p.y)).toEqual([0, 0, 0, 0]);
  }
  // Cancelling the confirmation clears nothing.
  await stroke(ada, [0.1, 0.1], [0.2, 0.2]);
  await expect.poll(() => segments(bo)).toBeGreaterThan(0);
  await ada.getByRole('button', { name: 'Clear', exact: true }).click();
  await ada.getByRole('button', { name: 'Cancel' }).click();
  await expect(ada.getByRole('alertdialog')).toHaveCount(0);
  expect(await segments(bo)).toBeGreaterThan(0);
});

test('a finger draws on a phone, and the page does not scroll', async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 390, height: 700 }, hasTouch: true, isMobile: true });
  const phone = await context.newPage();
  const [desk] = await users(browser, 1, VIEW);
  await open(phone);
  await open(desk);
  await clearBoard(desk);
  await expect(board(phone)).toHaveAttribute('data-segments', '0');
  const from = await at(phone, 0.5, 0.2);
  const to = await at(phone, 0.5, 0.8);
  const cdp = await context.newCDPSession(phone);
  const touch = (type: string, x: number, y: number) =>
    cdp.send('Input.dispatchTouchEvent', { type, touchPoints: type === 'touchEnd' ? [] : [{ x, y }] });
  await touch('touchStart', from.x, from.y);
  for (let i = 1; i <= 10; i++) {
    await touch('touchMove', from.x, from.y + ((to.y - from.y) * i) / 10);
  }
  await touch('touchEnd', 0, 0);
  await expect.poll(() => segments(desk)).toBeGreaterThan(1);
  expect(await phone.evaluate(() => window.scrollY)).toBe(0);
  const p = await at(desk, 0.5, 0.5);
  await expect.poll(() => pixel(desk, p.x, p.y)).toEqual(BLACK);
});

test('a line drawn while offline reaches the others once the page is back', async ({ browser }) => {
  const [ada, bo] = await users(browser, 2, VIEW);
  const adaNetwork = await network(ada);
  await open(ada);
  await open(bo);
  await clearBoard(bo);
  await expect(board(ada)).toHaveAttribute('data-segments', '0');

  await adaNetwork.goOffline();
  await expect(ada.getByTestId('connection')).not.toHaveText(/^Connected/);
  await stroke(ada, [0.1, 0.9], [0.9, 0.9]);
  const drawn = await segments(ada);
  expect(drawn).toBeGreaterThan(1);
  expect(await segments(bo)).toBe(0);

  await adaNetwork.comeBack();
  await connected(ada);
  await expect(board(bo)).toHaveAttribute('data-segments', String(drawn));
  // Ada's page kept its line through the reconnect, once.
  await expect(board(ada)).toHaveAttribute('data-segments', String(drawn));
});
