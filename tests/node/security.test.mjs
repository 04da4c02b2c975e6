// Attacks on the box from the security review, end to end against the real binary. Each test
// performs one attack the box used to fall for and asserts the box now refuses it or stays
// within its bounds; run against a box from before the fixes, every one of them fails.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { BIN, connect, emitAck, sleep, startBox, station } from './harness.mjs';

const MiB = 1024;

/**
 * An HTTP request from a chosen loopback address: the box tells clients apart by address, so
 * 127.0.0.2, 127.0.0.3 … are as many different clients. A new connection each time.
 */
function request(box, method, path, { body, token, from = '127.0.0.1', timeoutMs = 90_000 } = {}) {
  const { hostname, port } = new URL(box.url);
  const data = body === undefined ? undefined : JSON.stringify(body);
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (data !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = Buffer.byteLength(data);
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, method, path, headers, localAddress: from, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, json, text });
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path} from ${from}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** Resident memory now, its peak so far (both KiB) and the thread count of a process. */
function procStatus(pid) {
  const fields = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return { rssKiB: parseInt(fields.VmRSS, 10), peakKiB: parseInt(fields.VmHWM, 10), threads: parseInt(fields.Threads, 10) };
}

/** Samples a process's thread count until stopped; a short spike is what the attack makes. */
function threadSampler(pid, everyMs = 20) {
  let max = procStatus(pid).threads;
  const timer = setInterval(() => {
    try { max = Math.max(max, procStatus(pid).threads); } catch { /* the box exited: the test sees that elsewhere */ }
  }, everyMs);
  return { get max() { return max; }, stop: () => clearInterval(timer) };
}

/** A raw TCP connection to the box from `localAddress`, recording what it receives and its close. */
function rawConnection(box, localAddress) {
  const socket = net.connect({ host: '127.0.0.1', port: Number(new URL(box.url).port), localAddress });
  const conn = { socket, received: '', closed: false };
  socket.setEncoding('utf8');
  socket.on('data', (d) => { conn.received += d; });
  // A reset from the box is a close like any other here.
  socket.on('error', () => {});
  socket.on('close', () => { conn.closed = true; });
  conn.connected = new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  return conn;
}

/**
 * The box's heap, in KiB, per connection that `open` adds to `conns` and leaves open: read
 * before and after, the second reading over 5 s after the first (the box reuses a reading
 * for 5 s).
 */
async function heapKibPerConnection(box, conns, open) {
  const admin = await box.adminToken();
  const heap = async () => (await box.http('GET', '/api/hardware', { token: admin })).json.memory.heapInUseKib;
  const before = await heap();
  const readAt = Date.now();
  await open();
  await sleep(Math.max(500, readAt + 5200 - Date.now()));
  return (await heap() - before) / conns.length;
}

/** Polls `condition` until it holds or `timeoutMs` passes; returns whether it held. */
async function waitFor(condition, timeoutMs, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (condition()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(everyMs);
  }
}

async function viewerToken(box, name) {
  const res = await box.http('POST', '/api/auth', { body: { name, pin: box.viewerPin } });
  assert.equal(res.status, 200, `viewer login: ${res.text}`);
  return res.json.token;
}

const countBy = (answers) => answers.reduce((n, a) => ({ ...n, [a.status]: (n[a.status] ?? 0) + 1 }), {});

