// Three network namespaces on this machine for calls where a direct path is impossible:
// browser A on 10.77.1.0/24, browser B on 10.77.2.0/24, the server in the middle on both.
// The middle does not forward (ip_forward=0), so A and B reach only the server, never each
// other. Only veth pairs between them: no physical interface, no way off the machine.
import { Browser, chromium } from '@playwright/test';
import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { CHROMIUM_ARGS } from '../chromium';

const run = promisify(execFile);
const BINARY = resolve(__dirname, '../../target/debug/switchboard');

/** The server's address on each side, and the relay's own address (on the server's
 * loopback, routed to from both sides, as a public address would be). */
export const SERVER_A = '10.77.1.1';
export const SERVER_B = '10.77.2.1';
export const RELAY_IP = '10.77.0.1';

async function ip(...args: string[]) {
  try {
    await run('ip', args);
  } catch (error: any) {
    throw new Error(`ip ${args.join(' ')}: ${error.stderr || error.message}`);
  }
}

export class Topology {
  private readonly tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  /** Namespace names, unique per run so that parallel runs never meet. */
  readonly a = `sb-a-${this.tag}`;
  readonly b = `sb-b-${this.tag}`;
  readonly server = `sb-s-${this.tag}`;
  private created: string[] = [];
  private processes: ChildProcess[] = [];
  private browsers: Browser[] = [];

  /** Builds the namespaces and links; throws (the test fails) with the reason when the
   * machine does not let us (no root, no `ip`). */
  async create() {
    try {
      // Should the worker die before afterAll runs, the namespaces go with it all the same.
      process.once('exit', () => {
        for (const ns of this.created) execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      });
      for (const ns of [this.a, this.b, this.server]) {
        await ip('netns', 'add', ns);
        this.created.push(ns);
        await ip('-n', ns, 'link', 'set', 'lo', 'up');
      }
      await ip('netns', 'exec', this.server, 'sysctl', '-qw', 'net.ipv4.ip_forward=0');
      await ip('-n', this.server, 'addr', 'add', `${RELAY_IP}/32`, 'dev', 'lo');
      for (const [ns, net] of [[this.a, 1], [this.b, 2]] as const) {
        await ip('link', 'add', 'up0', 'netns', ns, 'type', 'veth', 'peer', 'name', `down${net}`, 'netns', this.server);
        await ip('-n', ns, 'addr', 'add', `10.77.${net}.2/24`, 'dev', 'up0');
        await ip('-n', this.server, 'addr', 'add', `10.77.${net}.1/24`, 'dev', `down${net}`);
        await ip('-n', ns, 'link', 'set', 'up0', 'up');
        await ip('-n', this.server, 'link', 'set', `down${net}`, 'up');
        // The relay's address only, through the server: no default route, no route to the other side.
        await ip('-n', ns, 'route', 'add', `${RELAY_IP}/32`, 'via', `10.77.${net}.1`);
      }
    } catch (error: any) {
      await this.destroy();
      throw new Error(`cannot build the test's network namespaces (needs root and iproute2): ${error.message}`);
    }
  }

  /** Starts a server in the middle namespace, listening on every address there. */
  async startServer(port: number, flags: string[]): Promise<ChildProcess> {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-netns-'));
    const args = ['netns', 'exec', this.server, BINARY, '--bind', '0.0.0.0', '--port', String(port), '--media-port', '0', '--data-dir', dataDir, '--log-level', 'warn', ...flags];
    const child = spawn('ip', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    this.processes.push(child);
    // Healthy as seen from both sides.
    for (const [ns, host] of [[this.a, SERVER_A], [this.b, SERVER_B]]) {
      let up = false;
      for (let i = 0; i < 200 && !up && child.exitCode === null; i++) {
        up = await run('ip', ['netns', 'exec', ns, 'curl', '-sf', '-o', '/dev/null', `http://${host}:${port}/healthz`]).then(() => true, () => false);
        if (!up) await new Promise((r) => setTimeout(r, 50));
      }
      if (!up) throw new Error(`the server on port ${port} is not reachable from ${ns}`);
    }
    return child;
  }

  /** Chromium in namespace `ns`: Playwright talks to it over a pipe, which `ip netns exec`
   * passes through. `origin` is made a secure context (the camera needs one) although it is
   * plain http on an address that is not loopback. */
  async browserIn(ns: string, origin: string): Promise<Browser> {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-netns-chromium-'));
    const wrapper = join(dir, 'chromium');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} /usr/bin/chromium "$@"\n`);
    chmodSync(wrapper, 0o755);
    const browser = await chromium.launch({
      executablePath: wrapper,
      args: [...CHROMIUM_ARGS, `--unsafely-treat-insecure-origin-as-secure=${origin}`],
    });
    this.browsers.push(browser);
    return browser;
  }

  /** Ends what it started and deletes the namespaces (their veths go with them). */
  async destroy() {
    for (const browser of this.browsers.splice(0)) await browser.close().catch(() => {});
    for (const child of this.processes.splice(0)) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    for (const ns of this.created.splice(0)) await ip('netns', 'del', ns).catch(() => {});
  }
}
