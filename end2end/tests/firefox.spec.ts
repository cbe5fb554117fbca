// Calls and meetings between the two browsers people use: Chromium (driven by Playwright) and
// Debian's Firefox ESR (driven by puppeteer-core over WebDriver BiDi: Playwright cannot drive a
// stock Firefox). Each sees the other's camera move, both ways, in a private call and in a
// meeting (through the SFU: the default server's meetings).
import { test, expect, Page } from '@playwright/test';
import puppeteer, { Browser as Firefox, Page as FirefoxPage } from 'puppeteer-core';
import { closeUsers, connected, users } from './support';
import { expectVideoMoves, startCall } from './calls';

test.afterEach(closeUsers);

test.describe.configure({ timeout: 90_000 });

let firefox: Firefox | undefined;

test.beforeAll(async () => {
  firefox = await puppeteer.launch({
    browser: 'firefox',
    executablePath: '/usr/bin/firefox-esr',
    headless: true,
    extraPrefsFirefox: {
      // A fake camera and microphone, granted without a prompt (as Chromium's flags do).
      'media.navigator.streams.fake': true,
      'media.navigator.permission.disabled': true,
      // Host candidates on 127.0.0.1, by their address (the test namespace has only loopback).
      'media.peerconnection.ice.loopback': true,
      'media.peerconnection.ice.obfuscate_host_addresses': false,
      // Remote videos with sound play without a click (automation's clicks do not count as
      // a user's gesture across script calls).
      'media.autoplay.default': 0,
    },
  });
});

test.afterAll(async () => {
  await firefox?.close();
});

/** A Firefox page for `use`, closed after it whatever happens. */
async function withFirefoxPage(use: (page: FirefoxPage) => Promise<void>) {
  const page = await firefox!.newPage();
  try {
    await use(page);
  } finally {
    await page.close();
  }
}

/** Waits until `check` holds in the Firefox page, asking again every 100 ms (as expect.poll
 *  does; puppeteer's own waitForFunction evaluates with `new Function`, which our CSP
 *  forbids, as it should). */
async function waitInFirefox<T>(page: FirefoxPage, what: string, check: (arg: T) => boolean, arg: T) {
  const deadline = Date.now() + 30_000;
  while (!(await page.evaluate(check, arg).catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`Firefox: timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The video `selector` in Firefox shows frames that keep coming. */
async function firefoxSeesMovingVideo(page: FirefoxPage, selector: string) {
  await waitInFirefox(page, `${selector} has frames`, (s: string) => {
    const v = document.querySelector<HTMLVideoElement>(s);
    return !!v && v.videoWidth > 0 && !v.paused;
  }, selector);
  const t0 = await page.$eval(selector, (v) => (v as HTMLVideoElement).currentTime);
  await waitInFirefox(page, `${selector} moves`, ([s, t]: [string, number]) => {
    const v = document.querySelector<HTMLVideoElement>(s);
    return !!v && v.currentTime > t + 0.2;
  }, [selector, t0] as [string, number]);
}

async function clickButton(page: FirefoxPage, name: string) {
  await waitInFirefox(page, `a button "${name}"`, (n: string) =>
    [...document.querySelectorAll('button')].some((b) => b.textContent?.trim() === n && !b.disabled), name);
  await page.evaluate((n: string) => {
    [...document.querySelectorAll('button')].find((b) => b.textContent?.trim() === n)!.click();
  }, name);
}

test('a private call between Chromium and Firefox: each sees the other', async ({ browser, baseURL }) => {
  const [chromium] = await users(browser, 1);
  const link = await startCall(chromium);
  await withFirefoxPage(async (fox) => {
    await fox.goto(`${baseURL}${link}`);
    await expect(chromium.getByTestId('call-state')).toHaveText('In a call', { timeout: 30_000 });
    await waitInFirefox(fox, 'in a call', () =>
      document.querySelector('[data-testid="call-state"]')?.textContent === 'In a call', undefined);
    await expectVideoMoves(chromium.getByTestId('Their camera'), 30_000);
    await firefoxSeesMovingVideo(fox, '[data-testid="Their camera"]');
  });
});

test('a meeting of Chromium and Firefox: each plays the other\'s camera', async ({ browser, baseURL }) => {
  const room = `room-${Math.random().toString(36).slice(2, 8)}`;
  const [chromium] = await users(browser, 1, { width: 900, height: 700 });
  await chromium.goto(`/meet?room=${room}`);
  await connected(chromium);
  await chromium.getByLabel('Your name').fill('Ada');
  await chromium.getByRole('button', { name: 'Join' }).click();
  await expect(chromium.getByTestId('grid')).toBeVisible();

  await withFirefoxPage(async (fox) => {
    await fox.goto(`${baseURL}/meet?room=${room}`);
    await waitInFirefox(fox, 'connected', () =>
      /^Connected/.test(document.querySelector('[data-testid="connection"]')?.textContent ?? ''), undefined);
    await fox.type('#member-name', 'Fox');
    await clickButton(fox, 'Join');
    await expectVideoMoves(chromium.locator('.meet-tile[data-name="Fox"] video'), 30_000);
    await firefoxSeesMovingVideo(fox, '.meet-tile[data-name="Ada"] video');
    // Firefox's fake microphone is a steady tone: the Chromium page outlines Fox as the one
    // speaking (from the audio level Firefox's packets carry through the SFU).
    await expect(chromium.locator('.meet-tile[data-name="Fox"]')).toHaveClass(/\bspeaking\b/, {
      timeout: 30_000,
    });
  });
});