describe('scanning with the wrong token', () => {
  let box;
  // Enough player slots that the scanners of these tests never hit the device limit.
  before(async () => { box = await startBox({ config: '[limits]\nmax_player_scanners = 100\n' }); await box.createSession(); });
  after(() => box.stop());

  it('a viewer token (anyone with the venue PIN) cannot scan: no transaction, no video, single or batch', async () => {
    const viewer = await viewerToken(box, 'Vic');
    const before = (await box.http('GET', '/api/state')).json;
    const single = await box.http('POST', '/api/scan', { body: { tokenId: 'vid003' }, token: viewer });
    assert.equal(single.status, 403, single.text);
    assert.equal(single.json.code, 'FORBIDDEN');
    const batch = await box.http('POST', '/api/scan/batch', { body: { transactions: [{ tokenId: 'vid001', scanId: 'v-1' }] }, token: viewer });
    assert.equal(batch.status, 403, batch.text);
    assert.equal(batch.json.code, 'FORBIDDEN');
    const after = (await box.http('GET', '/api/state')).json;
    assert.equal(after.lastEventSeq, before.lastEventSeq, 'the refused scans logged nothing');
    assert.equal(after.currentVideo, null, 'no video started');
    assert.deepEqual(after.videoQueue, []);
    assert.equal(after.devices.some((d) => d.deviceId === 'vic'), false, 'the viewer took no scanner slot');
  });

  it('a player token cannot scan as another device: a forged deviceId and scanId are refused, the real scanner keeps its own', async () => {
    const evil = box.token('player', 'P_EVIL');
    const real = box.token('player', 'P_REAL');
    // The forgery would otherwise make P_REAL's own later scan s-1 come back as a replay of it.
    const forged = await box.http('POST', '/api/scan', { body: { tokenId: 'mem001', deviceId: 'P_REAL', scanId: 's-1' }, token: evil });
    assert.equal(forged.status, 403, forged.text);
    assert.equal(forged.json.code, 'FORBIDDEN');
    assert.match(forged.json.message, /P_EVIL/, 'the refusal names the device the token scans as');
    // In a batch the box may refuse the whole request or just that scan; either way it is not recorded.
    const forgedBatch = await box.http('POST', '/api/scan/batch', {
      body: { transactions: [{ tokenId: 'mem002', deviceId: 'P_REAL', scanId: 's-2' }] }, token: evil,
    });
    if (forgedBatch.status === 200) assert.equal(forgedBatch.json.results[0].error?.code, 'FORBIDDEN', forgedBatch.text);
    else assert.equal(forgedBatch.json.code, 'FORBIDDEN', forgedBatch.text);

    const own = await box.http('POST', '/api/scan', { body: { tokenId: 'mem003', scanId: 's-1' }, token: real });
    assert.equal(own.status, 200, own.text);
    assert.equal(own.json.replayed, false);
    assert.equal(own.json.transaction.tokenId, 'mem003');
    assert.equal(own.json.transaction.scannerId, 'P_REAL');
    const named = await box.http('POST', '/api/scan', { body: { tokenId: 'mem004', deviceId: 'P_REAL', scanId: 's-2' }, token: real });
    assert.equal(named.status, 200, named.text);
    assert.equal(named.json.replayed, false);
    assert.equal(named.json.transaction.tokenId, 'mem004');

    // Staff may record a scan for any device (a desk scanner, a correction).
    const desk = await box.http('POST', '/api/scan', { body: { tokenId: 'mem005', deviceId: 'P_DESK' }, token: await box.adminToken() });
    assert.equal(desk.status, 200, desk.text);
    assert.equal(desk.json.transaction.scannerId, 'P_DESK');

    const recent = (await box.http('GET', '/api/state')).json.recentTransactions;
    assert.deepEqual(recent.filter((t) => t.scannerId === 'P_REAL').map((t) => t.tokenId).sort(), ['mem003', 'mem004']);
  });

  it('a scanner cannot store a 60 KB or malformed teamId or tokenId in the log (single and batch)', async () => {
    const player = box.token('player', 'P_VALID');
    const bad = [
      { tokenId: 'mem001', teamId: 'x'.repeat(60_000) },
      { tokenId: 'mem001', teamId: '' },
      { tokenId: 'mem001', teamId: 'TEAM A' },
      { tokenId: 'mem001', teamId: '<b>' },
      { tokenId: 'mem001', teamId: 'é' },
      { tokenId: 'x'.repeat(65) },
      { tokenId: 'mem 001' },
      { tokenId: '<img src=x>' },
    ];
    for (const scan of bad) {
      const res = await box.http('POST', '/api/scan', { body: scan, token: player });
      const label = JSON.stringify(scan).slice(0, 80);
      assert.equal(res.status, 400, `${label}: ${res.text.slice(0, 200)}`);
      assert.equal(res.json.code, 'INVALID_DATA', label);
    }
    // A batch answers each scan on its own (or may refuse the whole batch): none of these is recorded.
    const batch = await box.http('POST', '/api/scan/batch', { body: { transactions: bad.map((s, i) => ({ ...s, scanId: `bad-${i}` })) }, token: player });
    if (batch.status === 200) {
      for (const [i, r] of batch.json.results.entries()) {
        assert.equal(r.error?.code, 'INVALID_DATA', `batch scan ${i}: ${JSON.stringify(r).slice(0, 200)}`);
      }
    } else {
      assert.equal(batch.status, 400, batch.text.slice(0, 200));
      assert.equal(batch.json.code, 'INVALID_DATA');
    }
    // Every allowed character passes: the refusals above are about the values, not the scanner.
    const good = await box.http('POST', '/api/scan', { body: { tokenId: 'mem006', teamId: 'Team_A-1.b:c' }, token: player });
    assert.equal(good.status, 200, good.text);
    const recent = (await box.http('GET', '/api/state')).json.recentTransactions;
    assert.deepEqual(recent.filter((t) => t.scannerId === 'P_VALID').map((t) => t.tokenId), ['mem006']);
  });

  it('one token flooding scans is rate limited with 429, a batch counts each scan, and another token still scans', async () => {
    const fast = box.token('player', 'P_FAST');
    const calm = box.token('player', 'P_CALM');
    const started = Date.now();
    // The burst is one full offline batch (100 scans); 130 at once is past it.
    const [calmAnswer, ...flood] = await Promise.all([
      box.http('POST', '/api/scan', { body: { tokenId: 'mem010' }, token: calm }),
      ...Array.from({ length: 130 }, () => box.http('POST', '/api/scan', { body: { tokenId: 'mem007' }, token: fast })),
    ]);
    const elapsedSecs = (Date.now() - started) / 1000;
    assert.equal(calmAnswer.status, 200, `another token is unaffected: ${calmAnswer.text}`);
    const counts = countBy(flood);
    assert.deepEqual(Object.keys(counts).filter((s) => s !== '200' && s !== '429'), [], JSON.stringify(counts));
    assert.ok((counts[429] ?? 0) >= 1, `130 scans at once from one token were all accepted: ${JSON.stringify(counts)}`);
    for (const res of flood.filter((r) => r.status === 429)) assert.equal(res.json.code, 'RATE_LIMITED');
    // The limit itself (burst 100, 10 a second), whatever the box's speed: it can only let more through when slower.
    assert.ok((counts[200] ?? 0) <= 100 + Math.ceil(10 * elapsedSecs) + 1, `${counts[200]} accepted in ${elapsedSecs} s`);

    // A full offline batch fits the burst; a second one right after does not, and is refused
    // whole so the scanner keeps it queued: none of its scans is recorded.
    const batcher = box.token('player', 'P_BATCH');
    const batchOf = (prefix) => ({ transactions: Array.from({ length: 100 }, (_, i) => ({ tokenId: 'mem008', scanId: `${prefix}-${i}` })) });
    const first = await box.http('POST', '/api/scan/batch', { body: batchOf('first'), token: batcher });
    assert.equal(first.status, 200, first.text.slice(0, 200));
    assert.equal(first.json.results.length, 100);
    const seqBefore = (await box.http('GET', '/api/state')).json.lastEventSeq;
    const second = await box.http('POST', '/api/scan/batch', { body: batchOf('second'), token: batcher });
    assert.equal(second.status, 429, second.text.slice(0, 200));
    assert.equal(second.json.code, 'RATE_LIMITED');
    assert.equal((await box.http('GET', '/api/state')).json.lastEventSeq, seqBefore, 'the refused batch logged nothing');
  });
});

