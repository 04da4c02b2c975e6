// The README's GM-station snippet, run as written against a real box.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBox } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
let box;
before(async () => { box = await startBox(); await box.createSession(); });
after(() => box.stop());

it('the README snippet identifies, submits a scan and sees it acknowledged', async () => {
  const readme = readFileSync(join(here, '../../README.md'), 'utf8');
  const block = readme.split('<!-- gm-station.mjs')[1]?.match(/```js\n([\s\S]*?)```/)?.[1];
  assert.ok(block, 'README has the gm-station.mjs block');
  // Written next to node_modules so `import 'socket.io-client'` resolves.
  const script = join(here, '.readme-gm-station.mjs');
  writeFileSync(script, block);
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, BOX: box.url.replace('http', 'ws'), TOKEN: box.token('gm', 'GM_STATION_01') },
  });
  let out = '';
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`snippet output:\n${out}`)), 10000);
      child.stdout.on('data', (d) => {
        out += d;
        if (/ack accepted \d+/.test(out) && /scores TEAM_A=\d+/.test(out)) { clearTimeout(timer); resolve(); }
      });
      child.stderr.on('data', (d) => { out += d; });
    });
  } finally {
    child.kill();
    rmSync(script, { force: true });
  }
  assert.match(out, /identified; session [0-9a-f-]{36}/);
  assert.match(out, /scan mem001 TEAM_A accepted [1-9]\d*/);
});
