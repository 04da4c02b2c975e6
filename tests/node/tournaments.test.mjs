// The tournament contract's HTTP API (seed 000) against the real binary: registration with
// participant tokens, check-ins, the draw job, the motion kept secret until publish, ballots and
// standings, and all of it back after a power cut. The stream: tournament_stream.test.mjs; the
// page: tournament_page.test.mjs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startBox, until } from './harness.mjs';

const uuid = (n) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const MOTION = 'This house would ban homework';

describe('a tournament night over HTTP', () => {
  let box;
  let admin;
  const speakers = {};
  let tournamentId;
  let roundId;
  let adjudicatorToken;

  before(async () => {
    box = await startBox();
    admin = await box.adminToken();
  });
  after(() => box.stop());

  const api = async (method, path, body, token = admin) => box.http(method, path, { body, token });

  it('registers teams and adjudicators, each person answered with a participant token', async () => {
    const created = await api('POST', '/api/tournaments', { name: 'Spring Open' });
    assert.equal(created.status, 201, created.text);
    tournamentId = created.json.id;
    for (let t = 0; t < 4; t += 1) {
      const team = await api('POST', `/api/tournaments/${tournamentId}/teams`, {
        name: `Team ${t}`,
        speakers: [1, 2].map((s) => ({ id: uuid(t * 2 + s), name: `Speaker ${t * 2 + s}` })),
      });
      assert.equal(team.status, 201, team.text);
      for (const s of team.json.speakers) {
        const claims = JSON.parse(Buffer.from(s.token.split('.')[1], 'base64url').toString());
        assert.equal(claims.role, 'participant');
        assert.equal(claims.sub, s.id);
        assert.equal(claims.exp - claims.iat, 48 * 3600, 'good for a tournament day and its night');
        speakers[s.id] = s.token;
      }
    }
    const judge = await api('POST', `/api/tournaments/${tournamentId}/adjudicators`, { id: uuid(101), name: 'Judge Ada' });
    assert.equal(judge.status, 201, judge.text);
    adjudicatorToken = judge.json.token;
    const twice = await api('POST', `/api/tournaments/${tournamentId}/teams`, {
      name: 'Again', speakers: [{ id: uuid(1), name: 'Again' }, { id: uuid(50), name: 'New' }],
    });
    assert.equal(twice.status, 409);
    assert.equal(twice.json.code, 'CONFLICT');
    const guest = await api('POST', '/api/tournaments', { name: 'Mine' }, speakers[uuid(1)]);
    assert.equal(guest.status, 403, 'a participant cannot create tournaments');
  });

  it('keeps the motion from participants until the round is published', async () => {
    const round = await api('POST', `/api/tournaments/${tournamentId}/rounds`, { motion: MOTION });
    assert.equal(round.status, 201, round.text);
    roundId = round.json.id;
    assert.equal(round.json.motion, MOTION, 'staff see it');
    const asParticipant = await api('GET', `/api/rounds/${roundId}`, undefined, speakers[uuid(1)]);
    assert.equal(asParticipant.status, 200);
    assert.equal(asParticipant.json.motion, null);
    const tournament = await api('GET', `/api/tournaments/${tournamentId}`, undefined, speakers[uuid(1)]);
    assert.ok(!tournament.text.includes(MOTION), 'not in the tournament either');
    const gm = await api('GET', `/api/rounds/${roundId}`, undefined, box.token('gm', 'GM_1'));
    assert.equal(gm.status, 403);
  });

  it('draws the checked-in teams in a job, then reveals the motion on publish', async () => {
    const early = await api('POST', `/api/rounds/${roundId}/draw`);
    assert.equal(early.status, 409, 'nobody checked in yet');
    for (const n of [1, 3, 5, 7, 101]) {
      const res = await api('POST', `/api/rounds/${roundId}/checkins`, { user_id: uuid(n), status: true });
      assert.equal(res.status, 200, res.text);
    }
    const stranger = await api('POST', `/api/rounds/${roundId}/checkins`, { user_id: uuid(999), status: true });
    assert.equal(stranger.status, 404);
    const started = await api('POST', `/api/rounds/${roundId}/draw`);
    assert.equal(started.status, 202, started.text);
    await until(async () => (await api('GET', `/api/rounds/${roundId}`)).json.draw.status === 'done', 'the draw job finishes');
    const made = await api('GET', `/api/rounds/${roundId}/draw`, undefined, speakers[uuid(1)]);
    assert.equal(made.json.rooms.length, 2);
    const teams = made.json.rooms.flatMap((r) => [r.proposition.id, r.opposition.id]);
    assert.equal(new Set(teams).size, 4, 'each team once');
    assert.equal(made.json.rooms.filter((r) => r.adjudicator).length, 1, 'one judge for two rooms');
    // Before publish the motion is in no answer a participant or a screen can get, and they
    // can change nothing.
    const screen = box.token('viewer', 'hall-screen');
    for (const token of [speakers[uuid(1)], screen]) {
      for (const path of ['/api/tournaments', `/api/tournaments/${tournamentId}`, `/api/tournaments/${tournamentId}/standings`,
        `/api/rounds/${roundId}`, `/api/rounds/${roundId}/draw`]) {
        const res = await api('GET', path, undefined, token);
        assert.equal(res.status, 200, `${path}: ${res.text}`);
        assert.ok(!res.text.includes(MOTION), path);
      }
      for (const [path, body] of [[`/api/rounds/${roundId}/publish`], [`/api/rounds/${roundId}/draw`],
        [`/api/rounds/${roundId}/timer`, { action: 'start', seconds: 60 }],
        [`/api/rounds/${roundId}/checkins`, { user_id: uuid(2), status: true }],
        [`/api/rounds/${roundId}/ballots`, { room: 1, winner: 'proposition', speakers: [] }]]) {
        const res = await api('POST', path, body, token);
        assert.equal(res.status, 403, `${path}: ${res.text}`);
        assert.ok(!res.text.includes(MOTION), path);
      }
    }
    const untouched = (await api('GET', `/api/rounds/${roundId}`)).json;
    assert.equal(untouched.published, false);
    assert.equal(untouched.timer.running, false);
    assert.ok(!untouched.checked_in.includes(uuid(2)));

    const published = await api('POST', `/api/rounds/${roundId}/publish`);
    assert.equal(published.status, 200, published.text);
    const seen = await api('GET', `/api/rounds/${roundId}`, undefined, speakers[uuid(1)]);
    assert.equal(seen.json.motion, MOTION);
  });

  it('turns ballots into standings, and keeps everything through a power cut', async () => {
    const { json: t } = await api('GET', `/api/tournaments/${tournamentId}`);
    const speakersOf = (teamId) => t.teams.find((x) => x.id === teamId).speakers.map((s) => s.id);
    const { json: made } = await api('GET', `/api/rounds/${roundId}/draw`);
    const before = (await api('GET', `/api/tournaments/${tournamentId}/standings`, undefined, speakers[uuid(1)])).json;
    assert.ok(before.standings.every((s) => s.wins === 0));
    for (const room of made.rooms) {
      const res = await api('POST', `/api/rounds/${roundId}/ballots`, {
        room: room.room,
        winner: 'proposition',
        speakers: [...speakersOf(room.proposition.id), ...speakersOf(room.opposition.id)].map((id, i) => ({ id, score: 70 + i })),
      });
      assert.equal(res.status, 200, res.text);
    }
    const wrong = await api('POST', `/api/rounds/${roundId}/ballots`, { room: 1, winner: 'both', speakers: [] });
    assert.equal(wrong.status, 400);
    const after = (await api('GET', `/api/tournaments/${tournamentId}/standings`, undefined, speakers[uuid(1)])).json;
    const leaders = after.standings.slice(0, 2).map((s) => s.team_id).sort();
    assert.deepEqual(leaders, made.rooms.map((r) => r.proposition.id).sort());
    assert.ok(after.standings[0].speaker_points > 0);

    await box.stop('SIGKILL');
    await box.launch();
    admin = await box.adminToken();
    const back = (await api('GET', `/api/tournaments/${tournamentId}/standings`)).json;
    assert.deepEqual(back, after);
    const round = (await api('GET', `/api/rounds/${roundId}`)).json;
    assert.equal(round.published, true);
    assert.deepEqual([...round.checked_in].sort(), [1, 3, 5, 7, 101].map(uuid).sort());
    const judgeStill = await api('GET', `/api/rounds/${roundId}`, undefined, adjudicatorToken);
    assert.equal(judgeStill.json.motion, MOTION);
  });
});