describe('scanner slots', () => {
  it('made-up deviceIds (from a viewer or another scanner) cannot fill the player slots: a real scanner still scans', async () => {
    const box = await startBox({ config: '[limits]\nmax_player_scanners = 8\n' });
    try {
      await box.createSession();
      const viewer = await viewerToken(box, 'Squatter');
      const evil = box.token('player', 'P_EVIL');
      const squatting = [];
      for (let i = 1; i <= 8; i++) {
        const token = i <= 4 ? viewer : evil;
        squatting.push(await box.http('POST', '/api/scan', { body: { tokenId: 'mem001', deviceId: `FAKE_${i}` }, token }));
      }
      const real = await box.http('POST', '/api/scan', { body: { tokenId: 'mem002' }, token: box.token('player', 'P_REAL') });
      assert.equal(real.status, 200, `the real scanner was refused: ${real.text}`);
      assert.equal(real.json.transaction.scannerId, 'P_REAL');
      for (const res of squatting) assert.equal(res.status, 403, res.text.slice(0, 200));
      const devices = (await box.http('GET', '/api/state')).json.devices.map((d) => d.deviceId);
      assert.deepEqual(devices.filter((d) => d.startsWith('FAKE_')), []);
    } finally {
      await box.stop();
    }
  });
});

describe('password and PIN guessing', () => {
  it('an admin password flood (120 wrong passwords from 12 addresses at once) stays under 100 MiB and is mostly refused unchecked', async () => {
    const box = await startBox();
    try {
      const pid = box.proc.pid;
      const rssBefore = procStatus(pid).rssKiB;
      const guesses = [];
      for (let a = 2; a <= 13; a++) {
        for (let i = 0; i < 10; i++) {
          // Both password logins, 10 from each address: exactly what the per-address limit allows.
          const path = i % 2 ? '/api/auth' : '/api/admin/auth';
          guesses.push(request(box, 'POST', path, { body: { password: `guess-${a}-${i}` }, from: `127.0.0.${a}` }));
        }
      }
      const answers = await Promise.all(guesses);
      // The peak (VmHWM), not the end: each check's memory is freed once it is done.
      const grewMiB = (procStatus(pid).peakKiB - rssBefore) / MiB;
      assert.ok(grewMiB < 100, `resident memory grew by ${grewMiB.toFixed(0)} MiB during the flood`);
      const counts = countBy(answers);
      assert.deepEqual(Object.keys(counts).filter((s) => s !== '401' && s !== '429'), [], JSON.stringify(counts));
      assert.ok((counts[429] ?? 0) >= 90, `most guesses should be refused unchecked: ${JSON.stringify(counts)}`);
      for (const res of answers.filter((r) => r.status === 429)) assert.equal(res.json.code, 'RATE_LIMITED');
      assert.equal((await box.http('GET', '/healthz')).status, 200);
    } finally {
      await box.stop();
    }
  });

  it('admin password guessing from a few addresses runs into the box-wide budget: they are refused even the right password, a device that never guessed is not', async () => {
    const box = await startBox();
    try {
      const started = Date.now();
      let checked = 0;
      let refusal = null;
      let n = 0;
      // Ten addresses in turn: each one's first guess is checked like anyone's, after that
      // they are suspects held to the box-wide budget (20, refilling one every 3 s).
      for (; n < 90 && !refusal; n++) {
        const from = `127.0.0.${30 + (n % 10)}`;
        const path = n % 2 ? '/api/auth' : '/api/admin/auth';
        const res = await request(box, 'POST', path, { body: { password: `guess-${n}` }, from });
        if (res.status === 401) checked++;
        else if (res.status === 429) refusal = res;
        else assert.fail(`unexpected answer ${res.status} ${res.text}`);
      }
      const elapsedSecs = (Date.now() - started) / 1000;
      assert.ok(refusal, `${checked} wrong passwords from ten addresses were all checked`);
      assert.equal(refusal.json.code, 'RATE_LIMITED');
      assert.match(refusal.json.message, /box-wide/i);
      assert.ok(checked <= 10 + 20 + Math.ceil(elapsedSecs / 3) + 1, `${checked} wrong passwords were checked in ${elapsedSecs} s`);
      const fromGuesser = await request(box, 'POST', '/api/admin/auth', { body: { password: box.password }, from: '127.0.0.30' });
      assert.equal(fromGuesser.status, 429, `the right password from a guessing address: ${fromGuesser.text}`);
      const fromStaff = await request(box, 'POST', '/api/admin/auth', { body: { password: box.password }, from: '127.0.0.200' });
      assert.equal(fromStaff.status, 200, `a device that never guessed is not locked out: ${fromStaff.text}`);
    } finally {
      await box.stop();
    }
  });

  it('venue PIN guessing from 20 addresses (5 guesses each) runs into the box-wide budget: they are refused even the right PIN, a fresh phone is not', async () => {
    const box = await startBox();
    try {
      const pin = box.viewerPin;
      assert.match(pin, /^\d{6}$/);
      const answers = [];
      for (let i = 0; i < 100; i++) {
        let guess = String((Number(pin) + 1 + i * 7919) % 1_000_000).padStart(6, '0');
        if (guess === pin) guess = 'x' + guess;
        answers.push(await request(box, 'POST', '/api/auth', { body: { name: `guesser${i}`, pin: guess }, from: `127.0.0.${20 + (i % 20)}` }));
      }
      const counts = countBy(answers);
      assert.deepEqual(Object.keys(counts).filter((s) => s !== '401' && s !== '429'), [], JSON.stringify(counts));
      // 20 first guesses and a budget of 30 (plus its refill) are checked; the rest are not.
      assert.ok((counts[429] ?? 0) >= 40, `wrong PINs from 20 addresses: ${JSON.stringify(counts)}`);
      for (const res of answers.filter((r) => r.status === 429)) assert.equal(res.json.code, 'RATE_LIMITED');
      const fromGuesser = await request(box, 'POST', '/api/auth', { body: { name: 'guesser', pin }, from: '127.0.0.20' });
      assert.equal(fromGuesser.status, 429, `the right PIN from a guessing address: ${fromGuesser.text}`);
      assert.equal(fromGuesser.json.code, 'RATE_LIMITED');
      const fresh = await request(box, 'POST', '/api/auth', { body: { name: 'Newcomer', pin }, from: '127.0.0.120' });
      assert.equal(fresh.status, 200, `a phone that never guessed joins: ${fresh.text}`);
    } finally {
      await box.stop();
    }
  });

  it('the venue PIN is not printed again when the box restarts (stdout ends up in the journal)', async () => {
    const box = await startBox();
    try {
      const pin = box.viewerPin;
      assert.ok(box.stdout.includes(pin), 'the first start shows the PIN once');
      await box.stop();
      await box.launch();
      assert.doesNotMatch(box.stdout, /venue PIN/);
      assert.equal(box.stdout.includes(pin), false, box.stdout);
      // The PIN itself is unchanged and still lets viewers in.
      assert.equal(box.viewerPin, pin);
      assert.equal((await box.http('POST', '/api/auth', { body: { name: 'Late', pin } })).status, 200);
    } finally {
      await box.stop();
    }
  });
});

