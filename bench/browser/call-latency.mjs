// Benchmark (not a test): time from "call" to the first remote video frame, on loopback, in
// Debian's Chromium with its fake camera. Prints the median of 10 calls for /call (through
// Peer): between the same two pages (one waits in the call, the other clicks "Rejoin"), and
// as a fresh page opening the call's link (from its navigation); for the raw sender/receiver
// pages and for the browser's floor (two connections in one blank page, no server, no app),
// and where a /call's time goes (offer, answer, relays, ICE, DTLS: see rtc-timeline.mjs). It
// starts its own release server.
//
//   node bench/browser/call-latency.mjs [--calls 10]     (make bench runs it in a netns)
import { launchBrowser, median, startServer } from './common.mjs';
import { phases, recordRtc, takeTimeline } from './rtc-timeline.mjs';

const calls = Number(process.argv[process.argv.indexOf('--calls') + 1]) || 10;
const { base, stop } = await startServer(4290);
const browser = await launchBrowser();
const page = async (path) => {
  const context = await browser.newContext();
  await recordRtc(context);
  const p = await context.newPage();
  await p.goto(base + path);
  await p.getByTestId('connection').filter({ hasText: /^Connected/ }).waitFor();
  return p;
};
const myId = async (p) => {
  await p.waitForFunction(() => document.querySelector('[data-testid="my-id"]')?.textContent);
  return p.getByTestId('my-id').textContent();
};
// Resolves (in the page) with the wall-clock times of the first remote frame: `decoded` when
// the video first has a size (its `resize` event), `presented` at the first frame callback
// registered before the call.
const firstFrame = (p) => p.evaluate(() => new Promise((done) => {
  const video = document.querySelector('video[data-testid="Their camera"]');
  const now = () => performance.timeOrigin + performance.now();
  let decoded;
  video.addEventListener('resize', () => { decoded ??= now(); }, { once: true });
  video.requestVideoFrameCallback(() => done({ decoded: decoded ?? now(), presented: now() }));
}));

const link = () => `/call?c=${Array.from({ length: 26 }, () => 'abcdefghijklmnopqrstuvwxyz234567'[Math.floor(Math.random() * 32)]).join('')}`;
const state = (p, text) => p.getByTestId('call-state').filter({ hasText: text }).waitFor();

/** Two pages in one call, then `b` hangs up: `a` waits in it, `b` is ready to rejoin. */
async function callPages() {
  const path = link();
  const a = await page(path);
  await state(a, 'Waiting for someone');
  const b = await page(path);
  await state(b, 'In a call');
  await b.getByRole('button', { name: 'Hang up' }).click();
  await state(a, 'Waiting for someone');
  return { a, b };
}

/** `b` rejoins `a`'s call: the times of `a`'s first remote frame and the steps. */
async function oneCall({ a, b }) {
  await Promise.all([takeTimeline(a), takeTimeline(b)]);
  const frame = firstFrame(a);
  const started = await b.evaluate(() => {
    const button = [...document.querySelectorAll('button')].find((x) => x.textContent === 'Rejoin');
    const t = performance.timeOrigin + performance.now();
    button.click();
    return t;
  });
  const { decoded, presented } = await frame;
  const steps = phases(started, await takeTimeline(a), await takeTimeline(b));
  return { decoded: decoded - started, presented: presented - started, steps };
}

// Calls between the same two pages: every call after the first finds the browser's WebRTC
// machinery warm.
async function measureCall() {
  const pages = await callPages();
  const samples = [];
  for (let i = 0; i < calls; i++) {
    samples.push(await oneCall(pages));
    await pages.b.getByRole('button', { name: 'Hang up' }).click();
    await state(pages.a, 'Waiting for someone');
  }
  await Promise.all([pages.a.context().close(), pages.b.context().close()]);
  return samples;
}

