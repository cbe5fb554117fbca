// Helpers shared by the browser tests: several independent users, and servers a test owns
// (to stop and restart them).
import { Browser, BrowserContext, Page, WebSocketRoute, expect } from '@playwright/test';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** Contexts `users` opened in this worker and not closed yet. */
const opened: BrowserContext[] = [];

/** `count` pages, each in its own browser context (separate users, separate storage). */
export async function users(browser: Browser, count: number, viewport?: { width: number; height: number }): Promise<Page[]> {
  const pages: Page[] = [];
  for (let i = 0; i < count; i++) {
    const context = await browser.newContext(viewport ? { viewport } : {});
    opened.push(context);
    pages.push(await context.newPage());
  }
  return pages;
}

/** Closes what `users` opened; every file that uses it runs this after each test. Pages left
 * open keep their camera and connections: the next test's pages share the browser (and its
 * one fake camera, opened at the first page's resolution) with them. */
export async function closeUsers() {
  for (const context of opened.splice(0)) await context.close().catch(() => {});
}

/** Waits until the page's connection badge says it is connected. */
export async function connected(page: Page) {
  await expect(page.getByTestId('connection')).toHaveText(/^Connected/);
}

const BINARY = resolve(__dirname, '../../target/debug/switchboard');

/** A server process owned by one test: it can be stopped and started again on the same port
 * and data directory. */
export class OwnServer {
  readonly dataDir = mkdtempSync(join(tmpdir(), 'switchboard-own-'));
  private process?: ChildProcess;
  /** `flags` go to the server as they are (e.g. `['--redis-url', url]`). */
  constructor(readonly port: number, readonly flags: string[] = []) {}

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    const args = ['--port', String(this.port), '--media-port', '0', '--data-dir', this.dataDir, '--log-level', 'warn', ...this.flags];
    const child = spawn(BINARY, args, {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    this.process = child;
    for (let i = 0; i < 200; i++) {
      try {
        const res = await fetch(`${this.url}/healthz`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`server on port ${this.port} did not start`);
  }

  /** Stops gracefully (SIGTERM) and waits for the process to exit. */
  async stop() {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

/** A redis-server of the test's own on `port` (never the system's service). */
export class OwnRedis {
  private process?: ChildProcess;
  constructor(readonly port: number) {}

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start() {
    this.process = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', ''], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const net = await import('node:net');
    for (let i = 0; i < 200; i++) {
      const up = await new Promise<boolean>((resolve) => {
        const socket = net.connect(this.port, '127.0.0.1', () => (socket.end(), resolve(true)));
        socket.on('error', () => resolve(false));
      });
      if (up) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server on port ${this.port} did not start`);
  }

  async stop() {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * Lets a test take a page's network away and give it back. `context.setOffline` alone is not
 * enough: Chromium's offline mode refuses new connections but leaves an open WebSocket open,
 * and on a machine with only loopback the page gets no `offline` event either (it is
 * "offline" from the start). So the page's socket.io connections go through Playwright, and
 * going offline also drops them, as a real network that went away does.
 */
export async function network(page: Page) {
  const open: WebSocketRoute[] = [];
  let offline = false;
  await page.context().routeWebSocket(/\/socket\.io\//, (ws) => {
    if (offline) {
      ws.close({ code: 1001, reason: 'offline' });
      return;
    }
    ws.connectToServer();
    open.push(ws);
  });
  return {
    async goOffline() {
      offline = true;
      await page.context().setOffline(true);
      for (const ws of open.splice(0)) await ws.close({ code: 1001, reason: 'offline' });
    },
    async comeBack() {
      offline = false;
      await page.context().setOffline(false);
    },
  };
}