describe('/realtime resubscribe flood', () => {
  it('four viewers resubscribing 32 channels from seq 0, 300 frames each, cannot make the box spawn hundreds of threads; a GM scan still gets its ack', async () => {
    const box = await startBox();
    let ws;
    let gm;
    try {
      await box.createSession();
      const admin = await box.adminToken();
      // More than 600 logged events, so that every resume from seq 0 has a long log to read.
      for (let round = 0; round < 31; round++) {
        const grants = await Promise.all(Array.from({ length: 20 }, (_, i) =>
          box.http('POST', '/api/users/crowd/grants', { token: admin, body: { amount: 1, reason: `round ${round}.${i}` } })));
        for (const g of grants) assert.equal(g.status, 200, g.text);
      }
      // After a restart the channel histories are empty, so every resume has to read the log.
      await box.stop();
      await box.launch();
      assert.ok((await box.http('GET', '/healthz')).json.lastEventSeq > 600);

      gm = await station(box, 'GM_DURING');
      // Several viewers at once, so the box-wide cap on log reads is what holds, not one
      // client's command budget alone.
      const sockets = [];
      const notices = [];
      for (let v = 0; v < 4; v++) {
        const viewer = await viewerToken(box, `Flood${v}`);
        const socket = new WebSocket(`${box.url.replace('http', 'ws')}/realtime?token=${viewer}`);
        socket.on('message', (data) => {
          const msg = JSON.parse(data.toString());
          if (msg.type === 'SYSTEM_NOTICE') notices.push(msg.payload.code);
        });
        await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject); });
        sockets.push(socket);
      }
      ws = sockets;

      const threads = threadSampler(box.proc.pid);
      const channels = Array.from({ length: 32 }, (_, i) => `game:g${i + 1}`);
      const lastSeq = Object.fromEntries(channels.map((c) => [c, 0]));
      for (let i = 0; i < 150; i++) {
        for (const socket of sockets) {
          socket.send(JSON.stringify({ action: 'subscribe', channels, lastSeq }));
          socket.send(JSON.stringify({ action: 'unsubscribe', channels }));
        }
      }
      let ack;
      try {
        ack = await emitAck(gm.socket, 'transaction:submit', { tokenId: 'mem001', teamId: 'TEAM_A', scanId: 'during-flood' }, 30_000);
        await waitFor(() => notices.includes('RATE_LIMITED'), 10_000);
        // Whatever the box still has queued from the flood runs now: keep watching a little.
        await sleep(1500);
      } finally {
        threads.stop();
      }
      assert.ok(threads.max < 64, `the box ran ${threads.max} threads during the flood`);
      assert.equal(ack.success, true, JSON.stringify(ack));
      assert.ok(notices.includes('RATE_LIMITED'), `the viewer was never told it was over its command budget: ${[...new Set(notices)]}`);
    } finally {
      for (const socket of ws ?? []) socket.terminate();
      gm?.close();
      await box.stop();
    }
  });
});

