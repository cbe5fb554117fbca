// Benchmark (not a test): how long a video meeting takes to set up, on loopback, in Debian's
// Chromium with its fake camera. For rooms of 3 and 4: the others are in the room already,
// the last one clicks "Join"; measured is the time from that click until every remote video
// on every page of the room shows a frame (camera opening, joining, one connection per pair).
// Prints the median of 5 rooms of each size. It starts its own release server.
//
//   node bench/browser/meet-setup.mjs [--rooms 5]     (make bench runs it in a netns)
import { launchBrowser, median, startServer } from './common.mjs';

const rooms = Number(process.argv[process.argv.indexOf('--rooms') + 1]) || 5;
const { base, stop } = await startServer(4291);
const browser = await launchBrowser();

async function openRoom(room) {
  const p = await (await browser.newContext()).newPage();
  await p.goto(`${base}/meet?room=${room}`);
  await p.getByTestId('connection').filter({ hasText: /^Connected/ }).waitFor();
  return p;
}

// Resolves (in the page) with the wall-clock time at which each of `count` remote videos
// has shown a frame: the latest of them.
const allPlaying = (p, count) => p.evaluate((count) => new Promise((done) => {
  const seen = new Map();
  const check = () => {
    const videos = [...document.querySelectorAll('.meet-tile:not(.mine) video')];
    for (const video of videos) {
      if (!seen.has(video) && video.videoWidth > 0) {
        seen.set(video, null);
        video.requestVideoFrameCallback(() => seen.set(video, performance.timeOrigin + performance.now()));
      }
    }
    const times = [...seen.values()].filter((t) => t !== null);
    if (times.length >= count) done(Math.max(...times));
    else setTimeout(check, 2);
  };
  check();
}), count);

const clickJoin = (p, name) => p.evaluate((name) => {
  const input = document.querySelector('#member-name');
  input.value = name;
  input.dispatchEvent(new Event('input', { bubbles: true }));
  const t = performance.timeOrigin + performance.now();
  document.querySelector('form.composer button[type="submit"]').click();
  return t;
}, name);

async function measure(size) {
  const samples = [];
  for (let r = 0; r < rooms; r++) {
    const room = `bench-${size}-${r}-${Date.now()}`;
    const pages = [];
    for (let i = 0; i < size; i++) pages.push(await openRoom(room));
    // Everyone but the last joins and settles first.
    for (let i = 0; i < size - 1; i++) {
      await clickJoin(pages[i], `member${i}`);
      await allPlaying(pages[i], i);
    }
    const done = pages.map((p) => allPlaying(p, size - 1));
    const started = await clickJoin(pages[size - 1], `member${size - 1}`);
    samples.push(Math.max(...(await Promise.all(done))) - started);
    await Promise.all(pages.map((p) => p.context().close()));
  }
  return samples;
}

console.log(`\nMeeting set-up: last member's "Join" → every remote video playing on every page, loopback, ${rooms} rooms each\n`);
for (const size of [3, 4]) {
  const xs = await measure(size);
  console.log(`  ${size} members   median ${median(xs).toFixed(0).padStart(4)} ms   min ${Math.min(...xs).toFixed(0)}   max ${Math.max(...xs).toFixed(0)}`);
}
console.log();
await browser.close();
stop();
