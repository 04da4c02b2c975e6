// The venue's GM scanner against the box, each way it connects (docs: README, "Using the ALN GM
// scanner"). The scanner's own pages cannot ship with the box, so these are clients written here
// that do exactly what its versions do: the stock socket.io-client, and headless Chromium on a
// page served from another origin (a second local port), so the browser's CORS rules apply.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { connect, emitAck, launchChromium, sleep, startBox, station, until } from './harness.mjs';

// The browser build of the same socket.io-client package the other tests use.
const SOCKET_IO_JS = readFileSync(join(dirname(fileURLToPath(import.meta.url)),
  'node_modules/socket.io-client/dist/socket.io.min.js'));

/** A page on its own origin (another port), loading the stock socket.io client from there. */
async function scannerSite() {
  const server = createServer((req, res) => {
    if (req.url === '/socket.io.min.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(SOCKET_IO_JS);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>GM scanner</title><script src="/socket.io.min.js"></script>');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() };
}

/** Token ids from the box's catalogue: a video token and a whole group. */
async function demoTokens(box) {
  const res = await box.http('GET', '/api/tokens', { token: await box.adminToken() });
  const video = res.json.tokens.find((t) => t.video).id;
  const group = res.json.groups.find((g) => g.multiplier > 1 && g.tokenIds.length >= 2
    && g.tokenIds.every((id) => !res.json.tokens.find((t) => t.id === id).video));
  const plain = res.json.tokens.filter((t) => !t.video && !t.group).map((t) => t.id);
  return { video, group, plain };
}

describe('the scanner in a browser on another origin', () => {
  let box;
  let site;
  let browser;
  let page;
  before(async () => {
    box = await startBox();
    await box.createSession({ name: 'Scanner night' });
    site = await scannerSite();
    browser = await launchChromium();
    page = await browser.newPage();
    await page.goto(site.url);
  });
  after(async () => {
    await browser?.close();
    site?.close();
    await box?.stop();
  });

  it('logs in with the staff password across origins, then identifies with the token in gm:identify', async () => {
    const { plain } = await demoTokens(box);
    const result = await page.evaluate(async ([url, password, tokenId]) => {
      const login = await fetch(`${url}/api/admin/auth`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ password }),
      });
      const { token } = await login.json();
      const socket = io(url, { transports: ['websocket'], reconnection: false });
      const seen = [];
      socket.onAny((name) => seen.push(name));
      const identified = new Promise((r) => socket.once('gm:identified', r));
      await new Promise((r) => socket.once('connect', r));
      socket.emit('gm:identify', { stationId: 'GM_BROWSER_1', version: '2.1.0', token });
      const ident = await identified;
      const resultEvent = new Promise((r) => socket.once('transaction:result', r));
      const ack = await socket.timeout(5000).emitWithAck('transaction:submit', { tokenId, teamId: '1', scannerId: 'GM_BROWSER_1' });
      const res = await resultEvent;
      socket.disconnect();
      return { loginStatus: login.status, identified: ident.success, ack, res, seen };
    }, [box.url, box.password, plain[0]]);
    assert.equal(result.loginStatus, 200, 'the browser let the cross-origin login through');
    assert.equal(result.identified, true);
    assert.equal(result.ack.success, true);
    assert.equal(result.res.event, 'transaction:result');
    assert.equal(result.res.data.status, 'accepted');
    assert.equal(result.res.data.tokenId, plain[0]);
    assert.ok(result.res.data.points > 0);
  });

  it('probes like the connection wizard, then scores with the token and station in the handshake only', async () => {
    const { plain } = await demoTokens(box);
    const result = await page.evaluate(async ([url, password, tokenId]) => {
      const probe = await fetch(`${url}/api/state/status`);
      const status = await probe.json();
      const health = await fetch(`${url}/health`);
      const login = await fetch(`${url}/api/admin/auth`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ password }),
      });
      const { token } = await login.json();
      const socket = io(url, {
        transports: ['websocket'],
        reconnection: false,
        auth: { token, deviceId: 'GM_WIZARD', deviceType: 'gm', version: '2.1.0' },
      });
      const identified = new Promise((r) => socket.once('gm:identified', r));
      const resultEvent = new Promise((r) => socket.once('transaction:result', r));
      await new Promise((r) => socket.once('connect', r));
      // No gm:identify: the scanner submits as soon as it is connected.
      const ack = await socket.timeout(5000).emitWithAck('transaction:submit', { tokenId, teamId: '2', scannerId: 'GM_WIZARD' });
      const res = await resultEvent;
      const ident = await identified;
      socket.disconnect();
      return { status, healthStatus: health.status, ack, res, identified: ident.success };
    }, [box.url, box.password, plain[1]]);
    assert.equal(result.status.status, 'online');
    assert.equal(result.status.stationAuth, 'password');
    assert.match(result.status.sessionId, /^[0-9a-f-]{36}$/);
    assert.equal(result.healthStatus, 200);
    assert.equal(result.identified, true);
    assert.equal(result.ack.success, true, JSON.stringify(result.ack));
    assert.equal(result.res.data.status, 'accepted');
    const { json } = await box.http('GET', '/api/state', { token: await box.adminToken() });
    assert.ok(json.devices.some((d) => d.deviceId === 'GM_WIZARD'), 'listed under the handshake deviceId');
  });
});

