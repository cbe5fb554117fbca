import { test, expect, Page } from '@playwright/test';
import { closeUsers, connected, OwnServer, users } from './support';

test.afterEach(closeUsers);

/** Claims `name` on the name screen (the page must already be on /chat). */
async function join(page: Page, name: string) {
  await connected(page);
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Join' }).click();
}

async function say(page: Page, text: string) {
  await page.getByLabel('Message').fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
  await expect(page.getByLabel('Message')).toHaveValue('');
}

test('a taken name shows the error and a free one enters the chat', async ({ browser }) => {
  const [first, second] = await users(browser, 2);
  await first.goto('/chat');
  await join(first, 'Marie');
  await expect(first.getByTestId('my-name')).toHaveText('Marie');

  await second.goto('/chat');
  await join(second, 'marie');
  await expect(second.getByRole('alert')).toContainText('already taken');
  await expect(second.getByLabel('Your name')).toBeVisible();
  await join(second, 'Pierre');
  await expect(second.getByTestId('my-name')).toHaveText('Pierre');
});

test('messages flow both ways with names, and your own are marked', async ({ browser }) => {
  const [ada, bob] = await users(browser, 2);
  await ada.goto('/chat');
  await join(ada, 'Ada-e2e');
  await bob.goto('/chat');
  await join(bob, 'Bob-e2e');

  await say(ada, 'hello Bob');
  await expect(bob.getByRole('log')).toContainText('<Ada-e2e> hello Bob');
  await say(bob, 'hello Ada');
  await expect(ada.getByRole('log')).toContainText('<Bob-e2e> hello Ada');

  // Other tests chat on the same server at the same time: look at our own lines only.
  await expect(ada.locator('.chat-log li.own', { hasText: 'hello Bob' })).toHaveCount(1);
  await expect(ada.locator('.chat-log li:not(.own)', { hasText: '<Bob-e2e> hello Ada' })).toHaveCount(1);
});

test('names and texts are shown literally, never run as HTML', async ({ browser }) => {
  const name = '<img src=x onerror=__pwned=1>';
  const text = '<img src=x onerror="window.__pwned=2"><script>window.__pwned=3</script>';
  const [attacker, victim] = await users(browser, 2);
  await victim.goto('/chat');
  await join(victim, 'Victim');
  await attacker.goto('/chat');
  await join(attacker, name);
  await expect(attacker.getByTestId('my-name')).toHaveText(name);
  await say(attacker, text);

  await expect(victim.getByRole('log')).toContainText(`<${name}> ${text}`);
  expect(await victim.locator('.chat-log img').count()).toBe(0);
  expect(await victim.evaluate(() => (window as any).__pwned)).toBeUndefined();
});

test('history appears after a server restart', async ({ browser }) => {
  const server = new OwnServer(4181);
  await server.start();
  try {
    const [before] = await users(browser, 1);
    await before.goto(`${server.url}/chat`);
    await join(before, 'Historian');
    await say(before, 'written before the restart');
    await before.context().close();

    await server.stop();
    await server.start();

    const [after] = await users(browser, 1);
    await after.goto(`${server.url}/chat`);
    await join(after, 'Reader');
    await expect(after.getByRole('log')).toContainText('<Historian> written before the restart');
  } finally {
    await server.stop();
  }
});

test('the page reconnects by itself after the server restarts and claims its name again', async ({ browser }) => {
  const server = new OwnServer(4182);
  await server.start();
  try {
    const [ada, bob] = await users(browser, 2);
    await ada.goto(`${server.url}/chat`);
    await join(ada, 'Phoenix');
    await expect(ada.getByTestId('my-name')).toHaveText('Phoenix');

    await server.stop();
    // Chromium calls a machine with only loopback "offline"; either way it keeps retrying.
    await expect(ada.getByTestId('connection')).toHaveText(/Reconnecting|Offline/);
    await server.start();
    await connected(ada);
    await expect(ada.getByTestId('my-name')).toHaveText('Phoenix');

    // The name is really held again: another user cannot take it, and messages flow.
    await bob.goto(`${server.url}/chat`);
    await join(bob, 'phoenix');
    await expect(bob.getByRole('alert')).toContainText('already taken');
    await join(bob, 'Bystander');
    await say(ada, 'back online');
    await expect(bob.getByRole('log')).toContainText('<Phoenix> back online');
  } finally {
    await server.stop();
  }
});

test('the chat fits a phone screen', async ({ browser }) => {
  const [phone] = await users(browser, 1, { width: 375, height: 667 });
  await phone.goto('/chat');
  await join(phone, 'Pocket');
  await say(phone, 'from my phone');
  await expect(phone.getByRole('log')).toContainText('from my phone');
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await expect(phone.getByRole('button', { name: 'Send' })).toBeInViewport();
  // Who is here is folded under its count, and opens on a tap.
  const people = phone.getByTestId('people');
  await expect(people.getByTestId('people-count')).toHaveText(/\d+ (person|people) here/);
  await expect(people.locator('li', { hasText: 'Pocket' })).toBeHidden();
  await people.getByTestId('people-count').click();
  await expect(people.locator('li', { hasText: 'Pocket' })).toBeVisible();
});
