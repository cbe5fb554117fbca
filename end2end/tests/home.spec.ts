import { test, expect } from '@playwright/test';

test('the home page lists every app and each loads directly', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Switchboard' })).toBeVisible();
  const links = page.locator('.apps a');
  const hrefs = await links.evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  expect(hrefs).toEqual(expect.arrayContaining(['/chat/simple', '/chat']));
  for (const href of hrefs) {
    const response = await page.goto(href!);
    expect(response?.status(), href!).toBe(200);
    await expect(page.locator('h1')).toBeVisible();
    await expect(page.getByText('Page not found')).toHaveCount(0);
  }
});

test('an unknown address shows a not-found page with a way home', async ({ page }) => {
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
  await page.getByRole('link', { name: 'Back to all apps' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('heading', { name: 'Switchboard' })).toBeVisible();
});