describe('station auth modes', () => {
  it('open: a station identifies without a token, as the seed shows, and scores', async () => {
    const box = await startBox({ config: '[gm]\nstation_auth = "open"\n' });
    try {
      await box.createSession();
      const { plain } = await demoTokens(box);
      const s = connect(box);
      const identified = s.rec.next('gm:identified');
      s.socket.emit('gm:identify', { stationId: 'GM_OPEN', version: '1.0.0' });
      assert.equal((await identified).success, true);
      const ack = await emitAck(s.socket, 'transaction:submit', { tokenId: plain[0], teamId: '1' });
      assert.equal(ack.success, true);
      assert.equal((await s.rec.next('transaction:result')).data.status, 'accepted');
      // Staff actions still need a staff token.
      const reset = await emitAck(s.socket, 'session:reset', {});
      assert.equal(reset.success, false);
      assert.equal(reset.error.code, 'AUTH_REQUIRED');
      const status = await box.http('GET', '/api/state/status');
      assert.equal(status.json.stationAuth, 'open');
      // Stations are never sent devices' addresses (in open mode anyone can be one).
      const ident = await emitAck(s.socket, 'gm:identify', { stationId: 'GM_OPEN', version: '1.0.0' });
      assert.ok(ident.state.devices.length > 0);
      assert.ok(ident.state.devices.every((d) => !('ipAddress' in d)), JSON.stringify(ident.state.devices));
      // Nothing proves who a token-free station is: it cannot push a live one off.
      const impostor = connect(box);
      const taken = await emitAck(impostor.socket, 'gm:identify', { stationId: 'GM_OPEN', version: '1.0.0' });
      assert.equal(taken.error.code, 'CONFLICT');
      assert.equal(s.socket.connected, true);
      impostor.socket.disconnect();
      s.socket.disconnect();
    } finally {
      await box.stop();
    }
  });

  it('token: a staff token does not make a station; the station\'s own token does', async () => {
    const box = await startBox({ config: '[gm]\nstation_auth = "token"\n' });
    try {
      await box.createSession();
      const staff = connect(box, { token: await box.adminToken() });
      const refused = await emitAck(staff.socket, 'gm:identify', { stationId: 'GM_T1', version: '1' });
      assert.equal(refused.success, false);
      assert.equal(refused.error.code, 'FORBIDDEN');
      staff.socket.disconnect();
      const own = await station(box, 'GM_T1');
      assert.equal(own.identified.success, true);
      own.close();
      const none = connect(box);
      const noToken = await emitAck(none.socket, 'gm:identify', { stationId: 'GM_T2', version: '1' });
      assert.equal(noToken.error.code, 'AUTH_REQUIRED');
      none.socket.disconnect();
    } finally {
      await box.stop();
    }
  });

  it('password (the default): no token is AUTH_REQUIRED, naming the staff login', async () => {
    const box = await startBox();
    try {
      const s = connect(box);
      const refused = await emitAck(s.socket, 'gm:identify', { stationId: 'GM_P1', version: '1' });
      assert.equal(refused.error.code, 'AUTH_REQUIRED');
      assert.match(refused.error.message, /\/api\/admin\/auth/);
      s.socket.disconnect();
    } finally {
      await box.stop();
    }
  });
});

