// The tournament stream (seed 000's `/ws/stream`) against the real binary with the `ws` client:
// the JWT subprotocol and its refusals before the upgrade, subscribe, every seed channel from the
// staff action that causes it, check-ins from participants' phones, the round timer's syncs,
// resume with `after`, token expiry, and a power cut with the timer running.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { jsonFrames, sleep, startBox, until } from './harness.mjs';

const uuid = (n) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const MOTION = 'This house would let the robots vote';
const ALL = ['draws:new', 'rounds:live', 'checkins:status', 'timers:sync', 'standings:update'];

/** A stream client: every frame it got, a wait for one, and requests answered by reply_to. */
function openStream(box, token, protocols = ['jwt', token]) {
  const ws = new WebSocket(`${box.url.replace('http', 'ws')}/ws/stream`, protocols);
  const { frames, next, open, closed } = jsonFrames(ws);
  let nextId = 1;
  const request = (frame) => {
    const id = nextId;
    nextId += 1;
    ws.send(JSON.stringify({ id, ...frame }));
    return next((f) => f.reply_to === id, `the reply to ${JSON.stringify(frame)}`);
  };
  const on = (channel) => frames.filter((f) => f.channel === channel);
  return { ws, frames, next, request, open, closed, on };
}

/** What the box answers an upgrade it refuses: the status and JSON body, before any 101. */
function refusedUpgrade(box, protocols, headers = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${box.url.replace('http', 'ws')}/ws/stream`, protocols, { headers });
    ws.on('open', () => reject(new Error('the upgrade was accepted')));
    ws.on('error', () => {});
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(body) }));
    });
  });
}

describe('the tournament stream', () => {
  let box;
  let admin;
  let tournamentId;
  let roundId;
  const tokens = {};

  before(async () => {
    box = await startBox();
    admin = await box.adminToken();
    const api = (method, path, body) => box.http(method, path, { body, token: admin });
    tournamentId = (await api('POST', '/api/tournaments', { name: 'Stream Cup' })).json.id;
    for (let t = 0; t < 4; t += 1) {
      const team = await api('POST', `/api/tournaments/${tournamentId}/teams`, {
        name: `Team ${t}`,
        speakers: [1, 2].map((s) => ({ id: uuid(t * 2 + s), name: `Speaker ${t * 2 + s}` })),
      });
      for (const s of team.json.speakers) tokens[s.id] = s.token;
    }
    const judge = await api('POST', `/api/tournaments/${tournamentId}/adjudicators`, { id: uuid(100), name: 'Judge' });
    tokens[uuid(100)] = judge.json.token;
    roundId = (await api('POST', `/api/tournaments/${tournamentId}/rounds`, { motion: MOTION })).json.id;
  });
  after(() => box.stop());

  const api = (method, path, body, token = admin) => box.http(method, path, { body, token });

  it('refuses a missing subprotocol, a forged, expired or wrong-role token with 401 before the upgrade', async () => {
    const good = tokens[uuid(1)];
    const cases = [
      ['no subprotocol', [], 'AUTH_REQUIRED', /jwt/],
      ['jwt without a token', ['jwt'], 'AUTH_REQUIRED', /jwt/],
      ['the token without jwt', [good], 'AUTH_REQUIRED', /jwt/],
      ['the token before jwt', [good, 'jwt'], 'AUTH_REQUIRED', /jwt/],
      ['forged', ['jwt', `${good.slice(0, -4)}AAAA`], 'INVALID_TOKEN', /invalid/i],
      ['expired an hour ago', ['jwt', box.expiredToken('participant', uuid(1))], 'INVALID_TOKEN', /expired/],
      ['expired a second ago', ['jwt', box.expiredToken('participant', uuid(1), 1)], 'INVALID_TOKEN', /expired/],
      ['a GM station token', ['jwt', box.token('gm', 'GM_1')], 'INVALID_TOKEN', /does not open/],
      ['a player token', ['jwt', box.token('player', 'SCANNER_1')], 'INVALID_TOKEN', /does not open/],
    ];
    for (const [what, protocols, code, message] of cases) {
      const refused = await refusedUpgrade(box, protocols);
      assert.equal(refused.status, 401, what);
      assert.equal(refused.json.code, code, what);
      assert.match(refused.json.message, message, what);
      assert.ok(!JSON.stringify(refused.json).includes(good), `${what}: the token is never echoed`);
    }
    // A bearer header is not the stream's way in: browsers cannot send one.
    const bearer = await refusedUpgrade(box, [], { authorization: `Bearer ${good}` });
    assert.equal(bearer.status, 401);
  });

  it('selects jwt, never the token, and answers every frame with an id', async () => {
    const phone = openStream(box, tokens[uuid(1)]);
    await phone.open;
    assert.equal(phone.ws.protocol, 'jwt');
    const ok = await phone.request({ action: 'subscribe', tournament_id: tournamentId, channels: ALL });
    assert.deepEqual(ok, { reply_to: 1, ok: true });
    const unknown = await phone.request({ action: 'subscribe', tournament_id: 999 });
    assert.equal(unknown.ok, false);
    assert.equal(unknown.error.code, 'NOT_FOUND');
    const badChannel = await phone.request({ action: 'subscribe', tournament_id: tournamentId, channels: ['weather'] });
    assert.equal(badChannel.error.code, 'INVALID_DATA');
    // A frame with wrong fields is still answered by its id.
    const wrongType = await phone.request({ action: 'subscribe', tournament_id: 'one' });
    assert.equal(wrongType.error.code, 'INVALID_DATA');
    const unknownField = await phone.request({ action: 'subscribe', tournament_id: tournamentId, colour: 'red' });
    assert.equal(unknownField.error.code, 'INVALID_DATA');
    const gone = await phone.request({ action: 'unsubscribe', tournament_id: 999 });
    assert.equal(gone.error.code, 'NOT_FOUND');
    phone.ws.send('{"not json');
    const garbage = await phone.next((f) => f.ok === false && f.reply_to === undefined, 'an error frame');
    assert.equal(garbage.error.code, 'INVALID_DATA');
    phone.ws.close();
  });

  it('carries draws:new, rounds:live, checkins:status, timers:sync and standings:update as the seed shapes them', async () => {
    const staff = openStream(box, admin);
    const phone = openStream(box, tokens[uuid(1)]);
    const screen = openStream(box, box.token('viewer', 'hall-screen'));
    await Promise.all([staff.open, phone.open, screen.open]);
    for (const c of [staff, phone, screen]) {
      assert.equal((await c.request({ action: 'subscribe', tournament_id: tournamentId, channels: ALL })).ok, true);
    }

    // A participant checks in themselves; every subscriber is told.
    const mine = await phone.request({ channel: 'checkins:update', payload: { round_id: roundId, user_id: uuid(1), status: true } });
    assert.equal(mine.ok, true);
    for (const c of [staff, phone, screen]) {
      const status = await c.next((f) => f.channel === 'checkins:status' && f.payload.user_id === uuid(1), 'checkins:status');
      assert.deepEqual(status.payload, { round_id: roundId, user_id: uuid(1), status: true });
      assert.ok(Number.isInteger(status.seq) && status.seq > 0);
    }
    // ...but not someone else, and a screen nobody: an error frame, nothing logged.
    const other = await phone.request({ channel: 'checkins:update', payload: { round_id: roundId, user_id: uuid(3), status: true } });
    assert.equal(other.ok, false);
    assert.equal(other.error.code, 'FORBIDDEN');
    const fromScreen = await screen.request({ channel: 'checkins:update', payload: { round_id: roundId, user_id: uuid(3), status: true } });
    assert.equal(fromScreen.error.code, 'FORBIDDEN');
    phone.ws.send(JSON.stringify({ channel: 'checkins:update', payload: { round_id: roundId, user_id: uuid(5), status: true } }));
    const silentId = await phone.next((f) => f.ok === false && f.reply_to === undefined && f.error.code === 'FORBIDDEN', 'an error frame without an id');
    assert.ok(silentId);
    let round = (await api('GET', `/api/rounds/${roundId}`)).json;
    assert.deepEqual(round.checked_in, [uuid(1)]);
    // Staff check in anyone (the rest of the room), and a participant can undo their own.
    for (const n of [3, 5, 7, 100]) {
      assert.equal((await staff.request({ channel: 'checkins:update', payload: { round_id: roundId, user_id: uuid(n), status: true } })).ok, true);
    }
    // The refused ones logged nothing: the next change follows the participant's own at once.
    const next = await screen.next((f) => f.channel === 'checkins:status' && f.payload.user_id === uuid(3), 'the staff check-in');
    const own = screen.on('checkins:status').find((f) => f.payload.user_id === uuid(1));
    // Between them only the staff trail's entry for the staff check-in (it precedes its events).
    assert.equal(next.seq, own.seq + 2, 'no event between the accepted check-ins but the trail\'s');
    const entry = (await api('GET', '/api/audit?limit=20')).json.entries.find((e) => e.seq === next.seq - 1);
    assert.deepEqual([entry?.role, entry?.address, entry?.did], ['admin', '127.0.0.1', ['CheckedIn']], JSON.stringify(entry));
    for (const c of [staff, phone, screen]) {
      assert.equal(c.on('checkins:status').filter((f) => f.payload.user_id === uuid(3)).length, 1);
    }
    await phone.request({ channel: 'checkins:update', payload: { round_id: roundId, user_id: uuid(1), status: false } });
    await screen.next((f) => f.channel === 'checkins:status' && f.payload.user_id === uuid(1) && f.payload.status === false, 'the undo');
    await phone.request({ channel: 'checkins:update', payload: { round_id: roundId, user_id: uuid(1), status: true } });

    // The draw job: draws:new once it completed.
    assert.equal((await api('POST', `/api/rounds/${roundId}/draw`)).status, 202);
    const drawn = await screen.next((f) => f.channel === 'draws:new', 'draws:new');
    assert.deepEqual(drawn.payload, { round_id: roundId, tournament_id: tournamentId });
    assert.equal((await api('GET', `/api/rounds/${roundId}/draw`, undefined, tokens[uuid(1)])).json.rooms.length, 2);

    // The motion is nowhere a participant or a screen could read before publish.
    for (const c of [phone, screen]) assert.ok(!JSON.stringify(c.frames).includes(MOTION));
    assert.equal((await api('POST', `/api/rounds/${roundId}/publish`)).status, 200);
    for (const c of [phone, screen]) {
      const live = await c.next((f) => f.channel === 'rounds:live', 'rounds:live');
      assert.deepEqual(live.payload, { round_id: roundId, motion: MOTION });
    }

    // The timer: a sync on the change, then every 5 s with plausible values; pause stops them.
    const started = await api('POST', `/api/rounds/${roundId}/timer`, { action: 'start', seconds: 420 });
    assert.equal(started.status, 200, started.text);
    const first = await screen.next((f) => f.channel === 'timers:sync', 'the first timers:sync');
    assert.deepEqual(first.payload, { round_id: roundId, seconds_remaining: 420 });
    // The box's own clock says when it was sent: 415 is 5 s into the round (the "within 6 s" is
    // the box's; the wait allows a slow machine to deliver it).
    const tick = await screen.next((f) => f.channel === 'timers:sync' && f.payload.seconds_remaining < 420, 'a periodic timers:sync', 12_000);
    assert.ok([414, 415].includes(tick.payload.seconds_remaining), JSON.stringify(tick));
    assert.ok(tick.seq > first.seq);
    const paused = await api('POST', `/api/rounds/${roundId}/timer`, { action: 'pause' });
    assert.equal(paused.json.timer.running, false);
    const pausedAt = paused.json.timer.seconds_remaining;
    await screen.next((f) => f.channel === 'timers:sync' && f.seq > tick.seq && f.payload.seconds_remaining === pausedAt, 'the pause');
    const count = screen.on('timers:sync').length;
    await sleep(6000);
    assert.equal(screen.on('timers:sync').length, count, 'no syncs while paused');
    const twice = await api('POST', `/api/rounds/${roundId}/timer`, { action: 'pause' });
    assert.equal(twice.status, 409);
    const noSeconds = await api('POST', `/api/rounds/${roundId}/timer`, { action: 'start' });
    assert.equal(noSeconds.status, 400);
    const asParticipant = await api('POST', `/api/rounds/${roundId}/timer`, { action: 'resume' }, tokens[uuid(1)]);
    assert.equal(asParticipant.status, 403);

    // A short timer runs out: a final 0, then silence.
    await api('POST', `/api/rounds/${roundId}/timer`, { action: 'reset', seconds: 2 });
    await api('POST', `/api/rounds/${roundId}/timer`, { action: 'resume' });
    await screen.next((f) => f.channel === 'timers:sync' && f.payload.seconds_remaining === 0, 'the final 0', 6000);
    round = (await api('GET', `/api/rounds/${roundId}`)).json;
    assert.deepEqual(round.timer, { seconds_remaining: 0, running: false });
    const final = screen.on('timers:sync').length;
    await sleep(5500);
    assert.equal(screen.on('timers:sync').length, final, 'silence after 0');

    // A ballot: standings:update, and the URL answers the new standings.
    const before = (await api('GET', `/api/tournaments/${tournamentId}/standings`)).json;
    const { json: made } = await api('GET', `/api/rounds/${roundId}/draw`);
    const { json: t } = await api('GET', `/api/tournaments/${tournamentId}`);
    const room = made.rooms[0];
    const lastBefore = Math.max(...phone.frames.map((f) => f.seq ?? 0));
    const speakersOf = (teamId) => t.teams.find((x) => x.id === teamId).speakers.map((s) => s.id);
    const ballot = await api('POST', `/api/rounds/${roundId}/ballots`, {
      room: room.room,
      winner: 'opposition',
      speakers: [...speakersOf(room.proposition.id), ...speakersOf(room.opposition.id)].map((id) => ({ id, score: 75 })),
    });
    assert.equal(ballot.status, 200, ballot.text);
    const update = await phone.next((f) => f.channel === 'standings:update' && f.seq > lastBefore, 'standings:update');
    assert.deepEqual(update.payload, { tournament_id: tournamentId, url: `/api/tournaments/${tournamentId}/standings` });
    const now = (await api('GET', update.payload.url, undefined, tokens[uuid(1)])).json;
    assert.notDeepEqual(now, before);
    assert.equal(now.standings[0].team_id, room.opposition.id);

    // Unsubscribed channels go quiet.
    await screen.request({ action: 'unsubscribe', tournament_id: tournamentId, channels: ['checkins:status'] });
    await staff.request({ channel: 'checkins:update', payload: { round_id: roundId, user_id: uuid(7), status: false } });
    await phone.next((f) => f.channel === 'checkins:status' && f.payload.user_id === uuid(7) && !f.payload.status, 'the check-out');
    // Something the screen still follows, after the check-out: once it has it, the check-out
    // would have come first (one queue per client, in order).
    await api('POST', `/api/rounds/${roundId}/timer`, { action: 'reset', seconds: 60 });
    await screen.next((f) => f.channel === 'timers:sync' && f.payload.seconds_remaining === 60, 'the reset');
    assert.equal(screen.on('checkins:status').filter((f) => f.payload.user_id === uuid(7) && !f.payload.status).length, 0);
    for (const c of [staff, phone, screen]) c.ws.close();
  });

  it('takes ten check-ins a minute from a participant, whatever the connection', async () => {
    const answers = [];
    for (let i = 0; i < 11; i += 1) {
      // A new connection for some: reconnecting does not renew the budget.
      const phone = openStream(box, tokens[uuid(4)]);
      await phone.open;
      const reply = await phone.request({ channel: 'checkins:update', payload: { round_id: roundId, user_id: uuid(4), status: i % 2 === 0 } });
      answers.push(reply.ok ? 'ok' : reply.error.code);
      phone.ws.close();
    }
    assert.deepEqual(answers, [...Array(10).fill('ok'), 'RATE_LIMITED']);
    // Staff are not held to it.
    const staff = openStream(box, admin);
    await staff.open;
    for (let i = 0; i < 12; i += 1) {
      const reply = await staff.request({ channel: 'checkins:update', payload: { round_id: roundId, user_id: uuid(4), status: i % 2 === 1 } });
      assert.equal(reply.ok, true, JSON.stringify(reply));
      await sleep(210);
    }
    staff.ws.close();
  });

  it('resumes after a seq: what was missed, in order, then live', async () => {
    const phone = openStream(box, tokens[uuid(3)]);
    await phone.open;
    await phone.request({ action: 'subscribe', tournament_id: tournamentId, channels: ['checkins:status'] });
    await api('POST', `/api/rounds/${roundId}/checkins`, { user_id: uuid(7), status: true });
    const seen = await phone.next((f) => f.channel === 'checkins:status' && f.payload.user_id === uuid(7), 'a check-in');
    phone.ws.close();
    await api('POST', `/api/rounds/${roundId}/checkins`, { user_id: uuid(8), status: true });
    await api('POST', `/api/rounds/${roundId}/checkins`, { user_id: uuid(8), status: false });
    const back = openStream(box, tokens[uuid(3)]);
    await back.open;
    await back.request({ action: 'subscribe', tournament_id: tournamentId, channels: ['checkins:status'], after: seen.seq });
    const missed = back.on('checkins:status').map((f) => [f.payload.user_id, f.payload.status]);
    assert.deepEqual(missed, [[uuid(8), true], [uuid(8), false]]);
    // ...then live, once each.
    const lastMissed = back.on('checkins:status').at(-1).seq;
    await api('POST', `/api/rounds/${roundId}/checkins`, { user_id: uuid(6), status: true });
    const live = await back.next((f) => f.channel === 'checkins:status' && f.payload.user_id === uuid(6), 'the live check-in');
    assert.ok(live.seq > lastMissed);
    await sleep(300);
    assert.equal(back.on('checkins:status').filter((f) => f.payload.user_id === uuid(6)).length, 1);
    back.ws.close();
  });

  it('closes with 4001 when the token expires while connected, and a frame over 8 KiB with 1009', async () => {
    const shortLived = box.token('participant', uuid(2), '5s');
    const phone = openStream(box, shortLived);
    await phone.open;
    const openedAt = Date.now();
    assert.equal((await phone.request({ action: 'subscribe', tournament_id: tournamentId })).ok, true);
    const { code } = await Promise.race([phone.closed, sleep(15_000).then(() => ({ code: 'still open' }))]);
    assert.equal(code, 4001);
    const lived = Date.now() - openedAt;
    assert.ok(lived > 2000 && lived < 8000, `closed after ${lived} ms`);

    const big = openStream(box, tokens[uuid(2)]);
    await big.open;
    big.ws.send(JSON.stringify({ action: 'subscribe', tournament_id: tournamentId, pad: 'x'.repeat(9 * 1024) }));
    assert.equal((await big.closed).code, 1009);
  });

  it('brings a running timer back paused after a power cut, with everything acknowledged', async () => {
    await api('POST', `/api/rounds/${roundId}/timer`, { action: 'reset', seconds: 300 });
    await api('POST', `/api/rounds/${roundId}/timer`, { action: 'resume' });
    const screen = openStream(box, admin);
    await screen.open;
    await screen.request({ action: 'subscribe', tournament_id: tournamentId, channels: ['timers:sync'] });
    const tick = await screen.next((f) => f.channel === 'timers:sync' && f.payload.seconds_remaining < 300, 'a checkpoint', 12_000);
    const checkedIn = (await api('GET', `/api/rounds/${roundId}`)).json.checked_in;
    await box.stop('SIGKILL');
    await box.launch();
    admin = await box.adminToken();
    const round = (await api('GET', `/api/rounds/${roundId}`)).json;
    assert.equal(round.timer.running, false, 'paused after the cut');
    assert.ok(round.timer.seconds_remaining <= tick.payload.seconds_remaining && round.timer.seconds_remaining >= tick.payload.seconds_remaining - 5,
      `${round.timer.seconds_remaining} vs the last sync ${tick.payload.seconds_remaining}`);
    assert.deepEqual(round.checked_in, checkedIn);
    assert.equal(round.published, true);
    assert.equal(round.ballots, 1);
    // A stream client that resumes from before the cut is caught up from the log.
    const back = openStream(box, admin);
    await back.open;
    await back.request({ action: 'subscribe', tournament_id: tournamentId, channels: ['timers:sync'], after: tick.seq });
    await until(async () => back.on('timers:sync').some((f) => f.payload.seconds_remaining === round.timer.seconds_remaining), 'the paused value, resumed from the log');
    assert.ok(!back.frames.some((f) => f.notice), 'read from the log, not a snapshot');
    back.ws.close();

    // The card is read for at most six such resumes a minute per token holder (reconnecting
    // does not renew it); then a resume gets the current state.
    const snapshots = [];
    for (let i = 0; i < 10; i += 1) {
      const again = openStream(box, tokens[uuid(2)]);
      await again.open;
      await again.request({ action: 'subscribe', tournament_id: tournamentId, channels: ['timers:sync'], after: tick.seq });
      snapshots.push(again.frames.some((f) => f.notice?.code === 'SNAPSHOT'));
      assert.ok(again.on('timers:sync').some((f) => f.payload.seconds_remaining === round.timer.seconds_remaining), `resume ${i}`);
      again.ws.close();
    }
    // Six from the log, then current state (the budget refills one every 10 s, so a slow
    // machine may read once more, never every time).
    assert.deepEqual(snapshots.slice(0, 6), [false, false, false, false, false, false]);
    assert.ok(snapshots.slice(6).some(Boolean), JSON.stringify(snapshots));
  });
});
