// The sports day live (seed 003) against the real binary: the event socket's topics and
// messages, the team and purchase sockets, the SSE streams with their resume, who may follow
// what (refused before the upgrade or the stream), expired announcements, and bad frames.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { jsonFrames, sleep, startBox } from './harness.mjs';

/** An SSE stream read with fetch: its events (id, data as JSON), the raw text, a wait for one. */
async function openStream(url, headers = {}) {
  const controller = new AbortController();
  const res = await fetch(url, { headers, signal: controller.signal });
  const stream = { status: res.status, events: [], raw: '', closed: false, waiters: [] };
  if (res.status !== 200) {
    stream.json = await res.json().catch(() => undefined);
    return stream;
  }
  stream.contentType = res.headers.get('content-type');
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let pending = '';
  (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        stream.raw += text;
        pending += text;
        let end;
        while ((end = pending.indexOf('\n\n')) >= 0) {
          const block = pending.slice(0, end);
          pending = pending.slice(end + 2);
          const event = { id: undefined, event: undefined, data: undefined };
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) event.id = line.slice(4);
            else if (line.startsWith('event: ')) event.event = line.slice(7);
            else if (line.startsWith('data: ')) event.data = JSON.parse(line.slice(6));
          }
          if (event.data === undefined) continue;
          stream.events.push(event);
          for (const w of [...stream.waiters]) {
            if (w.match(event)) { stream.waiters.splice(stream.waiters.indexOf(w), 1); w.resolve(event); }
          }
        }
      }
    } catch { /* aborted */ }
    stream.closed = true;
  })();
  stream.next = (match, what = 'an event', timeoutMs = 8000) => {
    const seen = stream.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      stream.waiters.push({ match, resolve });
      setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(stream.events)}`)), timeoutMs);
    });
  };
  stream.close = () => controller.abort();
  return stream;
}

/** The HTTP status a refused WebSocket upgrade got (or 101 when it opened). */
function upgradeStatus(url) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(body) }));
    });
    ws.once('open', () => { ws.close(); resolve({ status: 101 }); });
    ws.once('error', () => {});
  });
}

describe('a sports day live', () => {
  let box;
  let admin;
  let wsUrl;
  let eventId;
  let privateId;
  const teams = {};
  let fixtures = [];
  const sockets = [];

  const api = async (method, path, body, token = admin) => {
    const res = await box.http(method, path, { body, token });
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${res.text}`);
    return res.json;
  };
  const socket = (path) => {
    const ws = new WebSocket(`${wsUrl}${path}`);
    sockets.push(ws);
    return { ws, ...jsonFrames(ws) };
  };
  const member = (team, role = 'player') => box.token('member', `${team.toLowerCase()}-${role}`);

  before(async () => {
    box = await startBox();
    admin = await box.adminToken();
    wsUrl = box.url.replace('http', 'ws');
    eventId = (await api('POST', '/api/events', { name: 'Sports Day', public: true })).id;
    privateId = (await api('POST', '/api/events', { name: 'Staff Cup', public: false })).id;
    for (const name of ['Reds', 'Blues', 'Greens']) {
      teams[name] = (await api('POST', '/api/teams', {
        name,
        members: [{ user_id: `${name.toLowerCase()}-manager`, role: 'manager' }, { user_id: `${name.toLowerCase()}-player`, role: 'player' }],
      })).id;
      await api('POST', `/api/events/${eventId}/registrations`, { team_id: teams[name] });
    }
    await api('POST', `/api/events/${privateId}/registrations`, { team_id: teams.Greens });
    const at = (h) => `2026-06-01T${String(h).padStart(2, '0')}:00:00Z`;
    fixtures = [
      await api('POST', `/api/events/${eventId}/fixtures`, { home_team_id: teams.Reds, away_team_id: teams.Blues, starts_at: at(10) }),
      await api('POST', `/api/events/${eventId}/fixtures`, { home_team_id: teams.Blues, away_team_id: teams.Greens, starts_at: at(11) }),
      await api('POST', `/api/events/${eventId}/fixtures`, { home_team_id: teams.Greens, away_team_id: teams.Reds, starts_at: at(12) }),
    ];
  });
  after(async () => {
    for (const ws of sockets) ws.terminate();
    await box?.stop();
  });

  it('the event socket: the leaderboard on connect, each topic’s state on subscribe, then every change', async () => {
    const s = socket(`/ws/events/${eventId}/stream/`);
    await s.open;
    const first = await s.next((f) => f.type === 'leaderboard_update', 'the leaderboard on connect');
    assert.deepEqual(first.data.leaderboard.map((r) => r.points), [0, 0, 0]);
    assert.deepEqual(Object.keys(first).sort(), ['data', 'type'], 'the seed’s {type, data} envelope');
    for (const type of ['subscribe_results', 'subscribe_schedule', 'subscribe_announcements']) {
      s.ws.send(JSON.stringify({ type }));
    }
    await s.next((f) => f.type === 'subscribed' && f.data.topic === `event_${eventId}_announcements`);
    const schedule = await s.next((f) => f.type === 'schedule_update', 'the schedule on subscribe');
    assert.deepEqual(schedule.data.schedule.map((f) => f.id), fixtures.map((f) => f.id));
    s.ws.send(JSON.stringify({ type: 'ping' }));
    await s.next((f) => f.type === 'pong');

    const seen = s.frames.length;
    await api('POST', `/api/fixtures/${fixtures[0].id}/result`, { home_score: 2, away_score: 1 });
    const result = await s.next((f) => f.type === 'result_update', 'result_update');
    assert.equal(result.data.result.id, fixtures[0].id);
    assert.deepEqual(result.data.result.result, { home_score: 2, away_score: 1 });
    const board = await s.next((f) => f.type === 'leaderboard_update' && f.data.leaderboard[0].points === 3, 'the new leaderboard');
    assert.equal(board.data.leaderboard[0].team_id, teams.Reds);
    const live = s.frames.slice(seen).map((f) => f.type);
    assert.deepEqual(live, ['result_update', 'schedule_update', 'leaderboard_update'], 'the result, its fixture, then the standings it made');

    await api('PATCH', `/api/fixtures/${fixtures[1].id}`, { starts_at: '2026-06-01T15:00:00Z' });
    const moved = await s.next((f) => f.type === 'schedule_update' && f.data.fixture?.status === 'rescheduled', 'the rescheduled fixture');
    assert.equal(moved.data.schedule.at(-1).id, fixtures[1].id, 'the schedule re-sorted by start');

    await api('POST', '/api/announcements', { event_id: eventId, title: 'Lunch', message: 'Food at the pavilion', type: 'general', priority: 'normal' });
    const said = await s.next((f) => f.type === 'announcement_update', 'announcement_update');
    assert.equal(said.data.announcement.title, 'Lunch');
  });

  it('answers bad frames with errors and keeps the socket', async () => {
    const s = socket(`/ws/events/${eventId}/stream/`);
    await s.open;
    s.ws.send('{not json');
    s.ws.send(JSON.stringify({ kind: 'ping' }));
    s.ws.send(JSON.stringify({ type: 'subscribe_everything' }));
    s.ws.send(Buffer.from([1, 2, 3]));
    await s.next((f) => f.type === 'error' && /binary|JSON text/.test(f.data.message), 'the binary refusal');
    const errors = s.frames.filter((f) => f.type === 'error');
    assert.equal(errors.length, 4, JSON.stringify(errors));
    assert.ok(errors.every((e) => e.data.code === 'INVALID_DATA'));
    s.ws.send(JSON.stringify({ type: 'ping' }));
    await s.next((f) => f.type === 'pong', 'still served');
    s.ws.send('x'.repeat(5000));
    assert.equal((await s.closed).code, 1009, 'an oversized frame closes with 1009');
  });

  it('refuses before the upgrade: unknown ids, private events, teams and purchases without access', async () => {
    assert.equal((await upgradeStatus(`${wsUrl}/ws/events/999/stream/`)).status, 404);
    assert.equal((await upgradeStatus(`${wsUrl}/ws/events/abc/stream/`)).status, 404);
    const noToken = await upgradeStatus(`${wsUrl}/ws/events/${privateId}/stream/`);
    assert.equal(noToken.status, 403);
    assert.equal(noToken.body.code, 'FORBIDDEN');
    assert.equal((await upgradeStatus(`${wsUrl}/ws/events/${privateId}/stream/?token=${member('Reds')}`)).status, 403);
    assert.equal((await upgradeStatus(`${wsUrl}/ws/events/${privateId}/stream/?token=${member('Greens')}`)).status, 101);
    const expired = await upgradeStatus(`${wsUrl}/ws/events/${privateId}/stream/?token=${box.expiredToken('viewer', 'greens-player')}`);
    assert.equal(expired.status, 401);
    assert.equal((await upgradeStatus(`${wsUrl}/ws/teams/${teams.Reds}/`)).status, 403);
    assert.equal((await upgradeStatus(`${wsUrl}/ws/teams/${teams.Reds}/?token=${box.token('member', 'stranger')}`)).status, 403);
    // A team's topics carry its own announcements and its fixtures in every event (private
    // ones too): another team's player, or a guest who named themselves after a member, is refused.
    assert.equal((await upgradeStatus(`${wsUrl}/ws/teams/${teams.Reds}/?token=${member('Blues')}`)).status, 403);
    assert.equal((await upgradeStatus(`${wsUrl}/ws/teams/${teams.Reds}/?token=${box.token('viewer', 'reds-player')}`)).status, 403);
    // A public event ignores a token it does not need, even an expired one (as the HTTP API does).
    assert.equal((await upgradeStatus(`${wsUrl}/ws/events/${eventId}/stream/?token=${box.expiredToken('member', 'x')}`)).status, 101);
    assert.equal((await upgradeStatus(`${wsUrl}/ws/teams/${teams.Reds}/?token=${member('Reds')}`)).status, 101);
    const sse = await openStream(`${box.url}/api/events/${privateId}/stream/`);
    assert.equal(sse.status, 403);
    assert.equal(sse.json.code, 'FORBIDDEN');
    assert.equal((await openStream(`${box.url}/api/events/${privateId}/stream/results/?token=${member('Blues')}`)).status, 403);
    const allowed = await openStream(`${box.url}/api/events/${privateId}/stream/?token=${member('Greens')}`);
    assert.equal(allowed.status, 200);
    allowed.close();
    assert.equal((await openStream(`${box.url}/api/teams/${teams.Blues}/stream/?token=${box.token('member', 'stranger')}`)).status, 403);
    const badCursor = await openStream(`${box.url}/api/events/${eventId}/stream/`, { 'last-event-id': 'yesterday' });
    assert.equal(badCursor.status, 400);
  });

  it('a team’s socket gets its schedule, its results, and only the announcements meant for it', async () => {
    const reds = socket(`/ws/teams/${teams.Reds}/?token=${member('Reds')}`);
    const blues = socket(`/ws/teams/${teams.Blues}/?token=${member('Blues', 'manager')}`);
    await Promise.all([reds.open, blues.open]);
    const schedule = await reds.next((f) => f.type === 'schedule_update', 'the team’s schedule');
    assert.deepEqual(schedule.data.schedule.map((f) => f.id).sort(), [fixtures[0].id, fixtures[2].id].sort());
    await api('POST', '/api/announcements', { event_id: eventId, title: 'Reds to pitch 2', message: 'Now', type: 'schedule_change', priority: 'high', target_teams: [teams.Reds] });
    await api('POST', '/api/announcements', { event_id: eventId, title: 'Blues kit check', message: 'Now', type: 'general', priority: 'normal', target_teams: [teams.Blues] });
    await reds.next((f) => f.type === 'announcement_update' && f.data.announcement.title === 'Reds to pitch 2');
    await blues.next((f) => f.type === 'announcement_update' && f.data.announcement.title === 'Blues kit check');
    assert.ok(!blues.frames.some((f) => f.data?.announcement?.title === 'Reds to pitch 2'), 'targeted at the Reds only');
    assert.ok(!reds.frames.some((f) => f.data?.announcement?.title === 'Blues kit check'));
    await api('POST', `/api/fixtures/${fixtures[2].id}/result`, { home_score: 0, away_score: 0 });
    const result = await reds.next((f) => f.type === 'result_update', 'the Reds’ result');
    assert.equal(result.data.result.id, fixtures[2].id);
    await sleep(300);
    assert.ok(!blues.frames.some((f) => f.type === 'result_update'), 'not the Blues’ fixture');
  });

  it('a buyer follows their purchase; nobody else may', async () => {
    const bought = await api('POST', '/api/purchases', { event_id: eventId, user_id: 'parent-1', quantity: 2 });
    assert.equal((await upgradeStatus(`${wsUrl}/ws/purchases/${bought.id}/?token=${box.token('member', 'parent-2')}`)).status, 403);
    assert.equal((await upgradeStatus(`${wsUrl}/ws/purchases/${bought.id}/`)).status, 403);
    assert.equal((await upgradeStatus(`${wsUrl}/ws/purchases/${bought.id}/?token=${box.token('viewer', 'parent-1')}`)).status, 403, 'a PIN guest named parent-1');
    assert.equal((await upgradeStatus(`${wsUrl}/ws/purchases/999/`)).status, 403, 'ids cannot be probed: the same answer');
    const s = socket(`/ws/purchases/${bought.id}/?token=${box.token('member', 'parent-1')}`);
    await s.open;
    assert.equal((await s.next((f) => f.type === 'purchase_update')).data.purchase.status, 'pending');
    await api('PATCH', `/api/purchases/${bought.id}`, { status: 'confirmed' });
    await s.next((f) => f.type === 'purchase_update' && f.data.purchase.status === 'confirmed', 'the confirmation');
  });

  it('SSE: the seed’s shape, a cursor per event, and a resume that sends exactly what was missed', async () => {
    const url = `${box.url}/api/events/${eventId}/stream/results/`;
    const first = await openStream(url);
    assert.equal(first.status, 200);
    assert.match(first.contentType, /^text\/event-stream/);
    const now = await first.next((e) => e.data.type === 'leaderboard_update', 'the leaderboard on connect');
    assert.ok(Array.isArray(now.data.leaderboard), 'JSON.parse(event.data).leaderboard, as the seed reads it');
    assert.equal(now.id, undefined, 'the state on connect carries no cursor');
    assert.match(first.raw, /^retry: \d+/m);
    assert.ok(first.events.every((e) => e.event === undefined), 'no event: field, so onmessage gets everything');

    await api('POST', `/api/fixtures/${fixtures[1].id}/result`, { home_score: 1, away_score: 3 });
    const last = await first.next((e) => e.data.type === 'leaderboard_update' && e.id, 'the leaderboard after a result');
    assert.ok(first.events.some((e) => e.data.type === 'result_update' && e.id));
    first.close();

    // Gone while two more results come in.
    const edit = (f, home, away) => api('POST', `/api/fixtures/${f.id}/result`, { home_score: home, away_score: away });
    await edit(fixtures[0], 3, 1);
    await edit(fixtures[2], 1, 4);
    const back = await openStream(url, { 'last-event-id': last.id });
    await back.next((e) => e.data.type === 'leaderboard_update' && e.data.leaderboard.some((r) => r.goals_for === 7), 'the last leaderboard');
    await sleep(300);
    assert.deepEqual(
      back.events.map((e) => [e.data.type, e.data.result?.id]),
      [['result_update', fixtures[0].id], ['leaderboard_update', undefined], ['result_update', fixtures[2].id], ['leaderboard_update', undefined]],
      'exactly the missed messages, in order, once',
    );
    assert.ok(back.events.every((e) => e.id), 'each with its cursor');
    assert.equal(new Set(back.events.map((e) => e.id)).size, 4);
    back.close();
  });

  it('the whole event’s stream resumes across its topics in the order things happened', async () => {
    const url = `${box.url}/api/events/${eventId}/stream/`;
    const s = await openStream(url);
    await s.next((e) => e.data.type === 'schedule_update');
    await api('POST', '/api/announcements', { event_id: eventId, title: 'Marker', message: '.', type: 'general', priority: 'low' });
    const marker = await s.next((e) => e.data.announcement?.title === 'Marker');
    s.close();
    await api('POST', `/api/events/${eventId}/fixtures`, { home_team_id: teams.Reds, away_team_id: teams.Greens, starts_at: '2026-06-01T17:00:00Z' });
    await api('POST', '/api/announcements', { event_id: eventId, title: 'After', message: '.', type: 'general', priority: 'low' });
    const back = await openStream(url, { 'last-event-id': marker.id });
    await back.next((e) => e.data.announcement?.title === 'After');
    await sleep(200);
    assert.deepEqual(back.events.map((e) => e.data.type), ['schedule_update', 'announcement_update']);
    back.close();
  });

  it('never sends an expired announcement to a new subscriber, nor in a resume', async () => {
    const sse = await openStream(`${box.url}/api/events/${eventId}/stream/`);
    await sse.next((e) => e.data.type === 'leaderboard_update');
    await api('POST', '/api/announcements', { event_id: eventId, title: 'Gates open', message: '.', type: 'general', priority: 'low' });
    const before = await sse.next((e) => e.data.announcement?.title === 'Gates open');
    const soon = new Date(Date.now() + 1500).toISOString();
    await api('POST', '/api/announcements', { event_id: eventId, title: 'Ice cream van', message: 'Until it is gone', type: 'general', priority: 'low', expires_at: soon });
    await api('POST', '/api/announcements', { event_id: eventId, title: 'Still on', message: '.', type: 'general', priority: 'low' });
    await sse.next((e) => e.data.announcement?.title === 'Ice cream van');
    sse.close();
    await sleep(2000);
    const s = socket(`/ws/events/${eventId}/stream/`);
    await s.open;
    s.ws.send(JSON.stringify({ type: 'subscribe_announcements' }));
    await s.next((f) => f.type === 'announcement_update' && f.data.announcement.title === 'Still on');
    await sleep(200);
    assert.ok(!s.frames.some((f) => f.data?.announcement?.title === 'Ice cream van'), 'expired: not replayed');
    const resumed = await openStream(`${box.url}/api/events/${eventId}/stream/`, { 'last-event-id': before.id });
    assert.equal(resumed.status, 200);
    const still = await resumed.next((e) => e.data.announcement?.title === 'Still on');
    assert.ok(still.id, 'a resume (with cursors), not the state on connect');
    assert.ok(!resumed.events.some((e) => e.data.announcement?.title === 'Ice cream van'), 'nor in a resume');
    resumed.close();
  });

  it('an edited or deleted announcement reaches sockets and streams; a cursor from nowhere gets the state', async () => {
    const s = socket(`/ws/events/${eventId}/stream/`);
    await s.open;
    s.ws.send(JSON.stringify({ type: 'subscribe_announcements' }));
    await s.next((f) => f.type === 'subscribed');
    const made = await api('POST', '/api/announcements', { event_id: eventId, title: 'Relay at 2', message: '.', type: 'schedule_change', priority: 'high' });
    await s.next((f) => f.data?.announcement?.title === 'Relay at 2');
    await api('PATCH', `/api/announcements/${made.id}`, { title: 'Relay at 3' });
    await s.next((f) => f.data?.announcement?.title === 'Relay at 3' && f.data.announcement.status === 'active', 'the edit');
    await api('DELETE', `/api/announcements/${made.id}`);
    await s.next((f) => f.data?.announcement?.id === made.id && f.data.announcement.status === 'deleted', 'the deletion');

    // On a box that started with an empty log, 0 is a real cursor: everything since the start.
    const fromStart = await openStream(`${box.url}/api/events/${eventId}/stream/schedule/`, { 'last-event-id': '0' });
    const epoch = (await fromStart.next((e) => e.id, 'a resume from 0')).id.split('-')[0];
    fromStart.close();
    for (const cursor of ['99999999', `${epoch}-99999999`, `${epoch === 'f' ? 'e' : 'f'}-1`]) {
      const ahead = await openStream(`${box.url}/api/events/${eventId}/stream/schedule/`, { 'last-event-id': cursor });
      const state = await ahead.next((e) => e.data.type === 'schedule_update', `the state for cursor ${cursor}`);
      assert.equal(state.id, undefined, `cursor ${cursor}: the state, not a resume`);
      ahead.close();
    }
  });

  it('a team’s stream carries its schedule, its results and its own announcements', async () => {
    const greens = await openStream(`${box.url}/api/teams/${teams.Greens}/stream/?token=${member('Greens')}`);
    assert.equal(greens.status, 200);
    const schedule = await greens.next((e) => e.data.type === 'schedule_update');
    assert.ok(schedule.data.schedule.every((f) => f.home_team.id === teams.Greens || f.away_team.id === teams.Greens));
    await api('POST', '/api/announcements', { event_id: eventId, title: 'Greens warm up', message: '.', type: 'general', priority: 'low', target_teams: [teams.Greens] });
    await api('POST', '/api/announcements', { event_id: eventId, title: 'Everyone', message: '.', type: 'general', priority: 'low' });
    await greens.next((e) => e.data.announcement?.title === 'Greens warm up');
    const added = await api('POST', `/api/events/${eventId}/fixtures`, { home_team_id: teams.Greens, away_team_id: teams.Blues, starts_at: '2026-06-01T18:00:00Z' });
    await api('POST', `/api/fixtures/${added.id}/result`, { home_score: 2, away_score: 2 });
    await greens.next((e) => e.data.type === 'result_update' && e.data.result.id === added.id, 'the Greens’ result');
    assert.ok(!greens.events.some((e) => e.data.announcement?.title === 'Everyone'), 'event-wide announcements travel on the event’s topic');
    greens.close();
  });

  it('limits the streams one address may hold', async () => {
    const open = [];
    for (let i = 0; i < 8; i++) {
      const s = await openStream(`${box.url}/api/events/${eventId}/stream/schedule/`);
      assert.equal(s.status, 200, `stream ${i}`);
      open.push(s);
    }
    const refused = await openStream(`${box.url}/api/events/${eventId}/stream/schedule/`);
    assert.equal(refused.status, 429);
    assert.equal(refused.json.code, 'RATE_LIMITED');
    open.pop().close();
    await sleep(300);
    const again = await openStream(`${box.url}/api/events/${eventId}/stream/schedule/`);
    assert.equal(again.status, 200, 'a closed stream gives its place back');
    for (const s of [...open, again]) s.close();
  });

  it('tells sockets and streams the box is restarting', async () => {
    const s = socket(`/ws/events/${eventId}/stream/`);
    await s.open;
    const sse = await openStream(`${box.url}/api/events/${eventId}/stream/`);
    await sse.next((e) => e.data.type === 'leaderboard_update');
    await box.stop('SIGTERM');
    assert.equal((await s.closed).code, 1012);
    await sleep(200);
    assert.match(sse.raw, /event: close\ndata: \{"code":1012/);
  });
});