describe('what the scanner listens for', () => {
  let box;
  let tokens;
  before(async () => {
    box = await startBox();
    await box.createSession({ name: 'Events', teams: ['001', '002'] });
    tokens = await demoTokens(box);
  });
  after(() => box.stop());

  it('heartbeat:ack, state:sync, transaction:result, score:updated and group:completed, in the seed envelope', async () => {
    const s = await station(box, 'GM_EVENTS');
    const watcher = await station(box, 'GM_EVENTS_2');
    s.socket.emit('heartbeat', { stationId: 'GM_EVENTS' });
    const ack = await s.rec.next('heartbeat:ack');
    assert.equal(ack.event, 'heartbeat:ack');
    assert.ok(ack.timestamp && ack.data.serverTime);

    s.socket.emit('state:request', {});
    const sync = await s.rec.next('state:sync');
    assert.equal(sync.data.session.name, 'Events');
    assert.ok(Array.isArray(sync.data.scores));
    await s.rec.next('sync:full');

    const [first, ...rest] = tokens.group.tokenIds;
    await emitAck(s.socket, 'transaction:submit', { tokenId: first, teamId: '001' });
    const result = await s.rec.next('transaction:result');
    assert.equal(result.data.status, 'accepted');
    const score = await watcher.rec.next('score:updated', (p) => p.data.teamId === '001');
    assert.equal(score.event, 'score:updated');
    assert.equal(score.data.score, result.data.points);
    for (const id of rest) {
      await emitAck(s.socket, 'transaction:submit', { tokenId: id, teamId: '001' });
    }
    const completed = await watcher.rec.next('group:completed');
    assert.equal(completed.data.teamId, '001');
    assert.equal(completed.data.groupId, tokens.group.name);
    assert.equal(completed.data.multiplier, tokens.group.multiplier);
    assert.ok(completed.data.bonus > 0);
    const final = await watcher.rec.next('score:updated', (p) => p.data.completedGroups.length === 1);
    assert.equal(final.data.bonusPoints, completed.data.bonus);
    assert.equal(watcher.rec.named('group:completed').length, 1, 'once');

    // A duplicate is told to the submitter as such.
    await emitAck(s.socket, 'transaction:submit', { tokenId: first, teamId: '002' });
    assert.equal((await s.rec.next('transaction:result', (p) => p.data.status === 'duplicate')).data.tokenId, first);
    s.close();
    watcher.close();
  });

  it('sends no state:update while nothing changes', async () => {
    const s = await station(box, 'GM_QUIETROOM');
    await sleep(300);
    s.rec.clear();
    // Longer than the idle-scanner sweep (every 5 s), which commits without changing the state.
    await sleep(6_000);
    assert.deepEqual(s.rec.named('state:update'), []);
    s.close();
  });
  it('a GM scan of a video token starts the video, as in the system the contract comes from', async () => {
    const s = await station(box, 'GM_VIDEO');
    await emitAck(s.socket, 'transaction:submit', { tokenId: tokens.video, teamId: '002' });
    const result = await s.rec.next('transaction:result');
    assert.equal(result.data.videoQueued, true);
    const status = await s.rec.next('video:status', (p) => p.data.tokenId === tokens.video);
    assert.equal(status.data.status, 'loading');
    const { json } = await box.http('GET', '/api/state');
    assert.equal(json.currentVideo.tokenId, tokens.video);
    s.close();
  });

});

