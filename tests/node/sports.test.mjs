// The sports-day contract's HTTP API (seed 003) against the real binary: events, teams,
// registrations, fixtures and results with the stored leaderboard, announcements with targets,
// filters and expiry, tickets at the gate, who may do and read what, and a power cut.
// (The live topics: sports_live.test.mjs; in a browser: sports_page.test.mjs.)
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sleep, startBox } from './harness.mjs';

describe('a sports day over HTTP', () => {
  let box;
  let admin;
  let publicEvent;
  let privateEvent;
  const teams = {};
  const fixtures = [];

  before(async () => {
    box = await startBox();
    admin = await box.adminToken();
  });
  after(() => box.stop());

  const api = (method, path, body, token = admin) => box.http(method, path, { body, token });

  it('creates events and teams, and registers teams (staff, or a team’s own manager)', async () => {
    const open = await api('POST', '/api/events', { name: 'Open Day', public: true });
    assert.equal(open.status, 201, open.text);
    publicEvent = open.json.id;
    const closed = await api('POST', '/api/events', { name: 'Club Cup', public: false, points: { win: 2, draw: 1, loss: 0 } });
    privateEvent = closed.json.id;
    for (const name of ['Reds', 'Blues', 'Greens']) {
      const team = await api('POST', '/api/teams', {
        name,
        members: [{ user_id: `${name.toLowerCase()}-manager`, role: 'manager' }, { user_id: `${name.toLowerCase()}-player`, role: 'player' }],
      });
      assert.equal(team.status, 201, team.text);
      teams[name] = team.json.id;
    }
    const badRole = await api('POST', '/api/teams', { name: 'X', members: [{ user_id: 'x', role: 'captain' }] });
    assert.equal(badRole.status, 400);
    for (const id of Object.values(teams)) {
      assert.equal((await api('POST', `/api/events/${publicEvent}/registrations`, { team_id: id })).status, 201);
    }
    // A team's manager registers their own team for a public event; a player cannot.
    const parkRun = (await api('POST', '/api/events', { name: 'Park Run', public: true })).json.id;
    const byPlayer = await api('POST', `/api/events/${parkRun}/registrations`, { team_id: teams.Reds }, box.token('member', 'reds-player'));
    assert.equal(byPlayer.status, 403);
    const byManager = await api('POST', `/api/events/${parkRun}/registrations`, { team_id: teams.Reds }, box.token('member', 'reds-manager'));
    assert.equal(byManager.status, 201, byManager.text);
    // A private event is for the teams staff invite: a manager who could join it would read its
    // announcements and enter results in its table.
    const intoPrivate = await api('POST', `/api/events/${privateEvent}/registrations`, { team_id: teams.Reds }, box.token('member', 'reds-manager'));
    assert.equal(intoPrivate.status, 403, intoPrivate.text);
    assert.equal(intoPrivate.json.code, 'FORBIDDEN');
    assert.equal((await api('POST', `/api/events/${privateEvent}/registrations`, { team_id: teams.Reds })).status, 201);
    const twice = await api('POST', `/api/events/${publicEvent}/registrations`, { team_id: teams.Reds });
    assert.equal(twice.status, 409);
  });

  it('reads a public event without a token, a private one only as its teams, managers or staff', async () => {
    assert.equal((await box.http('GET', `/api/events/${publicEvent}`)).status, 200);
    assert.equal((await box.http('GET', `/api/events/${privateEvent}`)).status, 403);
    assert.equal((await api('GET', `/api/events/${privateEvent}`, undefined, box.token('member', 'blues-player'))).status, 403);
    assert.equal((await api('GET', `/api/events/${privateEvent}`, undefined, box.token('member', 'reds-player'))).status, 200);
    assert.equal((await box.http('GET', '/api/events/999')).status, 404);
  });

  it('turns fixtures and results into the leaderboard, stored with each result', async () => {
    const at = '2026-06-01T10:00:00Z';
    for (const [home, away] of [['Reds', 'Blues'], ['Blues', 'Greens'], ['Greens', 'Reds']]) {
      const f = await api('POST', `/api/events/${publicEvent}/fixtures`, { home_team_id: teams[home], away_team_id: teams[away], starts_at: at });
      assert.equal(f.status, 201, f.text);
      assert.equal(f.json.status, 'scheduled');
      fixtures.push(f.json.id);
    }
    const self = await api('POST', `/api/events/${publicEvent}/fixtures`, { home_team_id: teams.Reds, away_team_id: teams.Reds, starts_at: at });
    assert.equal(self.status, 400);
    const badTime = await api('POST', `/api/events/${publicEvent}/fixtures`, { home_team_id: teams.Reds, away_team_id: teams.Blues, starts_at: 'tuesday' });
    assert.equal(badTime.status, 400);
    const guest = await api('POST', `/api/fixtures/${fixtures[0]}/result`, { home_score: 9, away_score: 0 }, box.token('member', 'blues-player'));
    assert.equal(guest.status, 403, 'a player enters no results');
    for (const [i, home, away] of [[0, 2, 1], [1, 0, 0], [2, 0, 3]]) {
      const res = await api('POST', `/api/fixtures/${fixtures[i]}/result`, { home_score: home, away_score: away });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.status, 'final');
    }
    const board = (await box.http('GET', `/api/events/${publicEvent}/leaderboard`)).json.leaderboard;
    assert.deepEqual(board.map((r) => r.team), ['Reds', 'Blues', 'Greens']);
    assert.deepEqual(board.map((r) => r.points), [6, 1, 1]);
    assert.equal(board[1].goal_difference, -1);
    // A rescheduled and a cancelled fixture; a cancelled one takes no result.
    const later = await api('POST', `/api/events/${publicEvent}/fixtures`, { home_team_id: teams.Blues, away_team_id: teams.Reds, starts_at: at });
    const moved = await api('PATCH', `/api/fixtures/${later.json.id}`, { starts_at: '2026-06-01T15:00:00Z' });
    assert.equal(moved.json.status, 'rescheduled');
    const cancelled = await api('PATCH', `/api/fixtures/${later.json.id}`, { status: 'cancelled' });
    assert.equal(cancelled.json.status, 'cancelled');
    assert.equal((await api('POST', `/api/fixtures/${later.json.id}/result`, { home_score: 1, away_score: 0 })).status, 409);
    assert.equal((await api('DELETE', `/api/fixtures/${later.json.id}`)).status, 200);
    assert.equal((await api('DELETE', `/api/fixtures/${later.json.id}`)).status, 404);
  });

  it('lists announcements by filter, each team seeing only what is meant for it, and drops expired ones', async () => {
    const post = (body) => api('POST', '/api/announcements', { event_id: publicEvent, message: 'Details at the desk', ...body });
    const all = await post({ title: 'Lunch at noon', type: 'general', priority: 'normal' });
    assert.equal(all.status, 201, all.text);
    const reds = await post({ title: 'Reds to pitch 2', type: 'schedule_change', priority: 'high', target_teams: [teams.Reds] });
    assert.equal(reds.status, 201, reds.text);
    const soon = new Date(Date.now() + 1500).toISOString();
    const storm = await post({ title: 'Storm', type: 'weather_alert', priority: 'urgent', expires_at: soon });
    assert.equal(storm.status, 201, storm.text);
    assert.equal((await post({ title: 'x', type: 'party', priority: 'normal' })).status, 400);
    const byPlayer = await api('POST', '/api/announcements', { event_id: publicEvent, title: 'x', message: 'y', type: 'general', priority: 'low' }, box.token('member', 'reds-player'));
    assert.equal(byPlayer.status, 403, 'a player does not announce');
    const titles = async (query, token) => (await api('GET', `/api/announcements?event_id=${publicEvent}${query}`, undefined, token)).json.announcements.map((a) => a.title);
    assert.deepEqual(await titles('', box.token('member', 'reds-player')), ['Storm', 'Reds to pitch 2', 'Lunch at noon']);
    assert.deepEqual(await titles('', box.token('member', 'blues-player')), ['Storm', 'Lunch at noon'], 'not the Reds’ message');
    assert.deepEqual(await titles('&priority=urgent'), ['Storm']);
    assert.deepEqual(await titles('&type=schedule_change'), ['Reds to pitch 2']);
    await sleep(1700);
    assert.deepEqual(await titles(''), ['Reds to pitch 2', 'Lunch at noon'], 'the storm warning expired');
    assert.deepEqual(await titles('&status=expired'), ['Storm']);
    assert.equal((await api('POST', `/api/announcements/${storm.json.id}/broadcast`)).status, 409, 'an expired one is not sent again');
    assert.equal((await api('POST', `/api/announcements/${all.json.id}/broadcast`)).status, 200);
    const edited = await api('PATCH', `/api/announcements/${all.json.id}`, { title: 'Lunch at one' });
    assert.equal(edited.json.title, 'Lunch at one');
    assert.equal((await api('DELETE', `/api/announcements/${all.json.id}`)).status, 200);
    assert.deepEqual(await titles(''), ['Reds to pitch 2']);
  });

  it('sells tickets at the gate; a buyer sees only their own', async () => {
    const sold = await api('POST', '/api/purchases', { event_id: publicEvent, user_id: 'fan-1', quantity: 3 });
    assert.equal(sold.status, 201, sold.text);
    assert.equal(sold.json.status, 'pending');
    const id = sold.json.id;
    assert.equal((await api('GET', `/api/purchases/${id}`, undefined, box.token('member', 'fan-1'))).status, 200);
    assert.equal((await api('GET', `/api/purchases/${id}`, undefined, box.token('member', 'fan-2'))).status, 403);
    assert.equal((await api('PATCH', `/api/purchases/${id}`, { status: 'confirmed' })).json.status, 'confirmed');
    assert.equal((await api('PATCH', `/api/purchases/${id}`, { status: 'confirmed' })).status, 409);
    assert.equal((await api('PATCH', `/api/purchases/${id}`, { status: 'refunded' }, box.token('member', 'fan-1'))).status, 403);
    assert.equal((await api('POST', '/api/purchases', { event_id: publicEvent, user_id: 'fan-1', quantity: 0 })).status, 400);
  });

  it('a guest who logs in with the venue PIN under a member’s name is still only a guest', async () => {
    for (const name of ['Reds Player', 'reds-manager', 'Admin', 'fan-1']) {
      const login = await box.http('POST', '/api/auth', { body: { name, pin: box.viewerPin } });
      assert.equal(login.status, 200, login.text);
      const guest = login.json.token;
      assert.equal((await api('GET', `/api/events/${privateEvent}`, undefined, guest)).status, 403, name);
      assert.equal((await api('POST', `/api/events/${privateEvent}/registrations`, { team_id: teams.Greens }, guest)).status, 403, name);
      assert.equal((await api('POST', `/api/fixtures/${fixtures[0]}/result`, { home_score: 9, away_score: 0 }, guest)).status, 403, name);
      const purchases = await api('GET', '/api/purchases/1', undefined, guest);
      assert.ok([403, 404].includes(purchases.status), `${name}: ${purchases.status}`);
    }
    // A GM station named like a member is a station, not the member.
    assert.equal((await api('GET', `/api/events/${privateEvent}`, undefined, box.token('gm', 'reds-player'))).status, 403);
  });

  it('a team’s manager runs their own team’s fixtures and announcements, nothing else of the event', async () => {
    const manager = box.token('member', 'reds-manager');
    const at = '2026-06-02T10:00:00Z';
    const theirs = await api('POST', `/api/events/${publicEvent}/fixtures`, { home_team_id: teams.Reds, away_team_id: teams.Greens, starts_at: at }, manager);
    assert.equal(theirs.status, 201, theirs.text);
    assert.equal((await api('POST', `/api/fixtures/${theirs.json.id}/result`, { home_score: 1, away_score: 0 }, manager)).status, 200);
    const others = await api('POST', `/api/events/${publicEvent}/fixtures`, { home_team_id: teams.Blues, away_team_id: teams.Greens, starts_at: at });
    assert.equal((await api('POST', `/api/fixtures/${others.json.id}/result`, { home_score: 0, away_score: 7 }, manager)).status, 403, 'not another team’s match');
    assert.equal((await api('PATCH', `/api/fixtures/${others.json.id}`, { status: 'cancelled' }, manager)).status, 403);
    assert.equal((await api('POST', `/api/events/${publicEvent}/fixtures`, { home_team_id: teams.Blues, away_team_id: teams.Greens, starts_at: at }, manager)).status, 403);
    const say = (body) => api('POST', '/api/announcements', { event_id: publicEvent, title: 't', message: 'm', type: 'general', priority: 'low', ...body }, manager);
    assert.equal((await say({ target_teams: [teams.Reds] })).status, 201);
    assert.equal((await say({})).status, 403, 'the whole event is staff’s to address');
    assert.equal((await say({ target_teams: [teams.Reds, teams.Blues] })).status, 403);
    await api('DELETE', `/api/fixtures/${theirs.json.id}`);
    await api('DELETE', `/api/fixtures/${others.json.id}`);
  });

  it('gives each member of a new team a token of their own', async () => {
    const team = await api('POST', '/api/teams', { name: 'Golds', members: [{ user_id: 'golds-coach', role: 'coach' }] });
    assert.equal(team.status, 201, team.text);
    const token = team.json.member_tokens['golds-coach'];
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url'));
    assert.deepEqual([claims.role, claims.sub], ['member', 'golds-coach']);
    assert.equal((await api('POST', `/api/events/${privateEvent}/registrations`, { team_id: team.json.id }, token)).status, 403, 'a coach does not register');
  });

  it('keeps every acknowledged result through a power cut: the leaderboard equals a recomputation', async () => {
    const before = (await box.http('GET', `/api/events/${publicEvent}`)).json;
    await box.stop('SIGKILL');
    await box.launch();
    const back = (await box.http('GET', `/api/events/${publicEvent}`)).json;
    assert.deepEqual(back, before);
  });
});