describe('connections', () => {
  it('one address opening 40 connections keeps at most 8; the rest get a 429 and are closed, while others still get in', async () => {
    const box = await startBox({ config: '[network]\nmax_connections_per_address = 8\nheader_timeout_secs = 2\n' });
    const conns = [];
    try {
      for (let i = 0; i < 40; i++) conns.push(rawConnection(box, '127.0.0.2'));
      await Promise.all(conns.map((c) => c.connected.catch(() => {})));
      // While the attacker holds its connections: the loopback reserve and another address get in.
      const [health, login] = await Promise.all([
        box.http('GET', '/healthz'),
        request(box, 'POST', '/api/admin/auth', { body: { password: box.password }, from: '127.0.0.3' }),
      ]);
      assert.equal(health.status, 200);
      assert.equal(login.status, 200, login.text);

      const refused = () => conns.filter((c) => c.closed && /^HTTP\/1\.1 429/.test(c.received));
      await waitFor(() => refused().length >= 32, 8000);
      assert.ok(refused().length >= 32, `only ${refused().length} of 40 connections from one address were refused`);
      for (const c of refused()) {
        const body = c.received.slice(c.received.indexOf('{'), c.received.lastIndexOf('}') + 1);
        assert.equal(JSON.parse(body).code, 'RATE_LIMITED', c.received);
      }
    } finally {
      for (const c of conns) c.socket.destroy();
      await box.stop();
    }
  });

  it('an open connection costs the box little memory: 256 kept-alive connections from 16 addresses hold under 48 KiB each', async () => {
    // Each connection once cost about 125 KiB of heap (the router rebuilt for it): 4,096 of them,
    // from a laptop claiming 128 addresses on the venue's Wi-Fi, took the box past 500 MiB.
    const box = await startBox();
    const conns = [];
    try {
      const perConnectionKib = await heapKibPerConnection(box, conns, async () => {
        // 16 an address, half the cap: each one is let in.
        for (let i = 0; i < 256; i++) conns.push(rawConnection(box, `127.0.0.${20 + (i % 16)}`));
        await Promise.all(conns.map((c) => c.connected));
        for (const c of conns) c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        const answered = await waitFor(() => conns.every((c) => /^HTTP\/1\.1 200/.test(c.received)), 10_000);
        assert.ok(answered, `${conns.filter((c) => !/^HTTP\/1\.1 200/.test(c.received)).length} connections got no answer`);
      });
      assert.ok(conns.every((c) => !c.closed), 'kept-alive connections stay open');
      assert.ok(perConnectionKib < 48, `each open connection holds ${perConnectionKib.toFixed(1)} KiB of the box's heap`);
    } finally {
      for (const c of conns) c.socket.destroy();
      await box.stop();
    }
  });

  it('a connection half-way through its headers holds little of the box: 128 of them, 15 KB each, under 48 KiB each; a longer head is answered 431 at once', async () => {
    // The HTTP layer's read buffer once grew to 400 KiB for a head that never ended: a guest
    // with a few dozen addresses took the box's memory by hundreds of MiB until the timeout.
    const box = await startBox();
    const conns = [];
    try {
      const unfinished = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(15_000)}`;
      const perConnectionKib = await heapKibPerConnection(box, conns, async () => {
        for (let i = 0; i < 128; i++) conns.push(rawConnection(box, `127.0.0.${40 + (i % 8)}`));
        await Promise.all(conns.map((c) => c.connected));
        for (const c of conns) c.socket.write(unfinished);
      });
      assert.ok(conns.every((c) => !c.closed && c.received === ''), 'a head still within the limit is waited for (up to the header timeout)');
      assert.ok(perConnectionKib < 48, `each connection with half a head holds ${perConnectionKib.toFixed(1)} KiB of the box's heap`);

      const long = rawConnection(box, '127.0.0.49');
      await long.connected;
      long.socket.write(`${unfinished}${'a'.repeat(20_000)}`);
      assert.ok(await waitFor(() => long.closed, 5000), 'a head past the limit is not waited for');
      assert.match(long.received, /^HTTP\/1\.1 431/);
    } finally {
      for (const c of conns) c.socket.destroy();
      await box.stop();
    }
  });

  it('a body declared larger than 64 KiB is refused with a JSON 413 without waiting for it', async () => {
    const box = await startBox();
    const conn = rawConnection(box, '127.0.0.6');
    try {
      await conn.connected;
      conn.socket.write('POST /api/auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{');
      const answered = await waitFor(() => conn.received.includes('}'), 15_000, 50);
      assert.ok(answered, 'no answer');
      assert.match(conn.received, /^HTTP\/1\.1 413/, conn.received.slice(0, 200));
      const body = JSON.parse(conn.received.slice(conn.received.indexOf('{')));
      assert.deepEqual([body.code, body.details.limitBytes], ['INVALID_DATA', 65536]);
    } finally {
      conn.socket.destroy();
      await box.stop();
    }
  });

  it('a client that trickles its request body is answered 408 and closed', async () => {
    const box = await startBox();
    const conn = rawConnection(box, '127.0.0.5');
    let trickle;
    try {
      await conn.connected;
      conn.socket.write('POST /api/auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{');
      // A byte every 2 s: never idle long enough for any read timeout, never done.
      trickle = setInterval(() => { if (!conn.closed) conn.socket.write(' '); }, 2000);
      const closed = await waitFor(() => conn.closed, 25_000, 100);
      assert.ok(closed, 'the trickled body still holds its connection after 25 s');
      assert.match(conn.received, /^HTTP\/1\.1 408/, conn.received.slice(0, 200));
    } finally {
      clearInterval(trickle);
      conn.socket.destroy();
      await box.stop();
    }
  });

  it('Engine.IO long-polling (sessions that cost memory without holding a connection) is refused', async () => {
    const box = await startBox();
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) =>
        request(box, 'GET', '/socket.io/?EIO=4&transport=polling', { from: `127.0.0.${60 + (i % 4)}` })));
      for (const res of answers) {
        assert.notEqual(res.status, 200, `a polling session was opened: ${res.text.slice(0, 200)}`);
        assert.doesNotMatch(res.text, /"sid"/);
      }
      // Stations connect over WebSocket, as they always did.
      const s = await station(box, 'GM_WS');
      assert.equal(s.identified.success, true);
      s.close();
    } finally {
      await box.stop();
    }
  });

  it('a client that sends half its headers and then nothing is disconnected (slowloris)', async () => {
    // Default settings: the attack works against any box, and the default header timeout is 10 s.
    const box = await startBox();
    const conn = rawConnection(box, '127.0.0.4');
    try {
      await conn.connected;
      conn.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      const closed = await waitFor(() => conn.closed, 13_000, 100);
      assert.ok(closed, 'the half-sent request still holds its connection after 13 s');
    } finally {
      conn.socket.destroy();
      await box.stop();
    }
  });
});

