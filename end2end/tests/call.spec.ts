// The private call in real Chromium with fake cameras: a call by its own link, video and sound
// both ways, chat, the others' switches, a third told the call is full, a reload that comes
// back, someone opening /call alone seeing nobody, two opening the link at the same moment,
// and hanging up.
import { test, expect, Page } from '@playwright/test';
import { expectMovingVideo, hearsAndSees, inCall, keepPeerConnections, startCall } from './calls';
import { closeUsers, OwnServer, users } from './support';

test.afterEach(closeUsers);

test.describe.configure({ timeout: 90_000 });

test('a call by its link: both see and hear each other, chat, a third is told it is full, a reload comes back, hanging up', async ({ browser }) => {
  const [a, b, c, d] = await users(browser, 4);
  for (const page of [a, b]) await keepPeerConnections(page);
  const link = await startCall(a);
  await expect(a.getByTestId('invite-qr').locator('svg')).toBeVisible();

  await b.goto(link);
  await inCall(a);
  await inCall(b);
  await hearsAndSees(a);
  await hearsAndSees(b);

  await a.getByLabel('Message').fill('hello from a');
  await a.getByRole('button', { name: 'Send' }).click();
  await expect(b.getByRole('log')).toContainText('hello from a');
  await b.getByLabel('Message').fill('and from b');
  await b.getByRole('button', { name: 'Send' }).click();
  await expect(a.getByRole('log')).toContainText('and from b');
  await b.getByRole('button', { name: 'Mute' }).click();
  await expect(a.getByTestId('their-state')).toHaveText('They are muted.');

  // C opens /call on its own: nobody is listed, and its call is another one.
  await c.goto('/call');
  await expect(c.getByRole('button', { name: 'Start a call' })).toBeVisible();
  await expect(c.locator('body')).not.toContainText('Who to call');
  expect(await startCall(c)).not.toBe(link);

  // D opens A's link while A and B talk.
  await d.goto(link);
  await expect(d.getByTestId('problem')).toContainText('This call is full');
  await expect(a.getByTestId('call-state')).toHaveText('In a call');

  // B reloads: the call resumes.
  await b.reload();
  await inCall(b);
  await inCall(a);
  await hearsAndSees(a);
  await hearsAndSees(b);

  await b.getByRole('button', { name: 'Hang up' }).click();
  await expect(b.getByTestId('call-state')).toHaveText('You are not in the call.');
  await expect(a.getByTestId('notice')).toHaveText('The other person left the call.');
  await expect(a.getByTestId('call-state')).toHaveText('Waiting for someone to open the link…');
  // And comes back.
  await b.getByRole('button', { name: 'Rejoin' }).click();
  await inCall(a);
  await inCall(b);
});

test('the other page closing leaves the call waiting for them', async ({ browser }) => {
  const [a, b] = await users(browser, 2);
  const link = await startCall(a);
  await b.goto(link);
  await inCall(a);
  await b.context().close();
  await expect(a.getByTestId('notice')).toHaveText('The other person left the call.');
  await expect(a.getByTestId('call-state')).toHaveText('Waiting for someone to open the link…');
});

test('two opening the same link at the same moment end in one working call', async ({ browser }) => {
  const [a, b] = await users(browser, 2);
  const link = `/call?c=${'samemoment'.padEnd(26, 'a')}`;
  await Promise.all([a.goto(link), b.goto(link)]);
  await inCall(a);
  await inCall(b);
  await expectMovingVideo(a, 'Their camera');
  await expectMovingVideo(b, 'Their camera');
  await a.getByLabel('Message').fill('one call, not two');
  await a.getByRole('button', { name: 'Send' }).click();
  await expect(b.getByRole('log')).toContainText('one call, not two');
});

test('a malformed link is explained and offers a call of ones own', async ({ page }) => {
  await page.goto('/call?c=short');
  await expect(page.getByTestId('problem')).toContainText('That call link is not valid');
  await expect(page.getByRole('button', { name: 'Start a call' })).toBeVisible();
});

/** The ICE configuration every connection of `page` was made with. */
async function iceOf(page: Page): Promise<{ servers: RTCIceServer[]; policy?: string }[]> {
  return page.evaluate(() => ((window as any).__pcs as RTCPeerConnection[]).map((pc) => {
    const config = pc.getConfiguration();
    return { servers: config.iceServers ?? [], policy: config.iceTransportPolicy };
  }));
}

