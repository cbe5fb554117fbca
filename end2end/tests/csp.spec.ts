// Every page works under the server's Content-Security-Policy: any violation report (a blocked
// script, style, image or connection) fails the test.
import { test, expect, Page } from '@playwright/test';

const PAGES = [
  '/',
  '/trades',
  '/chat/simple',
  '/chat',
  '/cursors',
  '/remote',
  '/remote/controller?id=not-a-desktop',
  '/webcam',
  '/webrtc/sender',
  '/webrtc/receiver',
  '/webrtc/peer-sender',
  '/webrtc/peer-receiver',
  '/call',
  '/no-such-page',
];

/** Collects the page's CSP violations (from the DOM event and from the console). */
async function watchViolations(page: Page): Promise<string[]> {
  const seen: string[] = [];
  await page.exposeFunction('reportViolation', (text: string) => seen.push(text));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      // @ts-expect-error exposed by the test
      window.reportViolation(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`);
    });
  });
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) seen.push(message.text());
  });
  return seen;
}

test('every page works under the content security policy', async ({ page, browser }) => {
  test.setTimeout(90_000);
  const violations = await watchViolations(page);
  for (const path of PAGES) {
    const response = await page.goto(path);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp, path).toContain("'wasm-unsafe-eval'");
    expect(response?.headers()['x-content-type-options'], path).toBe('nosniff');
    // The app ran (it renders its header), and pages with a connection connected.
    await expect(page.locator('header.site'), path).toBeVisible();
    if (await page.getByTestId('connection').count()) {
      await expect(page.getByTestId('connection'), path).toHaveText(/^Connected/);
    }
    expect(violations, path).toEqual([]);
  }
  // A second page at the same time: the QR code and camera pages together, as a user has them.
  const phone = await browser.newPage();
  const phoneViolations = await watchViolations(phone);
  await page.goto('/remote');
  await expect(page.getByTestId('qr').locator('svg')).toBeVisible();
  const link = await page.getByTestId('controller-url').getAttribute('href');
  await phone.goto(link!);
  await expect(phone.getByTestId('connection')).toHaveText(/^Connected/);
  await expect(page.getByTestId('controller-status')).toBeVisible();
  expect(violations).toEqual([]);
  expect(phoneViolations).toEqual([]);
  await phone.close();
});
