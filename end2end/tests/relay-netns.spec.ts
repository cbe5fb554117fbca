// A call between two networks that cannot reach each other (see netns.ts): each browser in a
// namespace of its own, the server between them. With the embedded relay the call connects,
// relayed on both sides; without it, both pages say it failed. The pages may go direct (no
// --relay-only): nothing but the network makes them use the relay.
//
// The relay runs with its default peer rules (no --turn-allow-private): it relays to no
// private address, so the browsers' own 10.77.x.2 are no peers for it, as browsers behind
// home NATs are not; two relayed addresses of this relay meet inside it. With
// --turn-allow-private it also relays to a browser's own address: the call still goes
// through the relay, but that browser's pair is its host address ↔ the relay's address
// as a peer-reflexive candidate, and its quality line says "direct" (seen, 2 of 2 runs).
import { test, expect, Browser, Page } from '@playwright/test';
import { hearsAndSees, inCall, keepPeerConnections, startCall } from './calls';
import { RELAY_IP, SERVER_A, SERVER_B, Topology } from './netns';

test.describe.configure({ mode: 'serial', timeout: 150_000 });

const WITH_RELAY = 4301;
const WITHOUT_RELAY = 4302;
const net = new Topology();
let browserA: Browser;
let browserB: Browser;

test.beforeAll(async () => {
  test.setTimeout(120_000);
  await net.create();
  await Promise.all([
    net.startServer(WITH_RELAY, ['--turn', '--turn-port', '3478', '--turn-public-ip', RELAY_IP, '--no-ice-servers']),
    net.startServer(WITHOUT_RELAY, ['--no-ice-servers']),
  ]);
  const origins = (host: string) => [WITH_RELAY, WITHOUT_RELAY].map((port) => `http://${host}:${port}`).join(',');
  browserA = await net.browserIn(net.a, origins(SERVER_A));
  browserB = await net.browserIn(net.b, origins(SERVER_B));
});

test.afterAll(async () => net.destroy());

/** A call started by A on the server's side-A address and joined by B on its side-B one. */
async function call(port: number): Promise<[Page, Page]> {
  const a = await (await browserA.newContext()).newPage();
  const b = await (await browserB.newContext()).newPage();
  for (const page of [a, b]) await keepPeerConnections(page);
  const link = await startCall(a, `http://${SERVER_A}:${port}`);
  await b.goto(`http://${SERVER_B}:${port}${link}`);
  return [a, b];
}

test.afterEach(async () => {
  for (const browser of [browserA, browserB]) {
    for (const context of browser?.contexts() ?? []) await context.close().catch(() => {});
  }
});

test('with the embedded relay the call connects, relayed on both sides', async () => {
  const [a, b] = await call(WITH_RELAY);
  await inCall(a);
  await inCall(b);
  await hearsAndSees(a);
  await hearsAndSees(b);
  for (const page of [a, b]) {
    await expect(page.getByTestId('call-quality')).toContainText('relayed through the TURN server', { timeout: 15_000 });
  }
});

test('without the relay the call fails and both pages say so', async () => {
  const [a, b] = await call(WITHOUT_RELAY);
  for (const page of [a, b]) {
    await expect(page.getByTestId('call-state')).toHaveText('Could not connect to the other person.', { timeout: 90_000 });
  }
});