test.describe('through the embedded relay', () => {
  // --relay-only: the pages may use relayed paths only, so the call connects only if our
  // TURN relay relays it (loopback peers allowed, as everything here runs on loopback).
  const relayed = new OwnServer(4194, ['--turn', '--turn-port', '4195', '--turn-allow-loopback', '--relay-only']);
  // The same, with a TURN server that does not answer: nothing can connect.
  const silent = new OwnServer(4196, ['--relay-only', '--ice-server', 'turn:127.0.0.1:4197', '--turn-secret', 'not-used']);
  test.beforeAll(async () => Promise.all([relayed.start(), silent.start()]));
  test.afterAll(async () => Promise.all([relayed.stop(), silent.stop()]));

  test('a relay-only call connects through the relay, with credentials of its own on each page, and says so', async ({ browser }) => {
    const [a, b] = await users(browser, 2);
    for (const page of [a, b]) await keepPeerConnections(page);
    const link = await startCall(a, relayed.url);
    await b.goto(`${relayed.url}${link}`);
    await inCall(a);
    await inCall(b);
    await hearsAndSees(a);
    await hearsAndSees(b);
    for (const page of [a, b]) {
      await expect(page.getByTestId('call-quality')).toContainText('relayed through the TURN server', { timeout: 10_000 });
    }
    // Each page got its own short-lived TURN credentials (expiry:user-id), never a shared password.
    const usernames = [];
    for (const page of [a, b]) {
      const configs = await iceOf(page);
      expect(configs.length).toBeGreaterThan(0);
      for (const config of configs) expect(config.policy).toBe('relay');
      const turn = configs.flatMap((c) => c.servers).find((s) => String(s.urls).startsWith('turn:127.0.0.1:4195'));
      expect(turn?.username).toMatch(/^\d+:[0-9a-f]{16}$/);
      usernames.push(turn!.username);
    }
    expect(usernames[0]).not.toBe(usernames[1]);
    const relayedBytes = async () => {
      const metrics = await (await fetch(`${relayed.url}/metrics`)).text();
      return Number(/^switchboard_turn_relayed_bytes_total (\d+)$/m.exec(metrics)?.[1]);
    };
    // Media, not only the handshakes: seconds of video both ways (on a busy machine the
    // videos may have played for less than that when the checks above passed).
    await expect.poll(relayedBytes, { timeout: 15_000 }).toBeGreaterThan(200_000);
  });

  test('without a working relay a relay-only call fails and both pages say so', async ({ browser }) => {
    const [a, b] = await users(browser, 2);
    const link = await startCall(a, silent.url);
    await b.goto(`${silent.url}${link}`);
    for (const page of [a, b]) {
      await expect(page.getByTestId('call-state')).toHaveText('Could not connect to the other person.', { timeout: 60_000 });
    }
  });
});

/** The local ICE username fragment of each of `page`'s open connections (an ICE restart changes it). */
async function ufrags(page: Page): Promise<string[]> {
  return page.evaluate(() => ((window as any).__pcs as RTCPeerConnection[])
    .filter((pc) => pc.connectionState !== 'closed')
    .map((pc) => /a=ice-ufrag:(\S+)/.exec(pc.localDescription?.sdp ?? '')?.[1] ?? ''));
}

/** The TURN username (`expiry:user-id`) of `page`'s newest connection, for the relay at `port`. */
async function turnUsername(page: Page, port: number): Promise<string> {
  const configs = await iceOf(page);
  const turn = configs.at(-1)?.servers.find((s) => String(s.urls).startsWith(`turn:127.0.0.1:${port}`));
  return String(turn?.username ?? '');
}

test.describe('a relay that goes away and comes back', () => {
  // The relay runs apart from the pages' server (as coturn would, with the same secret), so
  // the test can restart it: every relayed path of the call dies with it.
  const relay = new OwnServer(4198, ['--turn', '--turn-port', '4199', '--turn-allow-loopback', '--turn-secret', 'restart-secret']);
  const pages = new OwnServer(4200, ['--relay-only', '--ice-server', 'turn:127.0.0.1:4199', '--turn-secret', 'restart-secret']);
  test.beforeAll(async () => Promise.all([relay.start(), pages.start()]));
  test.afterAll(async () => Promise.all([relay.stop(), pages.stop()]));

  test('a relay-only call whose relay restarts says it is reconnecting, restarts ICE and goes on', async ({ browser }) => {
    const [a, b] = await users(browser, 2);
    for (const page of [a, b]) await keepPeerConnections(page);
    const link = await startCall(a, pages.url);
    await b.goto(`${pages.url}${link}`);
    await inCall(a);
    await inCall(b);
    await expectMovingVideo(b, 'Their camera');
    const before = await ufrags(a);
    const made = () => a.evaluate(() => (window as any).__pcs.length as number);
    const madeBefore = await made();

    await relay.stop();
    for (const page of [a, b]) {
      await expect(page.getByTestId('call-state')).toHaveText('Reconnecting…', { timeout: 15_000 });
    }
    await relay.start();
    await inCall(a);
    await inCall(b);
    await hearsAndSees(a);
    await hearsAndSees(b);
    // The same connection, with new ICE credentials: its path was found again by an ICE restart.
    const after = await ufrags(a);
    expect(await made()).toBe(madeBefore);
    expect(after).toHaveLength(1);
    expect(after).not.toEqual(before);
  });
});

test.describe('credentials that expire during a call', () => {
  const ttl = 15;
  const short = new OwnServer(4201, ['--turn', '--turn-port', '4202', '--turn-allow-loopback', '--relay-only', '--turn-credential-ttl', String(ttl)]);
  test.beforeAll(async () => short.start());
  test.afterAll(async () => short.stop());

  test('a relay-only call outlives its credentials: the pages renew them, and a later connection uses the new ones', async ({ browser }) => {
    const [a, b] = await users(browser, 2);
    for (const page of [a, b]) await keepPeerConnections(page);
    const link = await startCall(a, short.url);
    await b.goto(`${short.url}${link}`);
    await inCall(a);
    await inCall(b);
    const first = await turnUsername(a, 4202);
    const expiry = Number(first.split(':')[0]);
    expect(expiry).toBeGreaterThan(Date.now() / 1000);

    // Renewed before they expire: the open connection already holds the new ones.
    await expect.poll(() => turnUsername(a, 4202), { timeout: ttl * 1000 }).not.toBe(first);
    await expect.poll(() => Date.now() / 1000, { timeout: ttl * 1000, message: 'the first credentials expire' }).toBeGreaterThan(expiry + 1);
    await expect(a.getByTestId('call-state')).toHaveText('In a call');
    await hearsAndSees(a);

    // B reloads: both pages make new connections, after the first credentials expired.
    await b.reload();
    await inCall(b);
    await inCall(a);
    await hearsAndSees(a);
    await hearsAndSees(b);
    const renewed = await turnUsername(a, 4202);
    expect(renewed).not.toBe(first);
    expect(Number(renewed.split(':')[0])).toBeGreaterThan(Date.now() / 1000);
  });
});