describe('identities', () => {
  let box;
  before(async () => { box = await startBox(); await box.createSession(); });
  after(() => box.stop());

  it('a GM token for one station cannot identify as another and push it off; an admin token may stand in', async () => {
    const real = await station(box, 'GM_STATION_01');
    let dropped = null;
    real.socket.on('disconnect', (reason) => { dropped = reason; });
    const attacker = connect(box, { token: box.token('gm', 'GM_STATION_02') });
    try {
      const ack = await emitAck(attacker.socket, 'gm:identify', { stationId: 'GM_STATION_01', version: '1.0.0' });
      assert.equal(ack.success, false, `the takeover was accepted: ${JSON.stringify(ack).slice(0, 200)}`);
      assert.equal(ack.error.code, 'FORBIDDEN');
      await sleep(1000);
      assert.equal(dropped, null, 'the real station was disconnected');
      assert.equal(real.socket.connected, true);

      const staff = connect(box, { token: await box.adminToken() });
      const stand = await emitAck(staff.socket, 'gm:identify', { stationId: 'GM_STATION_03', version: '1.0.0' });
      assert.equal(stand.success, true, JSON.stringify(stand).slice(0, 200));
      staff.socket.disconnect();
    } finally {
      attacker.socket.disconnect();
      real.close();
    }
  });

  it('a viewer cannot log in under a name someone already holds without its key, even after a restart', async () => {
    const own = await startBox();
    try {
      const first = await own.http('POST', '/api/auth', { body: { name: 'Alice', pin: own.viewerPin } });
      assert.equal(first.status, 200, first.text);
      assert.equal(first.json.userId, 'alice');
      assert.equal(first.json.role, 'viewer');
      assert.equal(typeof first.json.token, 'string');
      assert.equal(typeof first.json.expiresIn, 'number');
      const key = first.json.viewerKey;
      assert.equal(typeof key, 'string', `no viewerKey in ${first.text}`);
      assert.ok(key.length > 0);

      // Same id after normalising: the one Alice holds.
      const impostor = await own.http('POST', '/api/auth', { body: { name: 'ALICE ', pin: own.viewerPin } });
      assert.equal(impostor.status, 409, impostor.text);
      assert.equal(impostor.json.code, 'NAME_TAKEN');
      const guessed = await own.http('POST', '/api/auth', { body: { name: 'ALICE ', pin: own.viewerPin, viewerKey: `${key}x` } });
      assert.notEqual(guessed.status, 200, `a made-up key got in: ${guessed.text}`);
      const again = await own.http('POST', '/api/auth', { body: { name: 'ALICE ', pin: own.viewerPin, viewerKey: key } });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.json.userId, 'alice');

      await own.stop();
      await own.launch();
      const afterRestart = await own.http('POST', '/api/auth', { body: { name: 'alice', pin: own.viewerPin } });
      assert.equal(afterRestart.status, 409, afterRestart.text);
      assert.equal(afterRestart.json.code, 'NAME_TAKEN');
      const back = await own.http('POST', '/api/auth', { body: { name: 'Alice', pin: own.viewerPin, viewerKey: key } });
      assert.equal(back.status, 200, back.text);
      assert.equal(back.json.userId, 'alice');

      // The full-width form of a held name is that name, not a look-alike account.
      const wide = await own.http('POST', '/api/auth', { body: { name: 'ＡＬＩＣＥ', pin: own.viewerPin } });
      assert.equal(wide.status, 409, wide.text);
      assert.equal(wide.json.code, 'NAME_TAKEN');
      // A name in any script joins, and its id works in the URLs the phone calls.
      const lee = await own.http('POST', '/api/auth', { body: { name: '李小龙', pin: own.viewerPin } });
      assert.equal(lee.status, 200, lee.text);
      assert.equal(lee.json.userId, '李小龙');
      const leeBalance = await own.http('GET', `/api/users/${encodeURIComponent('李小龙')}/balance`, { token: lee.json.token });
      assert.equal(leeBalance.status, 200, leeBalance.text);
      assert.equal(leeBalance.json.userId, '李小龙');
      // A name longer than the 32 characters a name is shown with keeps the id of the whole
      // name, so staff granting to the name as the guest typed it reach that guest.
      const longName = "Dr. Jean-Paul O'Neill-Smith, Jr. III";
      const long = await own.http('POST', '/api/auth', { body: { name: longName, pin: own.viewerPin } });
      assert.equal(long.status, 200, long.text);
      assert.equal(long.json.userId, 'dr-jean-paul-oneill-smith-jr-iii');
      const balanceOfLong = async () => {
        const answer = await own.http('GET', `/api/users/${long.json.userId}/balance`, { token: long.json.token });
        assert.equal(answer.status, 200, answer.text);
        return answer.json.balance;
      };
      const beforeGrant = await balanceOfLong();
      const granted = await own.http('POST', `/api/users/${encodeURIComponent(longName)}/grants`, { token: await own.adminToken(), body: { amount: 25, reason: 'long name' } });
      assert.equal(granted.status, 200, granted.text);
      assert.equal(await balanceOfLong(), beforeGrant + 25, 'the grant to the typed name reached the guest who typed it');
      // A direction override would show "ecila" as "alice" in the console: it is dropped.
      const turned = await own.http('POST', '/api/auth', { body: { name: '\u202eecila', pin: own.viewerPin } });
      assert.equal(turned.status, 200, turned.text);
      assert.equal(turned.json.userId, 'ecila');
      const listed = await own.http('GET', '/api/viewers?q=ecila', { token: await own.adminToken() });
      assert.equal(listed.status, 200, listed.text);
      assert.deepEqual(listed.json.viewers.map((v) => v.name), ['ecila']);
    } finally {
      await own.stop();
    }
  });

  it('one device cannot invent viewer names in bulk, and a notice never echoes a 16 KiB frame back', async () => {
    const own = await startBox();
    try {
      const answers = [];
      for (let i = 0; i < 7; i++) {
        answers.push(await request(own, 'POST', '/api/auth', { body: { name: `Bulk${i}`, pin: own.viewerPin }, from: '127.0.0.70' }));
      }
      assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200, 429, 429], answers.map((a) => a.text).join('\n'));
      assert.equal(answers[5].json.code, 'RATE_LIMITED');
      // The phone that joined logs in again with its key, whatever the count.
      const again = await request(own, 'POST', '/api/auth', { body: { name: 'Bulk0', pin: own.viewerPin, viewerKey: answers[0].json.viewerKey }, from: '127.0.0.70' });
      assert.equal(again.status, 200, again.text);

      const ws = new WebSocket(`${own.url.replace('http', 'ws')}/realtime?token=${answers[0].json.token}`);
      try {
        const notice = new Promise((resolve) => ws.on('message', (data) => {
          const msg = JSON.parse(data.toString());
          if (msg.type === 'SYSTEM_NOTICE' && msg.payload.code === 'BAD_COMMAND') resolve(msg);
        }));
        await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
        ws.send(JSON.stringify({ action: 'A'.repeat(15_000) }));
        const msg = await notice;
        assert.ok(JSON.stringify(msg).length < 400, `the notice quoted ${JSON.stringify(msg).length} bytes back`);
      } finally {
        ws.terminate();
      }
    } finally {
      await own.stop();
    }
  });

  it('staff tokens given out before `venuebox admin-password --new` are refused after the restart; station tokens keep working', async () => {
    const own = await startBox();
    try {
      const oldAdmin = await own.adminToken();
      const oldGm = own.token('gm', 'GM_OLD');
      assert.equal((await own.http('GET', '/api/sessions', { token: oldAdmin })).status, 200, 'the admin token worked before');
      await own.stop();
      const renewed = spawnSync(BIN, ['admin-password', '--new', '--data', own.dataDir]);
      assert.equal(renewed.status, 0, renewed.stderr.toString());
      const fresh = renewed.stdout.toString().match(/new admin password: (\S+)/)?.[1];
      assert.ok(fresh, renewed.stdout.toString());
      await own.launch();

      // Whoever learnt the old password may have logged in: those tokens are gone.
      const admin = await own.http('GET', '/api/sessions', { token: oldAdmin });
      assert.equal(admin.status, 401, `old admin token: ${admin.text}`);
      assert.equal(admin.json.code, 'INVALID_TOKEN');
      assert.match(admin.json.message, /revoked/);
      // In gm:identify, as a console would send it (a bad handshake token is dropped at once).
      const staffSocket = connect(own);
      try {
        const ack = await emitAck(staffSocket.socket, 'gm:identify', { stationId: 'GM_DESK', version: '1.0.0', token: oldAdmin });
        assert.equal(ack.success, false, `old admin token identified: ${JSON.stringify(ack).slice(0, 200)}`);
        assert.equal(ack.error.code, 'INVALID_TOKEN');
      } finally {
        staffSocket.socket.disconnect();
      }
      // Station tokens come from the technician, not from the password: the night goes on.
      const station1 = await station(own, 'GM_OLD', { token: oldGm });
      assert.equal(station1.identified.success, true);
      station1.close();
      const login = await own.http('POST', '/api/admin/auth', { body: { password: fresh } });
      assert.equal(login.status, 200, login.text);
      assert.equal((await own.http('GET', '/api/sessions', { token: login.json.token })).status, 200);
    } finally {
      await own.stop();
    }
  });
});

