// What the browser benchmarks share: a release server of their own on loopback, and Debian's
// Chromium with a fake camera that may connect peers over loopback.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

/** Starts target/release/switchboard on `port` and waits until it answers; its base URL and
 * a function that stops it (also called when the process exits). `SITE_DIR` serves another
 * build of the web app (e.g. a copy of dist/ from before a change), `SERVER_BIN` runs another
 * binary (e.g. one built from before a change). */
export async function startServer(port, flags = []) {
  const base = `http://127.0.0.1:${port}`;
  const site = process.env.SITE_DIR ? ['--site-dir', process.env.SITE_DIR] : [];
  const server = spawn(process.env.SERVER_BIN ?? join(root, 'target/release/switchboard'),
    ['--port', String(port), '--data-dir', mkdtempSync(join(tmpdir(), 'sb-bench-')), '--log-level', 'warn', '--no-ice-servers', '--media-port', '0', ...site, ...flags],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  const stop = () => server.kill('SIGTERM');
  process.on('exit', stop);
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/healthz`)).ok) break; } catch {}
    if (i > 200) throw new Error('the server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { base, stop };
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      '--allow-loopback-in-peer-connection', '--disable-background-networking'],
  });
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
