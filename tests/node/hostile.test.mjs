// Generated bad input on every inbound surface: Socket.IO events, /realtime and /ws/stream frames
// and HTTP bodies, made from a seeded generator (set HOSTILE_SEED to replay a run, HOSTILE_ROUNDS for
// more). Every reply must be a contract error (or, where the garbage happens to be valid, a
// success), every connection must stay up, the box must stay healthy, and nothing refused may
// show up in the game.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { connect, emitAck, sleep, startBox, station } from './harness.mjs';

const SEED = Number(process.env.HOSTILE_SEED ?? 20261201);
const ROUNDS = Number(process.env.HOSTILE_ROUNDS ?? 40);
const CODES = new Set(['AUTH_REQUIRED', 'INVALID_TOKEN', 'SESSION_NOT_FOUND', 'DEVICE_LIMIT', 'INVALID_DATA',
  'SERVER_ERROR', 'RATE_LIMITED', 'CONFLICT', 'FORBIDDEN', 'NOT_FOUND', 'INSUFFICIENT_BALANCE']);

/** xorshift32: the same seed gives the same inputs on every machine. */
function generator(seed) {
  let x = seed >>> 0 || 1;
  const next = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 0x100000000; };
  const int = (n) => Math.floor(next() * n);
  const pick = (list) => list[int(list.length)];
  const strings = ['', ' ', 'mem001', 'vid001', 'TEAM_A', 'GM_HOSTILE', '\u0000', '\u202e\ud83d\ude00', '<script>alert(1)</script>',
    "'; DROP TABLE log; --", '../../etc/passwd', '%s%n', '9'.repeat(400), 'é'.repeat(2000), '2026-13-45T99:99:99Z', 'NaN'];
  const numbers = [0, -1, 1, 1.5, 2 ** 53 + 1, -(2 ** 63), 1e308, Number.MAX_SAFE_INTEGER];
  const keys = ['tokenId', 'teamId', 'stationId', 'version', 'timestamp', 'scanId', 'scannerId', 'action', 'status',
    'name', 'teams', 'password', 'channels', 'lastSeq', 'optionId', 'votes', 'clientVoteId', 'amount', 'reason',
    'press_ms', 'transactions', 'event', 'data', '__proto__', 'constructor', 'id', 'tournament_id', 'after', 'channel',
    'payload', 'round_id', 'user_id', 'motion', 'seconds', 'speakers', 'winner', 'room', 'score'];
  const value = (depth = 0) => {
    const kind = depth > 3 ? int(4) : int(8);
    switch (kind) {
      case 0: return null;
      case 1: return next() < 0.5;
      case 2: return pick(numbers);
      case 3: return pick(strings);
      case 4: return Array.from({ length: int(5) }, () => value(depth + 1));
      case 5: return nested(40 + int(100));
      default: return object(depth + 1);
    }
  };
  const object = (depth = 0) => Object.fromEntries(Array.from({ length: 1 + int(5) }, () => [pick(keys), value(depth)]));
  const nested = (levels) => { let v = 1; for (let i = 0; i < levels; i++) v = next() < 0.5 ? [v] : { data: v }; return v; };
  // Text that is not quite JSON, for the surfaces that read raw frames or bodies.
  const text = () => {
    const json = JSON.stringify(object());
    switch (int(6)) {
      case 0: return json.slice(0, int(json.length));
      case 1: return json.replace(/"/g, "'");
      case 2: return `${json},`;
      case 3: return '{"a":' .repeat(300);
      case 4: return pick(strings);
      default: return json;
    }
  };
  return { value, object, text, int, pick };
}

/** Every transaction id an answer reports, wherever it sits (`transaction.id`, `transactionId`). */
function transactionIds(value, into = new Set()) {
  if (Array.isArray(value)) for (const v of value) transactionIds(v, into);
  else if (value && typeof value === 'object') {
    if (typeof value.transactionId === 'string') into.add(value.transactionId);
    if (typeof value.transaction?.id === 'string') into.add(value.transaction.id);
    for (const v of Object.values(value)) transactionIds(v, into);
  }
  return into;
}

