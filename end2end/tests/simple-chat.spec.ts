import { test, expect } from '@playwright/test';
import { closeUsers, connected, users } from './support';

test.afterEach(closeUsers);

test('two pages chat in /chat/simple', async ({ browser }) => {
  const [alice, bob] = await users(browser, 2);
  for (const page of [alice, bob]) {
    await page.goto('/chat/simple');
    await connected(page);
  }
  await alice.getByLabel('Message').fill('hello from alice');
  await alice.getByRole('button', { name: 'Send' }).click();
  await expect(bob.getByRole('log')).toContainText('hello from alice');
  await expect(alice.getByRole('log')).toContainText('hello from alice');
  await expect(alice.getByLabel('Message')).toHaveValue('');

  await bob.getByLabel('Message').fill('hi alice');
  await bob.getByLabel('Message').press('Enter');
  await expect(alice.getByRole('log')).toContainText('hi alice');
});
