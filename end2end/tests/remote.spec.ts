import { test, expect, Page, Browser } from '@playwright/test';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import { closeUsers, connected, users } from './support';

test.afterEach(closeUsers);

/** A desktop page on /remote and the controller opened from the URL it shows. */
async function pair(browser: Browser) {
  const [desktop] = await users(browser, 1, { width: 1100, height: 800 });
  await desktop.goto('/remote');
  await connected(desktop);
  const url = (await desktop.getByTestId('controller-url').textContent())!;
  const phoneContext = await browser.newContext({ viewport: { width: 390, height: 740 }, hasTouch: true, isMobile: true });
  const phone = await phoneContext.newPage();
  await phone.goto(url);
  await connected(phone);
  return { desktop, phone, url };
}

/** Where the ball is, as fractions of the stage. */
async function ball(desktop: Page) {
  const stage = (await desktop.getByTestId('stage').boundingBox())!;
  const b = (await desktop.getByTestId('ball').boundingBox())!;
  const round = (v: number) => Math.round(v * 100) / 100;
  return { x: round((b.x + b.width / 2 - stage.x) / stage.width), y: round((b.y + b.height / 2 - stage.y) / stage.height) };
}

/** Points at fractions of the controller's pad. */
async function point(phone: Page, x: number, y: number) {
  const pad = (await phone.getByTestId('pad').boundingBox())!;
  await phone.mouse.move(pad.x + pad.width * x, pad.y + pad.height * y);
}

test('the QR code decodes to exactly the controller URL the desktop shows', async ({ browser }) => {
  const [desktop] = await users(browser, 1);
  await desktop.goto('/remote');
  await connected(desktop);
  const url = (await desktop.getByTestId('controller-url').textContent())!;
  expect(url).toMatch(/\/remote\/controller\?id=[\w-]+$/);
  const png = PNG.sync.read(await desktop.getByTestId('qr').screenshot());
  const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  expect(code?.data).toBe(url);
});

test('moving in the controller moves the desktop ball', async ({ browser }) => {
  const { desktop, phone } = await pair(browser);
  await expect(desktop.getByTestId('controller-status')).toHaveText('Controller connected: steering');
  await point(phone, 0.25, 0.75);
  await expect.poll(() => ball(desktop)).toEqual({ x: 0.25, y: 0.75 });
  await point(phone, 0.9, 0.1);
  await expect.poll(() => ball(desktop)).toEqual({ x: 0.9, y: 0.1 });
});

test('tilt mode steers with the gyroscope', async ({ browser }) => {
  const { desktop, phone } = await pair(browser);
  await phone.getByRole('button', { name: 'Tilt' }).click();
  await expect(phone.getByRole('button', { name: 'Tilt' })).toHaveAttribute('aria-pressed', 'true');
  const tilt = (beta: number, gamma: number) =>
    phone.evaluate(([b, g]) => window.dispatchEvent(new DeviceOrientationEvent('deviceorientation', { alpha: 0, beta: b, gamma: g })), [beta, gamma]);
  await tilt(40, 5); // how the phone is held when tilt starts is the centre
  await tilt(55, -10); // 15° towards you, 15° to the left
  await expect.poll(() => ball(desktop)).toEqual({ x: 0.25, y: 0.75 });
  await tilt(40, 5);
  await expect.poll(() => ball(desktop)).toEqual({ x: 0.5, y: 0.5 });
});

test("the game's paddle follows the controller", async ({ browser }) => {
  const { desktop, phone } = await pair(browser);
  await desktop.getByRole('tab', { name: 'Squash' }).click();
  const paddle = desktop.getByTestId('paddle');
  const centre = async () => {
    const x = Number(await paddle.getAttribute('x'));
    const width = Number(await paddle.getAttribute('width'));
    return Math.round(x + width / 2);
  };
  await point(phone, 0.3, 0.5);
  await expect.poll(centre).toBe(30);
  await point(phone, 0.7, 0.2);
  await expect.poll(centre).toBe(70);
  await expect(desktop.getByTestId('score')).toBeVisible();
});

