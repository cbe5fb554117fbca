// Playwright drives Debian's Chromium (never a downloaded browser) against a debug build of
// the server, started here on a fixed port inside the loopback-only network namespace that
// scripts/e2e.sh creates.
import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM_ARGS } from './chromium';

import { MESH_PORT, PORT } from './ports';
const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-e2e-'));
const meshDataDir = mkdtempSync(join(tmpdir(), 'switchboard-e2e-mesh-'));

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  workers: 2,
  reporter: [['list']],
  // The meetings run after the other apps (the mesh's, then the SFU's: seven pages), then the
  // calls with Firefox, each project alone:
  // four pages that each encode a fake camera per peer take both cores, and tests that play
  // in real time (the two-phone game) would lag behind.
  projects: [
    { name: 'apps', testIgnore: /(meet|firefox)\.spec\.ts/ },
    { name: 'meetings', testMatch: /\/meet\.spec\.ts/, dependencies: ['apps'] },
    { name: 'sfu-meetings', testMatch: /sfu-meet\.spec\.ts/, dependencies: ['meetings'] },
    { name: 'firefox', testMatch: /firefox\.spec\.ts/, dependencies: ['sfu-meetings'] },
  ],
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [...CHROMIUM_ARGS, '--allow-loopback-in-peer-connection'],
    },
  },
  webServer: [
    {
      // No internet in the test namespace: the trades page uses the built-in demo market.
      command: `../target/debug/switchboard --port ${PORT} --media-port 0 --data-dir ${dataDir} --log-level ${process.env.SERVER_LOG ?? "warn"} --market demo --no-ice-servers`,
      url: `http://127.0.0.1:${PORT}/healthz`,
      reuseExistingServer: false,
      // SERVER_LOG=debug shows the server's log (it writes to standard output).
      stdout: process.env.SERVER_LOG ? 'pipe' : 'ignore',
      stderr: 'pipe',
      timeout: 60_000,
    },
    {
      command: `../target/debug/switchboard --port ${MESH_PORT} --meet-media mesh --data-dir ${meshDataDir} --log-level warn --no-ice-servers`,
      url: `http://127.0.0.1:${MESH_PORT}/healthz`,
      reuseExistingServer: false,
      stdout: 'ignore',
      stderr: 'pipe',
      timeout: 60_000,
    },
  ],
});
