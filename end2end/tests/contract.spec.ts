// The five wire contracts as the course's pages speak them: the official socket.io client
// (npm `socket.io-client`, from Node here), default options (long-polling first, then the
// upgrade to WebSocket). No browser: this is what an outside conformance suite sees.
//
// The same file runs against the course's Node server, to show these expectations are the
// course's and not ours: start it inside the same namespace and point CONTRACT_URL at it
// (see DEVELOPERS.md).
import { test, expect } from '@playwright/test';
import { io, Socket } from 'socket.io-client';

type Seen = { event: string; args: unknown[] };

/** One client and every event it has received but no test step has taken yet. */
class Client {
  private seen: Seen[] = [];
  private wake: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.onAny((event: string, ...args: unknown[]) => {
      this.seen.push({ event, args });
      this.wake.splice(0).forEach((w) => w());
    });
  }

  /** Connects to `ns`, listening from the first packet on. */
  static async connect(url: string, ns: string): Promise<Client> {
    const socket = io(`${url}${ns}`, { forceNew: true, reconnection: false, autoConnect: false });
    const client = new Client(socket);
    const connected = new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    socket.connect();
    await connected;
    return client;
  }

  get id(): string {
    return this.socket.id!;
  }

  /** The arguments of the next `event` that `accept` takes; earlier ones are consumed. */
  async next(event: string, accept: (args: unknown[]) => boolean = () => true, ms = 5_000): Promise<unknown[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      while (this.seen.length > 0) {
        const first = this.seen.shift()!;
        if (first.event === event && accept(first.args)) return first.args;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching "${event}" within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The names of the events received in the next `ms` (and any not yet taken). */
  async eventsWithin(ms: number): Promise<string[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.seen.splice(0).map((s) => s.event);
  }

  close() {
    this.socket.disconnect();
  }
}

let url: string;
let clients: Client[] = [];

test.beforeEach(({ baseURL }) => {
  url = process.env.CONTRACT_URL ?? baseURL!;
});
test.afterEach(() => {
  clients.forEach((c) => c.close());
  clients = [];
});

async function connect(ns: string, count: number): Promise<Client[]> {
  const made = await Promise.all(Array.from({ length: count }, () => Client.connect(url, ns)));
  clients.push(...made);
  return made;
}

/** Long enough for a delivery that would happen on loopback, short enough for a test. */
const QUIET_MS = 400;

test('/simple-chat: a message reaches everyone, sender included, unchanged', async () => {
  const [a, b] = await connect('/simple-chat', 2);
  a.socket.emit('message', 'hello, all');
  expect(await a.next('message')).toEqual(['hello, all']);
  expect(await b.next('message')).toEqual(['hello, all']);
});

test('/chat: the name is confirmed to its owner only; messages carry {id, name} and text', async () => {
  const [ada, bob] = await connect('/chat', 2);
  ada.socket.emit('name', 'Ada');
  expect(await ada.next('name')).toEqual(['Ada']);

  // Bob has no name: his message reaches nobody.
  bob.socket.emit('message', 'anyone?');
  expect(await ada.eventsWithin(QUIET_MS)).not.toContain('message');
  const bobGot = await bob.eventsWithin(0);
  expect(bobGot).not.toContain('name');
  expect(bobGot).not.toContain('message');

  ada.socket.emit('message', 'hi');
  const expected = [{ id: ada.id, name: 'Ada' }, 'hi'];
  expect(await ada.next('message')).toEqual(expected);
  expect(await bob.next('message')).toEqual(expected);
});

test('/cursors: every client gets the map of {id, x, y}; moves show and leavers vanish', async () => {
  const [a, b] = await connect('/cursors', 2);
  const [map] = (await b.next('update', ([m]) => a.id in (m as object) && b.id in (m as object))) as [
    Record<string, { id: string; x: number; y: number }>,
  ];
  for (const id of [a.id, b.id]) {
    expect(map[id].id).toBe(id);
    for (const v of [map[id].x, map[id].y]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1);
    }
  }

  a.socket.emit('update', { x: 0.25, y: 0.75 });
  await b.next('update', ([m]) => {
    const mine = (m as Record<string, unknown>)[a.id];
    return JSON.stringify(mine) === JSON.stringify({ id: a.id, x: 0.25, y: 0.75 });
  });

  a.close();
  await b.next('update', ([m]) => !(a.id in (m as object)) && b.id in (m as object));
});

test('/remote: update(targetId, data) reaches the target only, as update(data)', async () => {
  const [desktop, phone, bystander] = await connect('/remote', 3);
  phone.socket.emit('update', desktop.id, { x: 0.5, y: 0.1 });
  expect(await desktop.next('update')).toEqual([{ x: 0.5, y: 0.1 }]);
  expect(await bystander.eventsWithin(QUIET_MS)).not.toContain('update');
  expect(await phone.eventsWithin(0)).not.toContain('update');
});

test('/signal: clients on every connect and disconnect; relays carry the real sender id', async () => {
  const [a] = await connect('/signal', 1);
  await a.next('clients', ([m]) => a.id in (m as object));
  const [b] = await connect('/signal', 1);
  const [both] = await a.next('clients', ([m]) => b.id in (m as object));
  expect(both).toEqual({ [a.id]: { id: a.id }, [b.id]: { id: b.id } });

  const payloads: Record<string, unknown> = {
    peerOffer: { type: 'offer', sdp: 'v=0 offer' },
    peerAnswer: { type: 'answer', sdp: 'v=0 answer' },
    peerIce: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 },
    signal: { type: 'offer', sdp: 'v=0 simple-peer' },
  };
  for (const [event, payload] of Object.entries(payloads)) {
    a.socket.emit(event, b.id, payload);
    expect(await b.next(event)).toEqual([b.id, payload, a.id]);
  }
  expect(await a.eventsWithin(QUIET_MS)).not.toContain('peerOffer');

  b.close();
  expect(await a.next('clients', ([m]) => !(b.id in (m as object)))).toEqual([{ [a.id]: { id: a.id } }]);
});