describe('what the box shows', () => {
  let box;
  before(async () => { box = await startBox(); await box.createSession(); });
  after(() => box.stop());

  it('the admin password is not written to the HDMI console banner (console.issue)', async () => {
    const runtime = mkdtempSync(join(tmpdir(), 'venuebox-run-'));
    const saved = process.env.RUNTIME_DIRECTORY;
    // startBox passes our environment on to the box; systemd would set this.
    process.env.RUNTIME_DIRECTORY = runtime;
    let own;
    try {
      own = await startBox();
    } finally {
      if (saved === undefined) delete process.env.RUNTIME_DIRECTORY;
      else process.env.RUNTIME_DIRECTORY = saved;
    }
    try {
      assert.ok(own.password, 'the first start gave the harness the password');
      const issue = join(runtime, 'console.issue');
      let text = null;
      await waitFor(() => { try { text = readFileSync(issue, 'utf8'); return true; } catch { return false; } }, 5000);
      assert.notEqual(text, null, 'no console.issue was written');
      assert.equal(text.includes(own.password), false, `the banner shows the password: ${text}`);
      assert.match(text, /sudo venuebox admin-password/);
    } finally {
      await own.stop();
      rmSync(runtime, { recursive: true, force: true });
    }
  });

  it('GET /api/state shows device addresses to staff only', async () => {
    const s = await station(box, 'GM_IP');
    try {
      for (const token of [undefined, box.token('gm', 'GM_IP'), box.token('player', 'P_IP')]) {
        const state = await box.http('GET', '/api/state', { token });
        assert.equal(state.status, 200);
        const device = state.json.devices.find((d) => d.deviceId === 'GM_IP');
        assert.ok(device, state.text.slice(0, 200));
        assert.equal(device.ipAddress ?? null, null, `a ${token ? 'non-admin' : 'anonymous'} caller sees ${device.ipAddress}`);
        assert.equal(JSON.stringify(state.json.devices).includes('127.0.0.1'), false);
      }
      const staff = await box.http('GET', '/api/state', { token: await box.adminToken() });
      assert.match(staff.json.devices.find((d) => d.deviceId === 'GM_IP').ipAddress, /127\.0\.0\.1/);
    } finally {
      s.close();
    }
  });

  it('GET /api/tokens (the scoring catalogue) needs a scanner or staff token', async () => {
    const none = await box.http('GET', '/api/tokens');
    assert.equal(none.status, 401, none.text.slice(0, 200));
    assert.equal(none.json.code, 'AUTH_REQUIRED');
    const viewer = await box.http('GET', '/api/tokens', { token: await viewerToken(box, 'Peeker') });
    assert.equal(viewer.status, 403, viewer.text.slice(0, 200));
    assert.equal(viewer.json.code, 'FORBIDDEN');
    for (const token of [box.token('gm', 'GM_CAT'), box.token('player', 'P_CAT'), await box.adminToken()]) {
      const res = await box.http('GET', '/api/tokens', { token });
      assert.equal(res.status, 200, res.text.slice(0, 200));
      assert.ok(res.json.count >= 40);
    }
  });
});
