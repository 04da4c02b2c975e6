// The GM-station contract (seed 004) end to end: the real binary, the stock socket.io-client.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, disconnected, emitAck, sleep, startBox, station, stationGone } from './harness.mjs';

const TOKENS = ['mem001', 'mem002', 'mem003', 'mem004', 'mem005', 'mem006'];

describe('identify and auth', () => {
  let box;
  before(async () => { box = await startBox(); await box.createSession(); });
  after(() => box.stop());

  it('identifies with the token in the handshake', async () => {
    const s = await station(box, 'GM_AUTH_1');
    assert.equal(s.identified.success, true);
    assert.match(s.identified.sessionId, /^[0-9a-f-]{36}$/);
    assert.equal(s.identified.state.session.status, 'active');
    assert.ok(Array.isArray(s.identified.state.scores));
    s.close();
  });

  it('identifies with the token in gm:identify', async () => {
    const s = connect(box);
    const ok = s.rec.next('gm:identified');
    s.socket.emit('gm:identify', { stationId: 'GM_AUTH_2', version: '1.0.0', token: box.token('gm', 'GM_AUTH_2') });
    assert.equal((await ok).success, true);
    s.socket.disconnect();
  });

  it('accepts the seed {event, data} wrapper and answers an ack', async () => {
    const s = connect(box, { token: box.token('gm', 'GM_AUTH_3') });
    const ack = await emitAck(s.socket, 'gm:identify', { event: 'gm:identify', data: { stationId: 'GM_AUTH_3', version: '1' } });
    assert.equal(ack.success, true);
    assert.ok(ack.state);
    s.socket.disconnect();
  });

  it('without a token answers AUTH_REQUIRED and keeps the connection', async () => {
    const s = connect(box);
    const err = s.rec.next('error');
    s.socket.emit('gm:identify', { stationId: 'GM_NOAUTH', version: '1' });
    const e = await err;
    assert.equal(e.event, 'error');
    assert.equal(e.data.code, 'AUTH_REQUIRED');
    assert.ok(e.timestamp);
    await sleep(100);
    assert.equal(s.socket.connected, true);
    s.socket.disconnect();
  });

  for (const [label, token] of [
    ['a forged token', () => 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4Iiwicm9sZSI6ImdtIn0.c2lnbmF0dXJl'],
    ['an expired token', () => box.expiredToken('gm', 'GM_OLD')],
    ['a player token', () => box.token('player', 'P1')],
  ]) {
    it(`refuses ${label} with INVALID_TOKEN`, async () => {
      const s = connect(box, { token: token() });
      const e = await s.rec.next('error');
      assert.equal(e.data.code, 'INVALID_TOKEN');
      await disconnected(s.socket);
    });
  }

  it('a connection whose handshake token ran out cannot identify again without a new one', async () => {
    const short = box.token('gm', 'GM_SHORT', '5s');
    const s = await station(box, 'GM_SHORT', { token: short });
    assert.equal(s.identified.success, true);
    const { exp } = JSON.parse(Buffer.from(short.split('.')[1], 'base64url'));
    await sleep(Math.max(0, exp * 1000 + 1000 - Date.now()));
    const again = await emitAck(s.socket, 'gm:identify', { stationId: 'GM_SHORT', version: '1.0.0' });
    assert.equal(again.success, false);
    assert.equal(again.error.code, 'INVALID_TOKEN');
    const renewed = await emitAck(s.socket, 'gm:identify', { stationId: 'GM_SHORT', version: '1.0.0', token: box.token('gm', 'GM_SHORT') });
    assert.equal(renewed.success, true, JSON.stringify(renewed));
    s.close();
  });

  it('refuses a bad token given in gm:identify too', async () => {
    const s = connect(box);
    const ack = await emitAck(s.socket, 'gm:identify', { stationId: 'GM_X', token: box.expiredToken('gm', 'GM_X') });
    assert.equal(ack.success, false);
    assert.equal(ack.error.code, 'INVALID_TOKEN');
    s.socket.disconnect();
  });
});

describe('transactions', () => {
  let box, a, b;
  before(async () => {
    box = await startBox();
    await box.createSession();
    a = await station(box, 'GM_A');
    b = await station(box, 'GM_B');
  });
  after(() => { a.close(); b.close(); return box.stop(); });

  it('acks an accepted scan and tells every station with transaction:new', async () => {
    const seenByB = b.rec.next('transaction:new', (p) => p.data.tokenId === 'mem001');
    const ack = await emitAck(a.socket, 'transaction:submit', { tokenId: 'mem001', teamId: 'TEAM_A', scannerId: 'GM_A' });
    assert.equal(ack.success, true);
    assert.equal(ack.transaction.status, 'accepted');
    assert.ok(ack.transaction.points > 0);
    const event = await seenByB;
    assert.equal(event.event, 'transaction:new');
    assert.equal(event.data.id, ack.transaction.id);
    assert.equal(event.data.teamId, 'TEAM_A');
    assert.equal(event.data.scannerId, 'GM_A');
    assert.ok(Date.parse(event.timestamp));
    // The sender sees its own transaction too.
    await a.rec.next('transaction:new', (p) => p.data.id === ack.transaction.id);
  });

  it('marks a second scan of the same token as a duplicate with no points', async () => {
    const ack = await emitAck(b.socket, 'transaction:submit', { tokenId: 'mem001', teamId: 'TEAM_B' });
    assert.equal(ack.transaction.status, 'duplicate');
    assert.equal(ack.transaction.points, 0);
  });

  it('rejects an unknown token with a reason', async () => {
    const ack = await emitAck(a.socket, 'transaction:submit', { tokenId: 'no-such-token', teamId: 'TEAM_A' });
    assert.equal(ack.transaction.status, 'rejected');
    assert.equal(ack.transaction.rejectionReason, 'unknown token');
  });

  it('sends state:update with the new scores', async () => {
    const update = await a.rec.next('state:update', (p) => p.data.scores.some((s) => s.teamId === 'TEAM_A' && s.score > 0));
    assert.equal(update.event, 'state:update');
    assert.ok(update.data.recentTransactions.length >= 1);
  });

  it('resending a scanId returns the original transaction', async () => {
    const first = await emitAck(a.socket, 'transaction:submit', { tokenId: 'mem002', teamId: 'TEAM_A', scanId: 'a-1' });
    const again = await emitAck(a.socket, 'transaction:submit', { tokenId: 'mem002', teamId: 'TEAM_A', scanId: 'a-1' });
    assert.equal(again.replayed, true);
    assert.equal(again.transaction.id, first.transaction.id);
    assert.equal(again.transaction.status, 'accepted');
  });

  it('limits transaction:submit to 10 per second with RATE_LIMITED and no state change', async () => {
    const s = await station(box, 'GM_FLOOD');
    await sleep(1100);
    const before = (await box.http('GET', '/api/state')).json.lastEventSeq;
    const started = Date.now();
    const acks = await Promise.all(
      Array.from({ length: 16 }, (_, i) => emitAck(s.socket, 'transaction:submit', { tokenId: `flood-${i}`, teamId: 'TEAM_F' })),
    );
    const elapsedSecs = (Date.now() - started) / 1000;
    const limited = acks.filter((x) => x.success === false);
    const recorded = acks.filter((x) => x.success === true);
    // Exactly the limit: 10 at once from a rested station, plus what refilled meanwhile (10/s).
    assert.ok(recorded.length >= 10, `only ${recorded.length} of 16 were accepted`);
    assert.ok(recorded.length <= 10 + Math.ceil(elapsedSecs * 10), `${recorded.length} accepted in ${elapsedSecs} s`);
    for (const x of limited) assert.equal(x.error.code, 'RATE_LIMITED');
    await sleep(300);
    const afterSeq = (await box.http('GET', '/api/state')).json.lastEventSeq;
    assert.equal(afterSeq - before, recorded.length, 'only accepted submissions reached the log');
    s.close();
  });

  it('limits state:request to one per 5 seconds', async () => {
    const s = await station(box, 'GM_SYNC');
    const sync = s.rec.next('sync:full');
    const first = await emitAck(s.socket, 'state:request', {});
    assert.equal(first.success, true);
    const full = await sync;
    assert.ok(full.data.session);
    assert.ok(full.data.state);
    assert.ok(Array.isArray(full.data.devices));
    assert.ok(full.data.transactions.length >= 3);
    const second = await emitAck(s.socket, 'state:request', {});
    assert.equal(second.success, false);
    assert.equal(second.error.code, 'RATE_LIMITED');
    // Allowed again once the 5 s have passed.
    await sleep(5100);
    const third = await emitAck(s.socket, 'state:request', {});
    assert.equal(third.success, true, JSON.stringify(third));
    s.close();
  });

  it('limits all events of a connection to 50 per second', async () => {
    // Not identified, so it takes no station slot: the limit applies before identify too.
    const s = connect(box, { token: box.token('gm', 'GM_CHATTY') });
    await new Promise((resolve) => s.socket.once('connect', resolve));
    await sleep(1100);
    const started = Date.now();
    // Unknown events cost the box nothing but their answer: only the overall limit applies.
    const acks = await Promise.all(Array.from({ length: 60 }, (_, i) => emitAck(s.socket, `chatter:${i}`, {}, 15_000)));
    const elapsedSecs = (Date.now() - started) / 1000;
    const answered = acks.filter((a) => a.error?.code === 'INVALID_DATA').length;
    const limited = acks.filter((a) => a.error?.code === 'RATE_LIMITED').length;
    assert.equal(answered + limited, 60, JSON.stringify(acks.slice(0, 3)));
    assert.ok(answered >= 50, `only ${answered} of 60 were let through`);
    assert.ok(answered <= 50 + Math.ceil(elapsedSecs * 50), `${answered} let through in ${elapsedSecs} s`);
    s.socket.disconnect();
  });

  it('limits heartbeat to one per second', async () => {
    const s = await station(box, 'GM_BEAT');
    const one = await emitAck(s.socket, 'heartbeat', { stationId: 'GM_BEAT' });
    const two = await emitAck(s.socket, 'heartbeat', { stationId: 'GM_BEAT' });
    assert.equal(one.success, true);
    assert.equal(two.error.code, 'RATE_LIMITED');
    s.close();
  });
});

describe('bad input', () => {
  let box, s;
  before(async () => { box = await startBox(); await box.createSession(); s = await station(box, 'GM_BAD'); });
  after(() => { s.close(); return box.stop(); });

  const cases = [
    ['a string payload', 'just text'],
    ['a number tokenId', { tokenId: 5, teamId: 'TEAM_A' }],
    ['a missing teamId', { tokenId: 'mem001' }],
    ['an array payload', [1, 2, 3]],
    ['a bad timestamp', { tokenId: 'mem001', teamId: 'TEAM_A', timestamp: 'noon' }],
  ];
  for (const [label, payload] of cases) {
    it(`answers ${label} with INVALID_DATA and stays connected`, async () => {
      await sleep(120);
      const ack = await emitAck(s.socket, 'transaction:submit', payload);
      assert.equal(ack.success, false);
      assert.equal(ack.error.code, 'INVALID_DATA');
      assert.equal(s.socket.connected, true);
    });
  }

  it('answers a submit with no payload at all', async () => {
    const err = s.rec.next('error', (p) => p.data.code === 'INVALID_DATA' && /object/.test(p.data.message));
    s.socket.emit('transaction:submit');
    await err;
    assert.equal(s.socket.connected, true);
  });

  it('answers an unknown event with INVALID_DATA', async () => {
    const err = s.rec.next('error', (p) => /unknown event/.test(p.data.message));
    s.socket.emit('gm:selfdestruct', { now: true });
    assert.equal((await err).data.code, 'INVALID_DATA');
  });

  it('recorded nothing for any of it', async () => {
    const state = (await box.http('GET', '/api/state')).json;
    assert.equal(state.recentTransactions.length, 0);
  });

  it('closes a connection that sends a frame over 64 KiB', async () => {
    const big = await station(box, 'GM_BIG');
    const gone = disconnected(big.socket);
    big.socket.emit('transaction:submit', { tokenId: 'x'.repeat(70 * 1024), teamId: 'TEAM_A' });
    await gone;
    // The box is fine and others are unaffected.
    assert.equal(s.socket.connected, true);
    assert.equal((await box.http('GET', '/healthz')).status, 200);
  });
});

describe('devices', () => {
  let box;
  before(async () => {
    box = await startBox({ config: '[limits]\nmax_gm_stations = 2\n[gm]\nheartbeat_timeout_secs = 2\nreconnect_grace_secs = 3\n' });
    await box.createSession();
  });
  after(() => box.stop());

  it('tells others when a station connects and disconnects', async () => {
    const a = await station(box, 'GM_D1');
    const connected = a.rec.next('device:connected', (p) => p.data.deviceId === 'GM_D2');
    const b = await station(box, 'GM_D2');
    const c = await connected;
    assert.equal(c.data.type, 'gm');
    const gone = a.rec.next('device:disconnected', (p) => p.data.deviceId === 'GM_D2');
    b.close();
    assert.equal((await gone).data.reason, 'manual');
    a.close();
    await sleep(3200); // let both grace periods run out
  });

  it('refuses a station past the limit with DEVICE_LIMIT', async () => {
    const a = await station(box, 'GM_L1');
    const b = await station(box, 'GM_L2');
    const c = connect(box, { token: box.token('gm', 'GM_L3') });
    const ack = await emitAck(c.socket, 'gm:identify', { stationId: 'GM_L3', version: '1' });
    assert.equal(ack.success, false);
    assert.equal(ack.error.code, 'DEVICE_LIMIT');
    c.socket.disconnect();
    a.close();
    b.close();
    await sleep(3200);
  });
  // A station's liveness (transport pings count, a silent one is dropped with reason
  // timeout) is tested in aln_scanner.test.mjs, "liveness".
});

describe('the replay limit, exactly', () => {
  let box;
  // What a returning station is sent of what it missed: one transaction:new per transaction
  // and the latest state:update (a snapshot: one however many were published); the missed
  // scans are duplicates, so no team's score:updated is among them. Its own
  // device:disconnected and device:connected are never sent to it and do not count. So n
  // transactions are n + 1 messages: with replay_limit = 6, five are exactly the limit and six
  // are one past it.
  before(async () => { box = await startBox({ config: '[limits]\nmax_gm_stations = 10\n[gm]\nreplay_limit = 6\n' }); await box.createSession(); });
  after(() => box.stop());

  // Misses `count` transactions while away, then comes back: what does it get?
  const missAndReturn = async (stationId, count) => {
    const away = await station(box, stationId);
    const seen = away.rec.next('device:connected', (p) => p.data.deviceId === `${stationId}_OTHER`);
    const other = await station(box, `${stationId}_OTHER`);
    // The other station's arrival reached this one before it leaves: it is not among the missed.
    await seen;
    // mem010 scores now, so every missed scan is a duplicate: no score:updated among them.
    const first = await emitAck(other.socket, 'transaction:submit', { tokenId: 'mem010', teamId: 'TEAM_X' });
    assert.equal(first.success, true);
    if (first.transaction.status === 'accepted') await away.rec.next('score:updated', (p) => p.data.teamId === 'TEAM_X');
    await away.rec.next('transaction:new', (p) => p.data.id === first.transaction.id);
    await sleep(105);
    away.close();
    await stationGone(box, stationId);
    const missed = [];
    for (let i = 0; i < count; i++) {
      const ack = await emitAck(other.socket, 'transaction:submit', { tokenId: 'mem010', teamId: 'TEAM_X' });
      assert.equal(ack.success, true, JSON.stringify(ack));
      missed.push(ack.transaction.id);
      await sleep(105); // under the 10/s submit limit
    }
    const back = await station(box, stationId);
    other.close();
    return { back, missed };
  };

  it('replays all of exactly replay_limit missed messages', async () => {
    const { back, missed } = await missAndReturn('GM_EDGE_AT', 5);
    assert.equal(back.identified.resumed, true);
    await back.rec.next('transaction:new', (p) => p.data.id === missed.at(-1));
    assert.deepEqual(back.rec.named('transaction:new').map((p) => p.data.id), missed);
    assert.equal(back.rec.named('sync:full').length, 0);
    back.close();
  });

  it('sends sync:full for one more than replay_limit, with no partial replay', async () => {
    const { back, missed } = await missAndReturn('GM_EDGE_PAST', 6);
    assert.equal(back.identified.resumed, true);
    const sync = await back.rec.next('sync:full');
    const ids = sync.data.transactions.map((t) => t.id);
    assert.ok(missed.every((id) => ids.includes(id)), 'the full state holds what was missed');
    assert.equal(back.rec.named('transaction:new').length, 0, 'no partial replay');
    back.close();
  });

  it('sends state:update at most 10 times a second however fast the state changes', async () => {
    const watcher = await station(box, 'GM_WATCH_RATE');
    await sleep(300);
    const before = watcher.rec.named('state:update').length;
    const started = Date.now();
    // Three scanners at their 10 scans/s: about 30 changes a second for 2 s.
    const scanner = async (sub) => {
      const token = box.token('player', sub);
      for (let i = 0; i < 20; i++) {
        const res = await box.http('POST', '/api/scan', { token, body: { tokenId: TOKENS[i % TOKENS.length], scanId: `${sub}-${i}` } });
        assert.equal(res.status, 200, res.text);
        await sleep(100);
      }
    };
    await Promise.all([scanner('P_RATE_1'), scanner('P_RATE_2'), scanner('P_RATE_3')]);
    await sleep(300); // the last change's update
    const elapsedSecs = (Date.now() - started) / 1000;
    const updates = watcher.rec.named('state:update').length - before;
    assert.ok(updates >= 2, `state:update kept coming while scores changed (${updates})`);
    assert.ok(updates <= Math.ceil(elapsedSecs * 10) + 1, `${updates} state:update in ${elapsedSecs} s`);
    watcher.close();
  });
});

describe('reconnection', () => {
  let box;
  // Stations that left keep their slot for 30 s, so these tests need more than the default 5.
  before(async () => { box = await startBox({ config: '[limits]\nmax_gm_stations = 10\n' }); await box.createSession(); });
  after(() => box.stop());

  it('replays what a station missed when it comes back within 30 s', async () => {
    const a = await station(box, 'GM_R1');
    const b = await station(box, 'GM_R2');
    a.close();
    await stationGone(box, 'GM_R1');
    const missed = [];
    for (const token of TOKENS.slice(0, 3)) {
      missed.push((await emitAck(b.socket, 'transaction:submit', { tokenId: token, teamId: 'TEAM_R' })).transaction.id);
    }
    const back = await station(box, 'GM_R1');
    assert.equal(back.identified.resumed, true);
    await back.rec.next('transaction:new', (p) => p.data.id === missed.at(-1));
    await sleep(200);
    const replayed = back.rec.named('transaction:new').map((p) => p.data.id);
    assert.deepEqual(replayed, missed);
    assert.equal(back.rec.named('sync:full').length, 0);
    back.close();
    b.close();
  });

  it('a station that reconnects at once is identified every time and stays connected', async () => {
    for (let i = 0; i < 25; i++) {
      const first = await station(box, 'GM_QUICK');
      first.close();
      const again = await station(box, 'GM_QUICK'); // rejects if gm:identified never comes
      assert.equal(again.identified.success, true);
      await sleep(50);
      const device = (await box.http('GET', '/api/state')).json.devices.find((d) => d.deviceId === 'GM_QUICK');
      assert.equal(device.connected, true, `round ${i}: the live station is marked connected`);
      again.close();
      await sleep(30);
    }
  });

  it('sends sync:full instead when more than 100 events were missed', async () => {
    const a = await station(box, 'GM_R3');
    const b = await station(box, 'GM_R4');
    const c = await station(box, 'GM_R5');
    a.close();
    await stationGone(box, 'GM_R3');
    // 110 recorded transactions (duplicates count: each is a transaction:new) from two stations,
    // paced under the 10/s limit.
    const send = async (st, n) => {
      for (let i = 0; i < n; i++) {
        const ack = await emitAck(st.socket, 'transaction:submit', { tokenId: 'mem010', teamId: 'TEAM_S' });
        assert.equal(ack.success, true, JSON.stringify(ack));
        await sleep(105);
      }
    };
    await Promise.all([send(b, 55), send(c, 55)]);
    const back = await station(box, 'GM_R3');
    assert.equal(back.identified.resumed, true);
    const sync = await back.rec.next('sync:full');
    assert.equal(sync.data.transactions.length, 100);
    assert.equal(back.rec.named('transaction:new').length, 0, 'no partial replay');
    back.close();
    b.close();
    c.close();
  });
});

describe('power cut', () => {
  it('keeps every acknowledged transaction and score, exactly once', async () => {
    const box = await startBox();
    await box.createSession({ name: 'Kill test', teams: ['TEAM_A', 'TEAM_B'] });
    const s = await station(box, 'GM_KILL');
    const acked = [];
    for (let i = 0; i < 24; i++) {
      const ack = await emitAck(s.socket, 'transaction:submit', {
        tokenId: i < 20 ? `mem${String(i + 1).padStart(3, '0')}` : 'mem001',
        teamId: i % 2 ? 'TEAM_A' : 'TEAM_B',
        scanId: `kill-${i}`,
      });
      assert.equal(ack.success, true);
      acked.push(ack.transaction);
      await sleep(105);
    }
    const before = (await box.http('GET', '/api/state')).json;
    const killed = await box.stop('SIGKILL');
    assert.equal(killed.sig, 'SIGKILL');

    await box.launch();
    const back = await station(box, 'GM_KILL');
    const sync = back.rec.next('sync:full');
    await emitAck(back.socket, 'state:request', {});
    const full = (await sync).data;
    const ids = full.transactions.map((t) => t.id);
    for (const t of acked) {
      assert.equal(ids.filter((id) => id === t.id).length, 1, `transaction ${t.id} present once`);
    }
    assert.equal(full.transactions.length, acked.length);
    assert.deepEqual(full.state.scores, before.scores);
    // A resend after the restart is answered with the original, not recorded again.
    const again = await emitAck(back.socket, 'transaction:submit', { tokenId: 'mem001', teamId: 'TEAM_B', scanId: 'kill-0' });
    assert.equal(again.replayed, true);
    assert.equal(again.transaction.id, acked[0].id);
    back.close();
    await box.stop();
  });
});

describe('admin console and shutdown', () => {
  it('an admin socket joins the admin room and sees every scan, player scans too', async () => {
    const box = await startBox();
    await box.createSession();
    const admin = connect(box, { token: await box.adminToken() });
    await new Promise((r) => admin.socket.once('connect', r));
    const gm = await station(box, 'GM_ADM');
    const gmScan = admin.rec.next('transaction:new', (p) => p.data.deviceType === 'gm');
    await emitAck(gm.socket, 'transaction:submit', { tokenId: 'mem001', teamId: 'TEAM_A' });
    await gmScan;
    const playerScan = admin.rec.next('transaction:new', (p) => p.data.deviceType === 'player');
    const res = await box.http('POST', '/api/scan', { body: { tokenId: 'mem002' }, token: box.token('player', 'P_ADM') });
    assert.equal(res.status, 200);
    assert.equal((await playerScan).data.scannerId, 'P_ADM');
    const update = await admin.rec.next('state:update');
    assert.equal(update.data.systemStatus.videoDisplayReady, true);
    await sleep(300);
    assert.equal(gm.rec.named('transaction:new').filter((p) => p.data.deviceType === 'player').length, 0,
      'GM stations only see GM transactions');
    // Both contracts share one channel layer: the stations show up in its presence.
    const presence = (await box.http('GET', '/api/presence', { token: await box.adminToken() })).json;
    assert.deepEqual(presence.channels, { 'gm-stations': 2, admin: 1 });
    admin.socket.disconnect();
    gm.close();
    await box.stop();
  });

  it('SIGTERM closes station connections and exits cleanly within the grace', async () => {
    const box = await startBox();
    await box.createSession();
    const s = await station(box, 'GM_TERM');
    const ack = await emitAck(s.socket, 'transaction:submit', { tokenId: 'mem003', teamId: 'TEAM_A' });
    // A station that sent no name is listed under its id, not its version string.
    const listed = (await box.http('GET', '/api/state')).json.devices.find((d) => d.deviceId === 'GM_TERM');
    assert.equal(listed.name ?? null, null, JSON.stringify(listed));
    const gone = disconnected(s.socket);
    const told = s.rec.next('error', (e) => e.data.code === 'SERVER_ERROR' && /restarting/.test(e.data.message), 8000);
    const started = Date.now();
    const exit = await box.stop('SIGTERM');
    assert.equal(exit.code, 0, box.stderr);
    assert.ok(Date.now() - started < 6000, 'exited within the 5 s grace');
    // A closed transport (not 'io server disconnect') makes the stock client reconnect by itself
    // when the box is back.
    assert.equal(await gone, 'transport close');
    // Told why before the connection went.
    await told;
    // What was acknowledged before the signal is there after a restart.
    await box.launch();
    const state = (await box.http('GET', '/api/state')).json;
    assert.ok(state.recentTransactions.some((t) => t.id === ack.transaction.id));
    await box.stop();
  });
});