describe('generated bad input', () => {
  let box;
  let admin;
  const gen = generator(SEED);
  // Scans the garbage happened to get accepted: the only ones the game may hold afterwards.
  const acknowledged = new Set();
  before(async () => {
    box = await startBox({ config: '[limits]\nmax_gm_stations = 20\n' });
    admin = await box.adminToken();
    await box.createSession({ name: 'Hostile night', teams: ['TEAM_A', 'TEAM_B'] });
  });
  after(() => box.stop());

  it(`Socket.IO events (seed ${SEED}) answer contract errors and keep the connection`, async () => {
    const gm = await station(box, 'GM_HOSTILE');
    const adminSocket = connect(box, { token: admin });
    await new Promise((r) => adminSocket.socket.once('connect', r));
    const events = ['gm:identify', 'transaction:submit', 'state:request', 'heartbeat', 'video:control', 'session:reset', 'gm:unknown'];
    for (let round = 0; round < ROUNDS; round++) {
      for (const [socket, who] of [[gm.socket, 'gm'], [adminSocket.socket, 'admin']]) {
        const event = gen.pick(events);
        const payload = gen.value();
        const sent = `${who} ${event} ${JSON.stringify(payload)?.slice(0, 200)}`;
        const ack = await emitAck(socket, event, payload).catch((e) => assert.fail(`${sent}: ${e.message}`));
        const context = `${sent} → ${JSON.stringify(ack).slice(0, 200)}`;
        assert.equal(typeof ack.success, 'boolean', context);
        if (!ack.success) assert.ok(CODES.has(ack.error?.code), context);
        else transactionIds(ack, acknowledged);
        assert.equal(socket.connected, true, context);
      }
      // Stay under the 50 events/s limit so the replies are about the payloads.
      await sleep(25);
    }
    gm.close();
    adminSocket.socket.disconnect();
  });

  it('/realtime frames get notices and the socket stays open', async () => {
    const viewer = (await box.http('POST', '/api/auth', { body: { name: 'Mallory', pin: box.viewerPin } })).json.token;
    const ws = new WebSocket(`${box.url.replace('http', 'ws')}/realtime?streamerId=stage&token=${viewer}`);
    const notices = [];
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.type === 'SYSTEM_NOTICE') notices.push(msg.payload.code);
    });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    let closed = null;
    ws.on('close', (code) => { closed = code; });
    for (let round = 0; round < ROUNDS; round++) {
      const frame = gen.int(3) === 0 ? JSON.stringify({ action: gen.pick(['subscribe', 'unsubscribe', 'pong', 'vote']), channels: gen.value() }) : gen.text();
      // Over 16 KiB the box closes with 1009 by design (tested in predictions_realtime.rs).
      if (Buffer.byteLength(frame) > 16 * 1024) continue;
      ws.send(frame);
      if (round % 10 === 0) ws.send(Buffer.from([0xff, 0x00, 0x7f]));
      await sleep(10);
    }
    await sleep(300);
    assert.equal(closed, null, `the socket was closed (${closed})`);
    assert.ok(notices.length > 0, 'bad frames were answered');
    for (const code of notices) {
      assert.ok(['BAD_COMMAND', 'FORBIDDEN_CHANNEL', 'TOO_MANY_CHANNELS', 'RATE_LIMITED', 'RESUMED', 'SNAPSHOT'].includes(code), code);
    }
    ws.close();
  });

  it('/ws/stream frames get error frames, and the socket stays open', async () => {
    // Tournament 1 with round 1, the guest a speaker in it: what the HTTP garbage below aims at too.
    const me = '00000000-0000-4000-8000-00000000dead';
    const other = '00000000-0000-4000-8000-00000000beef';
    const post = async (path, body) => (await box.http('POST', path, { token: admin, body })).json;
    const tournament = await post('/api/tournaments', { name: 'Hostile Open' });
    await post(`/api/tournaments/${tournament.id}/teams`, { name: 'Mine', speakers: [{ id: me, name: 'Me' }, { id: `${me.slice(0, -4)}0001`, name: 'Mate' }] });
    await post(`/api/tournaments/${tournament.id}/teams`, { name: 'Theirs', speakers: [{ id: other, name: 'Other' }, { id: `${other.slice(0, -4)}0002`, name: 'Mate' }] });
    const round = await post(`/api/tournaments/${tournament.id}/rounds`, { motion: 'This house would fuzz' });
    const ws = new WebSocket(`${box.url.replace('http', 'ws')}/ws/stream`, ['jwt', box.token('participant', me)]);
    const errors = [];
    let finished;
    const done = new Promise((resolve) => { finished = resolve; });
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.reply_to === 'end') finished();
      else if (frame.ok === false) errors.push(frame.error.code);
    });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    let closed = null;
    ws.on('close', (code) => { closed = code; });
    for (let n = 0; n < ROUNDS; n++) {
      const shaped = { id: gen.value(), tournament_id: gen.pick([tournament.id, gen.value()]), channels: gen.value(), after: gen.value() };
      const checkIn = { round_id: gen.pick([round.id, gen.value()]), user_id: gen.pick([me, other, gen.value()]), status: gen.value() };
      const frame = gen.int(3) === 0
        ? JSON.stringify({ action: gen.pick(['subscribe', 'unsubscribe', 'ping']), ...shaped })
        : gen.int(2) === 0 ? JSON.stringify({ channel: gen.pick(['checkins:update', 'draws:new']), payload: gen.pick([checkIn, gen.value()]) }) : gen.text();
      // Over 8 KiB the box closes with 1009 by design (tested in tournament_stream.test.mjs).
      if (Buffer.byteLength(frame) > 8 * 1024) continue;
      ws.send(frame);
      if (n % 10 === 0) ws.send(Buffer.from([0xff, 0x00, 0x7f]));
      // Under the stream's 5 frames a second, so every frame is read rather than rate limited.
      await sleep(220);
    }
    ws.send(JSON.stringify({ id: 'end', action: 'unsubscribe', tournament_id: tournament.id }));
    await done;
    assert.equal(closed, null, `the socket was closed (${closed})`);
    assert.ok(errors.includes('INVALID_DATA'), JSON.stringify(errors));
    assert.ok(!errors.includes('RATE_LIMITED'), JSON.stringify(errors));
    for (const code of errors) assert.ok(CODES.has(code), code);
    // The guest checked in at most themselves, never anyone else.
    const { json } = await box.http('GET', `/api/rounds/${round.id}`, { token: admin });
    assert.ok(json.checked_in.every((id) => id === me), JSON.stringify(json.checked_in));
    ws.close();
  });

  it('HTTP bodies get 4xx JSON errors, never a 5xx or a non-JSON answer', async () => {
    const viewer = (await box.http('POST', '/api/auth', { body: { name: 'Trudy', pin: box.viewerPin } })).json.token;
    const player = box.token('player', 'SCANNER_HOSTILE');
    const targets = [
      ['POST', '/api/session', admin], ['PUT', '/api/session', admin], ['POST', '/api/scan', player],
      ['POST', '/api/scan/batch', player], ['POST', '/api/video/control', admin], ['POST', '/api/hardware/button', admin],
      ['POST', '/api/predictions', admin], ['POST', '/api/predictions/none/votes', viewer], ['POST', '/api/users/x/grants', admin],
      ['POST', '/api/auth', undefined], ['POST', '/api/notices', admin], ['POST', '/api/admin/auth', undefined],
      // Tournament 1 and round 1 exist (the /ws/stream test made them).
      ['POST', '/api/tournaments', admin], ['POST', '/api/tournaments/1/teams', admin],
      ['POST', '/api/tournaments/1/adjudicators', admin], ['POST', '/api/tournaments/1/rounds', admin],
      ['POST', '/api/rounds/1/checkins', admin], ['POST', '/api/rounds/1/timer', admin],
      ['POST', '/api/rounds/1/ballots', admin], ['POST', '/api/tournaments/1/drafts', admin],
      ['POST', '/api/drafts/1/picks', admin], ['POST', '/api/events', admin], ['POST', '/api/teams', admin],
      ['POST', '/api/announcements', admin], ['POST', '/api/purchases', admin],
    ];
    for (let round = 0; round < ROUNDS; round++) {
      const [method, path, token] = gen.pick(targets);
      const raw = gen.int(2) === 0 ? gen.text() : JSON.stringify(gen.value());
      const res = await box.http(method, path, { token, raw });
      const context = `${method} ${path} ${raw.slice(0, 200)} → ${res.status} ${res.text.slice(0, 200)}`;
      assert.ok(res.status < 500, context);
      if (res.status >= 400) {
        assert.ok(res.json && CODES.has(res.json.code), context);
        assert.equal(typeof res.json.message, 'string', context);
      } else {
        transactionIds(res.json, acknowledged);
      }
      // Keep the login limiter (10 a minute) from deciding every later answer.
      if (path.endsWith('/auth')) await sleep(50);
    }
  });

  it('paths and query strings that do not parse get JSON errors too', async () => {
    for (const [path, status] of [['/api/drafts/abc', 404], ['/api/rounds/-1', 404], ['/api/tournaments/1.5/standings', 404],
      ['/api/drafts/1/events?before=x', 400], ['/api/drafts/1/events?limit=-1', 400]]) {
      const res = await box.http('GET', path, { token: admin });
      assert.equal(res.status, status, `${path}: ${res.text}`);
      assert.ok(res.json && CODES.has(res.json.code), `${path}: ${res.text}`);
    }
  });

  it('a plain request to a WebSocket path gets a JSON error, not the library\'s plain text', async () => {
    for (const path of ['/realtime', '/ws/stream', '/ws/draft/1/', '/ws/tournament/1/', '/ws/events/1/stream/',
      '/ws/teams/1/', '/ws/purchases/1/', '/realtime?token=a&token=b']) {
      const res = await box.http('GET', path, { token: admin });
      assert.ok(res.status >= 400 && res.status < 500, `${path}: ${res.status} ${res.text}`);
      assert.ok(res.json && CODES.has(res.json.code), `${path}: ${res.text}`);
    }
  });

  it('the box is healthy afterwards and the game holds only what was accepted', async () => {
    assert.equal((await box.http('GET', '/healthz')).status, 200);
    // A good scan still works, and is the one transaction this test knows must be there.
    const gm = await station(box, 'GM_AFTER');
    const ack = await emitAck(gm.socket, 'transaction:submit', { tokenId: 'lab004', teamId: 'TEAM_B', scanId: 'after-hostile' });
    assert.equal(ack.success, true, JSON.stringify(ack));
    acknowledged.add(ack.transaction.id);
    // sync:full carries the session's last 100 transactions: each was acknowledged to someone.
    const full = gm.rec.next('sync:full');
    gm.socket.emit('state:request', {});
    const { data } = await full;
    assert.ok(data.transactions.some((t) => t.id === ack.transaction.id), 'the good scan is in the game');
    for (const t of data.transactions) {
      assert.ok(acknowledged.has(t.id), `${JSON.stringify(t)} is in the game but was never acknowledged`);
    }
    gm.close();
  });
});
