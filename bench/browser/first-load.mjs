// Benchmark (not a test): what a first visit costs, per route. A fresh browser context (no
// cache) opens each route of a release server on loopback; printed: the bytes transferred
// (as the browser received them, compressed), of which wasm, and the time until the page
// works (its connection badge says Connected; pages without a connection: their heading).
// Also the app's files as brotli, gzip and plain, as the server sends them to browsers that
// take each (Chromium takes brotli here: loopback counts as a secure origin). /trades reaches
// out to the exchange, which a loopback-only network cannot: it shows as "never connected".
//
//   node bench/browser/first-load.mjs [--runs 3]      (make bench runs it in a netns)
import { request } from 'node:http';
import { launchBrowser, median, startServer } from './common.mjs';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 3;
const routes = ['/', '/trades', '/chat/simple', '/chat', '/cursors', '/draw', '/remote', '/webcam',
  '/webrtc/sender', '/call', '/meet'];
const { base, stop } = await startServer(4292);
const browser = await launchBrowser();

/** Bytes on the wire for `path` with `encoding` accepted (headers not counted). */
const encodedSize = (path, encoding) => new Promise((done, fail) => {
  request(base + path, { headers: { 'accept-encoding': encoding } }, (res) => {
    let bytes = 0;
    res.on('data', (chunk) => { bytes += chunk.length; });
    res.on('end', () => done({ bytes, encoding: res.headers['content-encoding'] ?? 'identity' }));
  }).on('error', fail).end();
});

async function visit(path) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const sizes = [];
  page.on('requestfinished', (req) => sizes.push(req.sizes().then((s) => ({ url: req.url(), body: s.responseBodySize }))));
  await page.goto(base + path);
  // Works: the first connection badge is connected, or (a page without one) its heading is up.
  const works = await page.waitForFunction(() => {
    const badge = document.querySelector('[data-testid="connection"]');
    if (badge) return badge.classList.contains('connected') && 'connected';
    return document.querySelector('h1') && 'heading';
  }, null, { polling: 'raf', timeout: 10_000 }).then((h) => h.jsonValue(), () => 'never connected');
  const ready = await page.evaluate(() => performance.now());
  const all = await Promise.all(sizes);
  await context.close();
  const total = all.reduce((n, s) => n + s.body, 0);
  const wasm = all.filter((s) => s.url.endsWith('.wasm')).reduce((n, s) => n + s.body, 0);
  return { total, wasm, ready, works };
}

const html = await (await fetch(base + '/')).text();
// The server compresses its files once, in the background, after it starts.
for (let i = 0; i < 600; i++) {
  const wasm = html.match(/\/frontend-[0-9a-f]+_bg\.wasm/)?.[0];
  if ((await encodedSize(wasm, 'br')).encoding === 'br') break;
  await new Promise((r) => setTimeout(r, 100));
}
const wasmPath = html.match(/\/frontend-[0-9a-f]+_bg\.wasm/)?.[0];
const jsPath = html.match(/\/frontend-[0-9a-f]+\.js/)?.[0];
console.log('\nThe app\'s files as the server sends them\n');
for (const path of [wasmPath, jsPath]) {
  const [br, gz, plain] = await Promise.all(['br', 'gzip', 'identity'].map((e) => encodedSize(path, e)));
  console.log(`  ${path.padEnd(40)} brotli ${(br.bytes / 1024).toFixed(1).padStart(6)} KB   gzip ${(gz.bytes / 1024).toFixed(1).padStart(6)} KB   plain ${(plain.bytes / 1024).toFixed(1).padStart(7)} KB`);
}
console.log(`\nFirst visit per route, a fresh context each time, median of ${runs}\n`);
console.log(`  ${'route'.padEnd(16)} ${'transferred'.padStart(12)} ${'of it wasm'.padStart(11)} ${'works after'.padStart(12)}  (until)`);
for (const path of routes) {
  const seen = [];
  for (let i = 0; i < runs; i++) seen.push(await visit(path));
  const kb = (xs) => `${(median(xs) / 1024).toFixed(1)} KB`;
  console.log(`  ${path.padEnd(16)} ${kb(seen.map((s) => s.total)).padStart(12)} ${kb(seen.map((s) => s.wasm)).padStart(11)} ${`${median(seen.map((s) => s.ready)).toFixed(0)} ms`.padStart(12)}  (${seen[0].works})`);
}
console.log('');
await browser.close();
stop();
