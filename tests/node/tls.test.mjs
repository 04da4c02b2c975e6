// https:// and wss:// on the second port, with the certificate the box makes for itself: a client
// that trusts the box's CA (downloaded from /ca.crt) connects; one that does not is refused.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { startBox, sleep } from './harness.mjs';

let box;
let tlsUrl;
before(async () => {
  box = await startBox({ config: '[tls]\nlisten = "127.0.0.1:0"\n' });
  for (let i = 0; i < 50 && !tlsUrl; i++) {
    tlsUrl = box.stdout.match(/listening on (https:\/\/\S+)/)?.[1];
    if (!tlsUrl) await sleep(50);
  }
  assert.ok(tlsUrl, `no https line in ${box.stdout}`);
});
after(() => box.stop());

function get(url, options) {
  return new Promise((resolve, reject) => {
    https.get(url, options, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

it('serves the API over https to a client that trusts the box CA, and only to it', async () => {
  const ca = await (await fetch(`${box.url}/ca.crt`)).text();
  assert.match(ca, /BEGIN CERTIFICATE/);
  assert.equal(ca, readFileSync(join(box.dataDir, 'tls', 'ca.crt'), 'utf8'));
  const health = await get(`${tlsUrl}/healthz`, { ca });
  assert.equal(health.status, 200, health.body);
  assert.equal(JSON.parse(health.body).status, 'ok');
  await assert.rejects(get(`${tlsUrl}/healthz`, {}), /self[- ]signed|unable to (get|verify)/i);
});

it('a GM station connects over wss with the stock socket.io-client and scans', async () => {
  await box.createSession();
  const ca = readFileSync(join(box.dataDir, 'tls', 'ca.crt'));
  const socket = io(tlsUrl, {
    transports: ['websocket'], auth: { token: box.token('gm', 'GM_TLS') }, ca, reconnection: false, forceNew: true,
  });
  try {
    const identified = new Promise((r) => socket.once('gm:identified', r));
    socket.emit('gm:identify', { stationId: 'GM_TLS' });
    assert.equal((await identified).success, true);
    const ack = await socket.timeout(5000).emitWithAck('transaction:submit', { tokenId: 'mem004', teamId: 'TEAM_A' });
    assert.equal(ack.success, true, JSON.stringify(ack));
  } finally {
    socket.disconnect();
  }
});
