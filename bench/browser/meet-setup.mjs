// Benchmark (not a test): how long a video meeting takes to set up, on loopback, in Debian's
// Chromium with its fake camera, over a mesh (a server with --meet-media mesh: rooms of 3 and
// 4) and through the SFU (the default server: rooms of 3, 4 and 6). The others are in the room
// already, the last one clicks "Join"; measured is the time from that click until every remote
// video on every page of the room shows a frame (camera opening, joining, connecting). Prints
// the median of 5 rooms of each size. Then the way a meeting starts, on the mesh: four click
// Join at the same moment, over 20 rooms: from the clicks until every remote video plays on
// every page, median and worst, and how many rooms never got there within 30 s. It starts its
// own release servers.
//
//   node bench/browser/meet-setup.mjs [--rooms 5] [--at-once 20]   (make bench runs it in a netns)
import { launchBrowser, median, startServer } from './common.mjs';

const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
};
const rooms = arg('--rooms', 5);
const atOnceRooms = arg('--at-once', 20);
const GIVE_UP_MS = 30_000;
const mesh = await startServer(4291, ['--meet-media', 'mesh']);
const sfu = await startServer(4292);
const browser = await launchBrowser();

async function openRoom(room, base = mesh.base) {
  const p = await (await browser.newContext({ viewport: { width: 640, height: 480 } })).newPage();
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

async function measure(size, base) {
  const samples = [];
  for (let r = 0; r < rooms; r++) {
    const room = `bench-${size}-${r}-${Date.now()}`;
    const pages = [];
    for (let i = 0; i < size; i++) pages.push(await openRoom(room, base));
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

// Four pages click Join at one wall-clock moment; the time until every remote video plays on
// every page, or null when some never did within GIVE_UP_MS.
async function atOnce(r) {
  const room = `bench-at-once-${r}-${Date.now()}`;
  const pages = await Promise.all([0, 1, 2, 3].map(() => openRoom(room)));
  const done = pages.map((p) => Promise.race([
    allPlaying(p, 3),
    new Promise((resolve) => setTimeout(() => resolve(null), GIVE_UP_MS)),
  ]));
  const at = Date.now() + 300;
  await Promise.all(pages.map((p, i) => p.evaluate(({ at, name }) => {
    const input = document.querySelector('#member-name');
    input.value = name;
    input.dispatchEvent(new Event('input', { bubbles: true }));
    setTimeout(() => document.querySelector('form.composer button[type="submit"]').click(), at - Date.now());
  }, { at, name: `member${i}` })));
  const ends = await Promise.all(done);
  await Promise.all(pages.map((p) => p.context().close()));
  return ends.includes(null) ? null : Math.max(...ends) - at;
}

if (rooms > 0) console.log(`\nMeeting set-up: last member's "Join" → every remote video playing on every page, loopback, ${rooms} rooms each\n`);
const kinds = [['mesh', mesh.base, [3, 4]], ['SFU', sfu.base, [3, 4, 6]]];
for (const [kind, base, sizes] of rooms > 0 ? kinds : []) {
  for (const size of sizes) {
    const xs = await measure(size, base);
    console.log(`  ${kind.padEnd(4)} ${size} members   median ${median(xs).toFixed(0).padStart(4)} ms   min ${Math.min(...xs).toFixed(0)}   max ${Math.max(...xs).toFixed(0)}`);
  }
}
if (atOnceRooms > 0) {
  const results = [];
  for (let r = 0; r < atOnceRooms; r++) results.push(await atOnce(r));
  const xs = results.filter((x) => x !== null);
  const stuck = results.length - xs.length;
  console.log(`\n  4 click Join at once, ${atOnceRooms} rooms: median ${xs.length ? median(xs).toFixed(0) : '-'} ms   worst ${xs.length ? Math.max(...xs).toFixed(0) : '-'} ms   never connected within ${GIVE_UP_MS / 1000} s: ${stuck} room(s)`);
}
console.log();
await browser.close();
mesh.stop();
sfu.stop();
