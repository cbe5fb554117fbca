// /chat's additions in real Chromium: who is here, who is typing, and nothing missed after
// the network went away for a moment. Each test owns its server, so that the list of people
// is only its own.
import { test, expect, Page } from '@playwright/test';
import { OwnServer, connected, network, users } from './support';

async function join(page: Page, url: string, name: string) {
  await page.goto(`${url}/chat`);
  await connected(page);
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Join' }).click();
  await expect(page.getByTestId('my-name')).toHaveText(name);
}

async function say(page: Page, text: string) {
  await page.getByLabel('Message').fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
  await expect(page.getByLabel('Message')).toHaveValue('');
}

/** The texts of the messages (not the news lines) in a page's log. */
async function messages(page: Page): Promise<string[]> {
  return page.locator('.chat-log li:not(.quiet) .text').allTextContents();
}

let server: OwnServer;
test.beforeEach(async ({}, info) => {
  server = new OwnServer(4184 + info.parallelIndex);
  await server.start();
});
test.afterEach(async ({ browser }) => {
  // Pages left open would reconnect to the next test's server and claim their names there.
  for (const context of browser.contexts()) await context.close();
  await server.stop();
});

test('the list of people, and who joined and left', async ({ browser }) => {
  const [ada, bo, cy] = await users(browser, 3);
  await join(ada, server.url, 'Ada');
  await expect(ada.getByTestId('people-count')).toHaveText('1 person here');
  await join(bo, server.url, 'Bo');
  await join(cy, server.url, 'Cy');
  for (const page of [ada, bo, cy]) {
    await expect(page.getByTestId('people-count')).toHaveText('3 people here');
    await expect(page.getByTestId('people').locator('li')).toHaveText(['Ada', 'Bo', 'Cy']);
  }
  await expect(ada.locator('.chat-log li.quiet')).toHaveText(['Bo joined', 'Cy joined']);
  await expect(bo.locator('.chat-log li.quiet')).toHaveText(['Cy joined']);

  await cy.context().close();
  for (const page of [ada, bo]) {
    await expect(page.locator('.chat-log li.quiet').last()).toHaveText('Cy left');
    await expect(page.getByTestId('people').locator('li')).toHaveText(['Ada', 'Bo']);
  }
});

test('"is typing…" appears for the others and goes away', async ({ browser }) => {
  const [ada, bo, cy] = await users(browser, 3);
  await join(ada, server.url, 'Ada');
  await join(bo, server.url, 'Bo');
  await join(cy, server.url, 'Cy');

  await ada.getByLabel('Message').pressSequentially('hel');
  await expect(bo.getByTestId('typing')).toHaveText('Ada is typing…');
  await expect(cy.getByTestId('typing')).toHaveText('Ada is typing…');
  await expect(ada.getByTestId('typing')).toBeEmpty();

  await bo.getByLabel('Message').pressSequentially('hm');
  await expect(cy.getByTestId('typing')).toHaveText('Ada and Bo are typing…');
  // Sending stops it at once; emptying the field too.
  await ada.getByLabel('Message').pressSequentially('lo');
  await ada.getByRole('button', { name: 'Send' }).click();
  await expect(cy.getByTestId('typing')).toHaveText('Bo is typing…');
  await bo.getByLabel('Message').fill('');
  await expect(cy.getByTestId('typing')).toBeEmpty();
  // A pause of 3 s counts as stopped.
  await cy.getByLabel('Message').pressSequentially('x');
  await expect(ada.getByTestId('typing')).toHaveText('Cy is typing…');
  await expect(ada.getByTestId('typing')).toBeEmpty({ timeout: 6_000 });
});

test('a page that was offline shows each message it missed once, in order', async ({ browser }) => {
  const [ada, bo, cy] = await users(browser, 3);
  const cyNetwork = await network(cy);
  await join(ada, server.url, 'Ada');
  await join(bo, server.url, 'Bo');
  await join(cy, server.url, 'Cy');
  await say(ada, 'before');
  await expect(cy.getByRole('log')).toContainText('<Ada> before');

  await cyNetwork.goOffline();
  await expect(cy.getByTestId('away')).toContainText('Reconnecting');
  await expect(ada.locator('.chat-log li.quiet').last()).toHaveText('Cy left');
  const sent = [1, 2, 3, 4, 5].map((n) => `while Cy was away ${n}`);
  for (const text of sent) await say(ada, text);
  await expect(bo.getByRole('log')).toContainText(sent[4]);

  await cyNetwork.comeBack();
  await connected(cy);
  await expect(cy.getByRole('log')).toContainText(sent[4]);
  expect(await messages(cy)).toEqual(['before', ...sent]);
  // Just the missing ones came: the log was not replaced by the whole history again.
  await expect(cy.locator('.chat-log li.quiet', { hasText: 'Earlier messages' })).toHaveCount(0);
  // Still once each after a while (nothing comes twice later).
  await say(bo, 'welcome back');
  await expect(cy.getByRole('log')).toContainText('welcome back');
  expect(await messages(cy)).toEqual(['before', ...sent, 'welcome back']);
});

test('a message typed while offline is sent once when the page is back', async ({ browser }) => {
  const [ada, bo, cy] = await users(browser, 3);
  const cyNetwork = await network(cy);
  await join(ada, server.url, 'Ada');
  await join(bo, server.url, 'Bo');
  await join(cy, server.url, 'Cy');

  await cyNetwork.goOffline();
  await expect(cy.getByTestId('away')).toContainText('Reconnecting');
  await cy.getByLabel('Message').fill('typed in the tunnel');
  await cy.getByRole('button', { name: 'Send' }).click();
  await expect(cy.getByTestId('away')).toContainText('will be sent');
  // Kept in the field until the server has it.
  await expect(cy.getByLabel('Message')).toHaveValue('typed in the tunnel');

  await cyNetwork.comeBack();
  await expect(cy.getByLabel('Message')).toHaveValue('');
  for (const page of [ada, bo, cy]) {
    await expect(page.getByRole('log')).toContainText('<Cy> typed in the tunnel');
  }
  await say(ada, 'got it');
  await expect(cy.getByRole('log')).toContainText('got it');
  for (const page of [ada, bo, cy]) {
    expect((await messages(page)).filter((t) => t === 'typed in the tunnel')).toHaveLength(1);
  }
});
