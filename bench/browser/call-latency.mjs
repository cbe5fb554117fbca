// Benchmark (not a test): time from "call" to the first remote video frame, on loopback, in
// Debian's Chromium with its fake camera. Prints the median of 10 calls for /call (through
// Peer) and for the raw sender/receiver pages. It starts its own release server.
//
//   node bench/browser/call-latency.mjs [--calls 10]     (make bench runs it in a netns)
import { launchBrowser, median, startServer } from './common.mjs';

const calls = Number(process.argv[process.argv.indexOf('--calls') + 1]) || 10;
const { base, stop } = await startServer(4290);
const browser = await launchBrowser();
const page = async (path) => {
  const p = await (await browser.newContext()).newPage();
  await p.goto(base + path);
  await p.getByTestId('connection').filter({ hasText: /^Connected/ }).waitFor();
  return p;
};
const myId = async (p) => {
  await p.waitForFunction(() => document.querySelector('[data-testid="my-id"]')?.textContent);
  return p.getByTestId('my-id').textContent();
};
// Resolves (in the page) with the wall-clock time of the next decoded remote frame.
const firstFrame = (p) => p.evaluate(() => new Promise((done) => {
  const video = document.querySelector('video[data-testid="Their camera"]');
  const wait = () => video.videoWidth > 0
    ? video.requestVideoFrameCallback(() => done(performance.timeOrigin + performance.now()))
    : setTimeout(wait, 1);
  wait();
}));

async function measureCall() {
  const [a, b] = [await page('/call'), await page('/call')];
  const bId = await myId(b);
  await a.waitForFunction(() => document.querySelector('video[data-testid="My camera"]')?.videoWidth > 0);
  const samples = [];
  for (let i = 0; i < calls; i++) {
    await a.locator('.peer-list li', { hasText: bId }).getByRole('button', { name: 'Call' }).waitFor();
    const frame = firstFrame(a);
    const started = await a.evaluate((id) => {
      const button = [...document.querySelectorAll('.peer-list li')].find((li) => li.textContent.includes(id)).querySelector('button');
      const t = performance.timeOrigin + performance.now();
      button.click();
      return t;
    }, bId);
    samples.push((await frame) - started);
    await a.getByRole('button', { name: 'Hang up' }).click();
  }
  await Promise.all([a.context().close(), b.context().close()]);
  return samples;
}

async function measureRaw() {
  const samples = [];
  for (let i = 0; i < calls; i++) {
    const rx = await page('/webrtc/receiver');
    const tx = await page('/webrtc/sender');
    const rxId = await myId(rx);
    await tx.waitForFunction(() => document.querySelector('video[data-testid="My camera"]')?.videoWidth > 0);
    await tx.waitForFunction((id) => [...document.querySelectorAll('option')].some((o) => o.value === id), rxId);
    const frame = firstFrame(rx);
    const started = await tx.evaluate((id) => {
      const select = document.querySelector('.peer-picker select');
      const t = performance.timeOrigin + performance.now();
      select.value = id;
      select.dispatchEvent(new Event('input', { bubbles: true }));
      return t;
    }, rxId);
    samples.push((await frame) - started);
    await Promise.all([rx.context().close(), tx.context().close()]);
  }
  return samples;
}

const rows = [['/call (Peer, perfect negotiation)', await measureCall()], ['/webrtc/sender → receiver (raw)', await measureRaw()]];
console.log(`\nCall → first remote video frame, loopback, ${calls} calls each\n`);
for (const [name, xs] of rows) {
  console.log(`  ${name.padEnd(36)} median ${median(xs).toFixed(0).padStart(4)} ms   min ${Math.min(...xs).toFixed(0)}   max ${Math.max(...xs).toFixed(0)}`);
}
console.log(`  ${'raw JS of the seed (DEVELOPERS.md)'.padEnd(36)} ≈ 140 ms (offer → first frame)\n`);
await browser.close();
stop();
