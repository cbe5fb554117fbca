// Trunk's post-build hook (Trunk.toml): writes `<file>.br` beside every text and wasm file of
// a release build, at brotli's best setting. The server sends these instead of compressing
// at startup, where it uses a faster setting: the best one takes seconds for the wasm (once
// per build here, not once per server start) and makes it about 10 % smaller.
import { brotliCompressSync, constants } from 'node:zlib';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.TRUNK_STAGING_DIR;
if (!dir) throw new Error('run by Trunk: TRUNK_STAGING_DIR is not set');
if (process.env.TRUNK_PROFILE !== 'release') process.exit(0);

const worthIt = /\.(wasm|js|css|html|svg)$/;
for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
  const path = join(entry.parentPath ?? entry.path, entry.name);
  if (!entry.isFile() || !worthIt.test(entry.name)) continue;
  const data = readFileSync(path);
  if (data.length <= 1024) continue;
  const packed = brotliCompressSync(data, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
    },
  });
  if (packed.length < data.length) writeFileSync(`${path}.br`, packed);
}
