// Cluster mode in the browser: two pages, each on its own node of one cluster (one Redis),
// chat in /chat and see each other's cursor, as if they were on one server.
import { test, expect, Page } from '@playwright/test';
import { closeUsers, connected, OwnRedis, OwnServer, users } from './support';

test.afterEach(closeUsers);

const redis = new OwnRedis(4193);
const nodes = [new OwnServer(4191, ['--redis-url', redis.url]), new OwnServer(4192, ['--redis-url', redis.url])];

test.beforeAll(async () => {
  await redis.start();
  await Promise.all(nodes.map((node) => node.start()));
});

test.afterAll(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
  await redis.stop();
});

async function join(page: Page, name: string) {
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Join' }).click();
  await expect(page.getByTestId('my-name')).toHaveText(name);
}

test('two pages on two nodes chat and see each other\'s cursor', async ({ browser }) => {
  const [ada, bo] = await users(browser, 2, { width: 800, height: 600 });
  await ada.goto(`${nodes[0].url}/chat`);
  await connected(ada);
  await join(ada, 'Ada');
  await bo.goto(`${nodes[1].url}/chat`);
  await connected(bo);
  // The name is one across the cluster.
  await bo.getByLabel('Your name').fill('ADA');
  await bo.getByRole('button', { name: 'Join' }).click();
  await expect(bo.getByRole('alert')).toContainText('already taken');
  await join(bo, 'Bo');

  await ada.getByLabel('Message').fill('hello from node 1');
  await ada.getByRole('button', { name: 'Send' }).click();
  await expect(bo.getByRole('log')).toContainText('<Ada> hello from node 1');
  await bo.getByLabel('Message').fill('hello from node 2');
  await bo.getByRole('button', { name: 'Send' }).click();
  await expect(ada.getByRole('log')).toContainText('<Bo> hello from node 2');

  for (const [page, node] of [[ada, nodes[0]], [bo, nodes[1]]] as const) {
    await page.goto(`${node.url}/cursors`);
    await connected(page);
  }
  await expect(ada.getByTestId('my-id')).not.toHaveText('');
  const adaId = (await ada.getByTestId('my-id').textContent())!;
  await ada.mouse.move(200, 300);
  const cursor = bo.locator(`.cursor[data-id="${adaId}"]`);
  await expect(cursor).toBeVisible();
  await expect
    .poll(async () => {
      const box = (await cursor.boundingBox())!;
      return { x: Math.round(box.x + box.width / 2), y: Math.round(box.y + box.height / 2) };
    })
    .toEqual({ x: 200, y: 300 });
  await expect(bo.getByTestId('people')).toHaveText('2 people here.');
});
