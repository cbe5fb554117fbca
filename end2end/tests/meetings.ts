// What the meeting tests share (the mesh's, meet.spec.ts, and the SFU's, sfu-meet.spec.ts):
// joining a room from its page, a member's tile, and whether its video plays.
import { expect, Page } from '@playwright/test';
import { io, Socket } from 'socket.io-client';
import { connected } from './support';

/** A room name no other test uses. */
export function newRoom(prefix = 'room') {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Opens `room` (under the test's base URL, or `base`) and joins it as `name`. */
export async function join(page: Page, room: string, name: string, base = '') {
  await page.goto(`${base}/meet?room=${room}`);
  await connected(page);
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Join' }).click();
  await expect(page.getByTestId('grid')).toBeVisible();
}

export const tile = (page: Page, name: string) => page.locator(`.meet-tile[data-name="${name}"]`);

/** Whether the tile's video shows frames (a remote camera arrived and plays). */
export async function playing(page: Page, name: string): Promise<boolean> {
  return tile(page, name)
    .locator('video')
    .evaluate((v: HTMLVideoElement) => v.videoWidth > 0 && v.readyState >= 2 && !v.paused);
}

/** Seats `names` in `room` with the official socket.io client (no media), one after the
 * other; close the sockets to free the seats. */
export async function seat(baseURL: string, room: string, names: string[]): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (const name of names) {
    const socket = io(`${baseURL}/meet`, { transports: ['websocket'] });
    sockets.push(socket);
    await new Promise<void>((resolve) => {
      socket.once('room', () => resolve());
      socket.emit('join', room, name);
    });
  }
  return sockets;
}
