// The trades page against the built-in demo market (the server under test runs with
// --market demo), and against fixed frames written from Bitstamp's documented format.
import { test, expect, Page, WebSocketRoute } from '@playwright/test';

const PRICE = /^1 BTC = [\d\u202f]+\.\d+ USD$/;

/** Proxies the page's feed connections to the demo market, recording what the page sends. */
async function watchFeed(page: Page) {
  const feed = { connections: [] as WebSocketRoute[], sent: [] as string[][] };
  await page.routeWebSocket(/\/market\/ws$/, (ws) => {
    const server = ws.connectToServer();
    const log: string[] = [];
    feed.connections.push(ws);
    feed.sent.push(log);
    ws.onMessage((message) => {
      log.push(String(message));
      server.send(message);
    });
    server.onMessage((message) => ws.send(message));
  });
  return feed;
}

async function tradeCount(page: Page) {
  return page.getByTestId('trade-row').count();
}

test('the latest price, the trade list and the chart update live', async ({ page }) => {
  await page.goto('/trades');
  await expect(page.getByTestId('channel')).toHaveText('live_trades_btcusd');
  await expect(page.getByTestId('latest-price')).toHaveText(PRICE);
  await expect.poll(() => tradeCount(page), { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
  const points = await page.getByTestId('price-line').getAttribute('points');
  expect(points!.trim().split(' ').length).toBeGreaterThanOrEqual(2);
  const before = await tradeCount(page);
  await expect.poll(() => tradeCount(page), { timeout: 15_000 }).toBeGreaterThan(before);
  await expect(page.getByTestId('connection')).toHaveText('Connected');
});

test('switching pair unsubscribes and subscribes on the same connection', async ({ page }) => {
  const feed = await watchFeed(page);
  await page.goto('/trades');
  await expect(page.getByTestId('channel')).toHaveText('live_trades_btcusd');
  await page.getByLabel('Pair').selectOption('ethbtc');
  await expect(page.getByTestId('channel')).toHaveText('live_trades_ethbtc');
  await expect(page.getByTestId('latest-price')).toHaveText(/^1 ETH = [\d\u202f]+\.\d+ BTC$/, { timeout: 15_000 });
  expect(feed.connections).toHaveLength(1);
  const sent = feed.sent[0].map((m) => JSON.parse(m)).filter((m) => m.event !== 'bts:heartbeat');
  expect(sent).toEqual([
    { event: 'bts:subscribe', data: { channel: 'live_trades_btcusd' } },
    { event: 'bts:unsubscribe', data: { channel: 'live_trades_btcusd' } },
    { event: 'bts:subscribe', data: { channel: 'live_trades_ethbtc' } },
  ]);
});

test('the polling panel shows the ticker and how many trades polling missed', async ({ page }) => {
  await page.goto('/trades');
  await expect(page.getByTestId('poll-price')).toHaveText(PRICE);
  await expect(page.getByTestId('missed')).toHaveText(/^Polling missed \d+ of [1-9]\d* trades$/, { timeout: 15_000 });
});

test('after bts:request_reconnect the page reconnects, resubscribes and trades keep coming', async ({ page }) => {
  const feed = await watchFeed(page);
  await page.goto('/trades');
  await expect.poll(() => tradeCount(page), { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
  feed.connections[0].send(JSON.stringify({ event: 'bts:request_reconnect', channel: '', data: '' }));
  await expect.poll(() => feed.connections.length).toBe(2);
  await expect.poll(() => feed.sent[1][0]).toBe(JSON.stringify({ data: { channel: 'live_trades_btcusd' }, event: 'bts:subscribe' }));
  const seen = await tradeCount(page);
  await expect.poll(() => tradeCount(page), { timeout: 15_000 }).toBeGreaterThan(seen);
});

test('a dropped connection is shown, retried with backoff, and trades resume', async ({ page }) => {
  const feed = await watchFeed(page);
  await page.goto('/trades');
  await expect(page.getByTestId('connection')).toHaveText('Connected');
  await feed.connections[0].close({ code: 1006 });
  await expect(page.getByTestId('connection')).toHaveText(/Reconnecting|Offline/);
  await expect(page.getByTestId('connection')).toHaveText('Connected', { timeout: 15_000 });
  expect(feed.connections.length).toBe(2);
  const seen = await tradeCount(page);
  await expect.poll(() => tradeCount(page), { timeout: 15_000 }).toBeGreaterThan(seen);
});

// Frames from Bitstamp's documentation of the v2 WebSocket API, replayed instead of the market.
const trade = (id: number, price: string, type: number, amount = '0.50000000') =>
  JSON.stringify({
    data: { id, timestamp: '1700000000', amount: Number(amount), amount_str: amount, price: Number(price), price_str: price,
      type, microtimestamp: `170000000${id}000000`.slice(0, 16), buy_order_id: 1, sell_order_id: 2 },
    channel: 'live_trades_btcusd',
    event: 'trade',
  });

test('documented frames are shown; unknown and malformed ones are skipped and counted', async ({ page }) => {
  await page.routeWebSocket(/\/market\/ws$/, (ws) => {
    ws.onMessage((message) => {
      const request = JSON.parse(String(message));
      if (request.event !== 'bts:subscribe') return;
      ws.send(JSON.stringify({ event: 'bts:subscription_succeeded', channel: 'live_trades_btcusd', data: {} }));
      ws.send(trade(1, '43200.00', 0));
      ws.send(JSON.stringify({ event: 'data', channel: 'order_book_btcusd', data: { bids: [], asks: [] } }));
      ws.send('{"event": "trade", "data": {');
      ws.send(JSON.stringify({ event: 'trade', channel: 'live_trades_btcusd', data: { id: 9, price: 1 } }));
      ws.send(trade(2, '43205.10', 1));
      ws.send(trade(3, '43210.55', 1));
    });
  });
  await page.goto('/trades');
  await expect(page.getByTestId('trade-row')).toHaveCount(3);
  await expect(page.getByTestId('latest-price')).toHaveText('1 BTC = 43\u202f210.55 USD');
  await expect(page.getByTestId('latest-price')).toHaveClass(/sell/);
  await expect(page.getByTestId('skipped')).toHaveText(' · skipped 3 frames it did not understand');
  await expect(page.getByTestId('trade-row').first()).toContainText('43\u202f210.55');
  await expect(page.getByTestId('trade-row').last()).toContainText('buy');
});

test('an unreachable feed says how to start the demo market', async ({ page }) => {
  await page.routeWebSocket(/\/market\/ws$/, (ws) => ws.close({ code: 1006 }));
  await page.goto('/trades');
  await expect(page.getByTestId('unreachable')).toContainText("make run ARGS='--market demo'");
});

test('on a phone every time, side, amount and price fits its column', async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
  const page = await context.newPage();
  await page.routeWebSocket(/\/market\/ws$/, (ws) => {
    ws.onMessage((message) => {
      if (JSON.parse(String(message)).event !== 'bts:subscribe') return;
      // The widest values the four pairs produce: a large amount, a six-figure price.
      ws.send(trade(1, '143210.55', 0, '125.00000000'));
      ws.send(trade(2, '43210.55', 1, '0.00013666'));
    });
  });
  await page.goto('/trades');
  await expect(page.getByTestId('trade-row')).toHaveCount(2);
  const overflowing = await page
    .getByTestId('trade-row')
    .locator('td')
    .evaluateAll((cells) => cells.filter((c) => c.scrollWidth > c.clientWidth).map((c) => c.textContent));
  expect(overflowing).toEqual([]);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await context.close();
});