describe('liveness', () => {
  let box;
  before(async () => {
    // The seed's ratio, scaled down: a heartbeat every timeout period, with no margin.
    box = await startBox({ config: '[gm]\nheartbeat_timeout_secs = 3\nreconnect_grace_secs = 30\n' });
    await box.createSession();
  });
  after(() => box.stop());

  // Liveness is the transport's: beating once per timeout (what the scanner does) and beating
  // not at all both keep a live station; the acks show the beats were read.
  it('keeps a station that beats exactly once per timeout, and one that only answers transport pings', async () => {
    const beating = await station(box, 'GM_BEAT');
    const silent = await station(box, 'GM_SILENT_OK');
    const acks = [];
    beating.socket.on('heartbeat:ack', (a) => acks.push(a));
    for (let i = 0; i < 4; i += 1) {
      beating.socket.emit('heartbeat', { stationId: 'GM_BEAT' });
      await sleep(3_000);
    }
    assert.equal(beating.socket.connected, true);
    assert.equal(silent.socket.connected, true);
    assert.equal(acks.length, 4);
    const { json } = await box.http('GET', '/api/state', { token: await box.adminToken() });
    for (const id of ['GM_BEAT', 'GM_SILENT_OK']) {
      assert.equal(json.devices.find((d) => d.deviceId === id).connected, true, id);
    }
    beating.close();
    silent.close();
  });

  it('drops a station whose connection went silent within the timeout, with reason timeout', async () => {
    const watcher = await station(box, 'GM_WATCH');
    const gone = watcher.rec.next('device:disconnected', (p) => p.data.deviceId === 'GM_DEAD', 10_000);
    // A client that speaks Engine.IO by hand, identifies in the handshake, and then stops
    // answering pings: a scanner whose Wi-Fi dropped.
    const arrived = watcher.rec.next('device:connected', (p) => p.data.deviceId === 'GM_DEAD');
    const ws = new WebSocket(`${box.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
    const token = box.token('gm', 'GM_DEAD');
    let since;
    ws.on('message', (data) => {
      if (String(data).startsWith('0')) {
        since = Date.now();
        ws.send(`40${JSON.stringify({ token, stationId: 'GM_DEAD' })}`);
      }
    });
    await arrived;
    assert.equal((await gone).data.reason, 'timeout');
    const took = Date.now() - since;
    // Pinged after 1 s, no answer within 2 s more: gone after about 3 s, never sooner than 2.
    assert.ok(took >= 2_000 && took <= 4_500, `dropped at the 3 s timeout (took ${took} ms)`);
    ws.terminate();
    watcher.close();
  });
});

describe('a station back after a power cut', () => {
  it('is sent what it missed from the durable log, and told it resumed', async () => {
    const box = await startBox({ config: '[gm]\nreconnect_grace_secs = 60\n' });
    try {
      await box.createSession();
      const { plain } = await demoTokens(box);
      const away = await station(box, 'GM_AWAY');
      await box.stop('SIGKILL');
      await box.launch();
      // Another station comes back first and scores twice while GM_AWAY is still away.
      const first = await station(box, 'GM_FIRST');
      const scored = [];
      for (const tokenId of plain.slice(0, 2)) {
        const ack = await emitAck(first.socket, 'transaction:submit', { tokenId, teamId: '1' });
        scored.push(ack.transaction.id);
      }
      const back = await station(box, 'GM_AWAY');
      assert.equal(back.identified.resumed, true);
      await until(() => back.rec.named('transaction:new').length >= 2, 'the missed scans are replayed');
      assert.deepEqual(back.rec.named('transaction:new').map((t) => t.data.id), scored);
      assert.deepEqual(back.rec.named('sync:full'), [], 'within the replay limit: no sync:full');
      first.close();
      back.close();
      away.socket.disconnect();
    } finally {
      await box.stop();
    }
  });
});

describe('CORS', () => {
  it('answers a preflight for a listed origin and refuses others', async () => {
    const box = await startBox({ config: '[network]\ncors_origins = ["http://scanner.local:8000"]\n' });
    try {
      const preflight = (origin) => fetch(`${box.url}/api/admin/auth`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      const ok = await preflight('http://scanner.local:8000');
      assert.equal(ok.status, 204);
      assert.equal(ok.headers.get('access-control-allow-origin'), 'http://scanner.local:8000');
      assert.match(ok.headers.get('access-control-allow-headers'), /authorization/);
      const refused = await preflight('http://elsewhere.example');
      assert.equal(refused.status, 403);
      assert.equal((await refused.json()).code, 'FORBIDDEN');
      const plain = await fetch(`${box.url}/health`, { headers: { origin: 'http://elsewhere.example' } });
      assert.equal(plain.headers.get('access-control-allow-origin'), null);
    } finally {
      await box.stop();
    }
  });
});