test('two phones play Squash for two, each with its own paddle and score; a phone that leaves is waited for', async ({ browser }) => {
  test.setTimeout(90_000); // it plays a few points, in real time
  const { desktop, phone } = await pair(browser);
  await desktop.getByRole('tab', { name: 'Squash' }).click();
  await expect(desktop.getByTestId('player-2-status')).toContainText('Waiting for player 2');
  await expect(desktop.getByTestId('paddle-2')).toHaveCount(0);
  const url2 = (await desktop.getByTestId('controller-url-2').textContent())!;
  expect(url2).toMatch(/\/remote\/controller\?id=[\w-]+&player=2$/);
  const png = PNG.sync.read(await desktop.getByTestId('qr-2').screenshot());
  expect(jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data).toBe(url2);

  const secondContext = await browser.newContext({ viewport: { width: 390, height: 740 }, hasTouch: true, isMobile: true });
  const second = await secondContext.newPage();
  await second.goto(url2);
  await connected(second);
  await expect(second.getByTestId('player')).toHaveText('Player 2');

  const centre = (id: string) => async () => {
    const paddle = desktop.getByTestId(id);
    return Math.round(Number(await paddle.getAttribute('x')) + Number(await paddle.getAttribute('width')) / 2);
  };
  await point(phone, 0.3, 0.5);
  await point(second, 0.8, 0.5);
  await expect(desktop.getByTestId('player-2-status')).toHaveText('Player 2: steering');
  await expect.poll(centre('paddle')).toBe(30);
  await expect.poll(centre('paddle-2')).toBe(80);

  // Each point goes to the right player. A player who keeps away from the ball lets it
  // through; one who goes where the ball will cross its paddle's line returns it (after a
  // point the ball is served slowly again, towards the player who lost it).
  const state = () =>
    desktop.evaluate(() => {
      const attr = (selector: string, name: string) => Number(document.querySelector(selector)?.getAttribute(name)) / 100;
      return {
        x: attr('svg circle.ball', 'cx'),
        y: attr('svg circle.ball', 'cy'),
        r: attr('svg circle.ball', 'r'),
        t: performance.now(),
        // Where the ball's edge meets each paddle.
        bottom: attr('[data-testid="paddle"]', 'y'),
        top: attr('[data-testid="paddle-2"]', 'y') + attr('[data-testid="paddle-2"]', 'height'),
        score: [1, 2].map((p) => Number(document.querySelector(`[data-testid="points-${p}"]`)!.textContent)),
      };
    });
  type State = Awaited<ReturnType<typeof state>>;
  /** Where the ball will cross a paddle's line (bouncing off the side walls), from two looks. */
  const landing = (was: State, now: State, player: 1 | 2) => {
    const dt = now.t - was.t;
    const [vx, vy] = [(now.x - was.x) / dt, (now.y - was.y) / dt];
    const towards = player === 1 ? vy > 0 : vy < 0;
    if (!towards || dt <= 0) return now.x;
    const line = player === 1 ? now.bottom - now.r : now.top + now.r;
    const x = now.x + (vx * (line - now.y)) / vy;
    const [lo, width] = [now.r, 1 - 2 * now.r];
    const u = (((x - lo) % (2 * width)) + 2 * width) % (2 * width);
    return lo + (u > width ? 2 * width - u : u);
  };
  const pads = await Promise.all([phone, second].map(async (p) => (await p.getByTestId('pad').boundingBox())!));
  const steer = (p: Page, pad: { x: number; y: number; width: number; height: number }, x: number) =>
    p.mouse.move(pad.x + pad.width * x, pad.y + pad.height / 2);
  /** Plays until someone scores; who did (1 or 2). */
  async function rally(oneFollows: boolean, twoFollows: boolean): Promise<number> {
    let was = await state();
    const [one, two] = was.score;
    const deadline = Date.now() + 20_000;
    for (;;) {
      expect(Date.now()).toBeLessThan(deadline);
      const now = await state();
      if (now.score[0] !== one || now.score[1] !== two) {
        expect(now.score[0] - one + (now.score[1] - two)).toBe(1);
        return now.score[0] > one ? 1 : 2;
      }
      const away = now.x < 0.5 ? 0.95 : 0.05;
      await Promise.all([
        steer(phone, pads[0], oneFollows ? landing(was, now, 1) : away),
        steer(second, pads[1], twoFollows ? landing(was, now, 2) : away),
      ]);
      was = now;
    }
  }
  let last = await rally(false, false);
  for (let i = 0; i < 2; i++) {
    if (last === 2) {
      // The ball comes down to player 1, who returns it; player 2 lets it through.
      last = await rally(true, false);
      expect(last).toBe(1);
    } else {
      // It goes up to player 2, who returns it; player 1 lets it through.
      last = await rally(false, true);
      expect(last).toBe(2);
    }
  }

  await secondContext.close();
  await expect(desktop.getByTestId('player-2-status')).toContainText('Waiting for player 2');
  await expect(desktop.getByTestId('paddle-2')).toHaveCount(0);
  await point(phone, 0.6, 0.5);
  await expect.poll(centre('paddle')).toBe(60);
});

test('a controller without an id, or with an unknown one, says so on the page', async ({ browser }) => {
  const [phone] = await users(browser, 1, { width: 390, height: 740 });
  await phone.goto('/remote/controller');
  await expect(phone.getByRole('alert')).toContainText('needs to know which screen to steer');
  await phone.goto('/remote/controller?id=not-a-desktop');
  await expect(phone.getByTestId('problem')).toContainText('No desktop with this id');
});

test('the controller fits a phone without scrolling', async ({ browser }) => {
  const { phone } = await pair(browser);
  const scrolls = await phone.evaluate(() => document.documentElement.scrollHeight > window.innerHeight || document.documentElement.scrollWidth > window.innerWidth);
  expect(scrolls).toBe(false);
  await expect(phone.getByTestId('pad')).toBeInViewport({ ratio: 1 });
});