// A fresh page opening the call's link, from its navigation (page load and camera included):
// what someone who follows the link feels.
async function measureFirstCall() {
  const samples = [];
  for (let i = 0; i < calls; i++) {
    const path = link();
    const a = await page(path);
    await state(a, 'Waiting for someone');
    await takeTimeline(a);
    const frame = firstFrame(a);
    const context = await browser.newContext();
    await recordRtc(context);
    const b = await context.newPage();
    await b.goto(base + path);
    const started = await b.evaluate(() => performance.timeOrigin);
    const { decoded, presented } = await frame;
    const steps = phases(started, await takeTimeline(a), await takeTimeline(b));
    samples.push({ decoded: decoded - started, presented: presented - started, steps });
    await Promise.all([a.context().close(), b.context().close()]);
  }
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
    const { decoded, presented } = await frame;
    samples.push({ decoded: decoded - started, presented: presented - started });
    await Promise.all([rx.context().close(), tx.context().close()]);
  }
  return samples;
}

// The same steps in plain JS, both ends in one page: what the browser needs with no signalling
// server, no second process and no app (same camera size as /call).
async function measureFloor() {
  const context = await browser.newContext();
  const p = await context.newPage();
  await p.route(`${base}/floor`, (r) => r.fulfill({ contentType: 'text/html', body: '<!DOCTYPE html><title>floor</title>' }));
  await p.goto(`${base}/floor`);
  const samples = [];
  for (let i = 0; i < calls; i++) {
    samples.push(await p.evaluate(async () => {
      const camera = (window.camera ??= await navigator.mediaDevices.getUserMedia({
        audio: true, video: { width: { ideal: 640 }, height: { ideal: 480 } },
      }));
      const started = performance.now();
      const [a, b] = [new RTCPeerConnection(), new RTCPeerConnection()];
      a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate).catch(() => {});
      b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate).catch(() => {});
      const video = Object.assign(document.createElement('video'), { muted: true, autoplay: true });
      document.body.append(video);
      const decoded = new Promise((done) => video.addEventListener('resize', () => done(performance.now()), { once: true }));
      a.ontrack = (e) => { video.srcObject = e.streams[0]; };
      for (const track of camera.getTracks()) { a.addTrack(track, camera); b.addTrack(track, camera); }
      await b.setRemoteDescription(await a.setLocalDescription().then(() => a.localDescription));
      await b.setLocalDescription();
      await a.setRemoteDescription(b.localDescription);
      const at = await decoded;
      a.close(); b.close(); video.remove();
      return { decoded: at - started, presented: at - started };
    }));
  }
  await context.close();
  return samples;
}

const show = (xs) => `median ${median(xs).toFixed(0).padStart(4)} ms   min ${Math.min(...xs).toFixed(0).padStart(4)}   max ${Math.max(...xs).toFixed(0).padStart(4)}`;
const call = await measureCall();
const first = await measureFirstCall();
const raw = await measureRaw();
const floor = await measureFloor();
console.log(`\nCall → first remote video frame, loopback, ${calls} calls each\n`);
const rows = [['/call (Peer, perfect negotiation)', call], ['/call, a fresh page opens the link', first],
  ['/webrtc/sender → receiver (raw)', raw]];
for (const [name, xs] of rows) {
  console.log(`  ${name}`);
  console.log(`    first frame decoded      ${show(xs.map((s) => s.decoded))}`);
  console.log(`    first frame presented    ${show(xs.map((s) => s.presented))}`);
}
console.log('  the browser alone (plain JS, both ends in one page)');
console.log(`    first frame decoded      ${show(floor.map((s) => s.decoded))}\n`);
console.log('Where a /call goes (ms since the click on Rejoin, or since the fresh page\'s navigation; median of the calls):\n');
console.log(`  ${''.padEnd(30)} ${'warm'.padStart(7)} ${'first'.padStart(7)}`);
const at = (xs, pick) => median(xs.map(pick)).toFixed(1).padStart(7);
for (const [k, [name]] of call[0].steps.entries()) {
  console.log(`  ${name.padEnd(30)} ${at(call, (s) => s.steps[k][1])} ${at(first, (s) => s.steps[k][1])}`);
}
console.log(`  ${'caller: first frame decoded'.padEnd(30)} ${at(call, (s) => s.decoded)} ${at(first, (s) => s.decoded)}`);
console.log(`  ${'caller: first frame presented'.padEnd(30)} ${at(call, (s) => s.presented)} ${at(first, (s) => s.presented)}\n`);
await browser.close();
stop();
