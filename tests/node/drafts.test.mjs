// The draft contract (seed 001) against the real binary with the `ws` client: the draft's and
// the tournament's sockets get every entry, the last 20 on connect, unknown ids closed with 4004,
// client frames ignored, ids that make a reconnect duplicate-free, and a power cut mid-draft.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { jsonFrames, sleep, startBox, until } from './harness.mjs';

const CAPTAINS = ['Ana', 'Ben', 'Cy', 'Dee'].map((name, i) => ({ id: `cap-${i + 1}`, name, mmr: 5000 }));
const PLAYERS = Array.from({ length: 8 }, (_, i) => ({ id: `pl-${i + 1}`, name: `Player ${i + 1}`, mmr: 1000 + 100 * i }));

/** A spectator socket: every frame, a wait for one, the close. */
function spectate(box, path) {
  const ws = new WebSocket(`${box.url.replace('http', 'ws')}${path}`);
  const { frames, next, open, closed } = jsonFrames(ws, (seen) => JSON.stringify(seen.map((f) => f.payload?.event_type)));
  const events = () => frames.filter((f) => f.type === 'draft.event').map((f) => f.payload);
  const live = () => frames.filter((f) => f.type === 'draft.event' && !f.replay).map((f) => f.payload);
  return { ws, frames, next, open, closed, events, live };
}

describe('the draft sockets', () => {
  let box;
  let admin;
  let tournamentId;
  let draftId;
  let captainTokens;

  before(async () => {
    box = await startBox();
    admin = await box.adminToken();
    tournamentId = (await box.http('POST', '/api/tournaments', { token: admin, body: { name: 'Esports Night' } })).json.id;
  });
  after(() => box.stop());

  const api = (method, path, body, token = admin) => box.http(method, path, { body, token });
  const board = async () => (await box.http('GET', `/api/drafts/${draftId}`)).json;
  /** Picks for whoever is on the clock, with their own token: the first player left. */
  const pickNext = async () => {
    const b = await board();
    const player = b.players.find((p) => p.team_id === null);
    const res = await api('POST', `/api/drafts/${draftId}/picks`, { player_id: player.id }, captainTokens[b.on_the_clock.captain_id]);
    assert.equal(res.status, 200, res.text);
    return res.json;
  };

  it('creates a draft, each captain answered with a token, and anyone reads the board', async () => {
    const res = await api('POST', `/api/tournaments/${tournamentId}/drafts`, { captains: CAPTAINS, players: PLAYERS });
    assert.equal(res.status, 201, res.text);
    draftId = res.json.id;
    captainTokens = res.json.captain_tokens;
    assert.deepEqual(Object.keys(captainTokens).sort(), CAPTAINS.map((c) => c.id));
    const anonymous = await box.http('GET', `/api/drafts/${draftId}`);
    assert.equal(anonymous.status, 200);
    assert.equal(anonymous.json.status, 'created');
    assert.equal(anonymous.json.team_size, 2);
    const uneven = await api('POST', `/api/tournaments/${tournamentId}/drafts`, { captains: CAPTAINS, players: PLAYERS.slice(0, 7) });
    assert.equal(uneven.status, 400);
    const nowhere = await api('POST', '/api/tournaments/999/drafts', { captains: CAPTAINS, players: PLAYERS });
    assert.equal(nowhere.status, 404);
    const byCaptain = await api('POST', `/api/drafts/${draftId}/start`, undefined, captainTokens['cap-1']);
    assert.equal(byCaptain.status, 403);
    const claims = JSON.parse(Buffer.from(captainTokens['cap-1'].split('.')[1], 'base64url').toString());
    assert.equal(claims.role, 'captain');
    // A captain's token is for its draft alone: the same captain in another draft is another token.
    const elsewhere = (await api('POST', '/api/tournaments', { name: 'Another night' })).json.id;
    const other = await api('POST', `/api/tournaments/${elsewhere}/drafts`, { captains: CAPTAINS, players: PLAYERS });
    assert.notEqual(other.json.captain_tokens['cap-1'], captainTokens['cap-1']);
    assert.equal((await api('POST', `/api/drafts/${other.json.id}/start`)).status, 200);
    const onClock = (await box.http('GET', `/api/drafts/${other.json.id}`)).json.on_the_clock.captain_id;
    const crossed = await api('POST', `/api/drafts/${other.json.id}/picks`, { player_id: 'pl-1' }, captainTokens[onClock]);
    assert.equal(crossed.status, 403, crossed.text);
    const own = await api('POST', `/api/drafts/${other.json.id}/picks`, { player_id: 'pl-1' }, other.json.captain_tokens[onClock]);
    assert.equal(own.status, 200, own.text);
    // Nor does it read the tournaments as a participant would.
    assert.equal((await api('GET', `/api/tournaments/${tournamentId}`, undefined, captainTokens['cap-1'])).status, 403);
  });

  it('sends every entry to both the draft’s and the tournament’s sockets, in the seed’s shapes', async () => {
    const draftSocket = spectate(box, `/ws/draft/${draftId}/`);
    const tournamentSocket = spectate(box, `/ws/tournament/${tournamentId}/`);
    await Promise.all([draftSocket.open, tournamentSocket.open]);
    assert.equal((await api('POST', `/api/drafts/${draftId}/start`)).status, 200);
    for (const socket of [draftSocket, tournamentSocket]) {
      await socket.next((f) => f.payload?.event_type === 'captain_assigned', 'the first captain');
      assert.deepEqual(socket.events().map((e) => e.event_type), ['draft_started', 'tie_roll', 'captain_assigned']);
      const [started, tie, assigned] = socket.events();
      assert.deepEqual(started.payload, { draft_id: draftId, draft_style: 'shuffle', team_count: 4 });
      assert.equal(tie.payload.tied_captains.length, 4, 'four captains at 5000 tie');
      assert.deepEqual(tie.payload.tied_captains[0], { id: 'cap-1', name: 'Ana', mmr: 5000 });
      assert.ok(tie.payload.roll_rounds[0].every((r) => r.roll >= 1 && r.roll <= 6));
      assert.equal(assigned.payload.captain_id, tie.payload.winner_id);
      assert.equal(assigned.payload.was_tie, true);
      assert.equal(assigned.payload.round, 1);
      for (const e of socket.events()) {
        assert.deepEqual(Object.keys(e).sort(), ['actor', 'created_at', 'draft_id', 'event_type', 'id', 'payload']);
        assert.equal(e.actor, 'admin');
        assert.ok(!Number.isNaN(Date.parse(e.created_at)));
      }
      assert.ok(socket.frames.every((f) => f.type === 'draft.event' && f.replay === undefined), 'live, not replayed');
    }
    // A pick by the captain on the clock; another captain and a double pick are refused.
    const b = await board();
    const onClock = b.on_the_clock.captain_id;
    const other = CAPTAINS.find((c) => c.id !== onClock).id;
    const wrong = await api('POST', `/api/drafts/${draftId}/picks`, { player_id: 'pl-8' }, captainTokens[other]);
    assert.equal(wrong.status, 403, wrong.text);
    assert.equal(wrong.json.code, 'FORBIDDEN');
    const picked = await api('POST', `/api/drafts/${draftId}/picks`, { player_id: 'pl-8' }, captainTokens[onClock]);
    assert.equal(picked.status, 200, picked.text);
    const twice = await api('POST', `/api/drafts/${draftId}/picks`, { player_id: 'pl-8' });
    assert.equal(twice.status, 409);
    for (const socket of [draftSocket, tournamentSocket]) {
      const pick = await socket.next((f) => f.payload?.event_type === 'player_picked', 'the pick');
      assert.deepEqual(pick.payload.payload, {
        round: 1, captain_id: onClock, captain_name: CAPTAINS.find((c) => c.id === onClock).name,
        picked_id: 'pl-8', picked_name: 'Player 8', team_id: CAPTAINS.findIndex((c) => c.id === onClock) + 1,
      });
      assert.equal(pick.payload.actor, onClock);
    }
    // Both saw the same entries, with the same ids, in order.
    await until(async () => draftSocket.events().length === tournamentSocket.events().length, 'both sockets caught up');
    assert.deepEqual(draftSocket.events(), tournamentSocket.events());
    const ids = draftSocket.events().map((e) => e.id);
    assert.deepEqual(ids, [...ids].sort((x, y) => x - y));
    draftSocket.ws.close();
    tournamentSocket.ws.close();
  });

  it('ignores what a spectator sends, and keeps its socket open', async () => {
    const socket = spectate(box, `/ws/draft/${draftId}/`);
    await socket.open;
    await sleep(300);
    const before = socket.frames.length;
    socket.ws.send('{"action":"pick","player_id":"pl-1"}');
    socket.ws.send('not json at all');
    socket.ws.send(Buffer.from([0xde, 0xad]));
    for (let i = 0; i < 40; i += 1) socket.ws.send('{}');
    await sleep(300);
    assert.equal(socket.frames.length, before, 'no answer to any of it');
    await pickNext();
    await socket.next((f) => !f.replay && f.payload?.event_type === 'player_picked', 'a pick after the noise');
    assert.ok(socket.frames.slice(before).every((f) => f.type === 'draft.event'), 'nothing but entries, no error frames');
    assert.equal(socket.ws.readyState, WebSocket.OPEN);
    assert.equal((await board()).rounds.filter((r) => r.pick).length, 2, 'the frames picked nobody');
    socket.ws.close();
  });

  it('closes an unknown draft or tournament with 4004 after the upgrade', async () => {
    for (const path of ['/ws/draft/999/', '/ws/tournament/999/', '/ws/draft/abc/', `/ws/draft/${draftId}9/`]) {
      const socket = spectate(box, path);
      await socket.open;
      const { code, reason } = await socket.closed;
      assert.equal(code, 4004, path);
      assert.ok(reason.length > 0, path);
    }
  });

  it('sends the last 20 entries on connect, oldest first and flagged, then live; a reconnect is duplicate-free by id', async () => {
    // Picks, and undos to make more history, until at least 25 entries.
    while ((await board()).events < 25) {
      await pickNext();
      if ((await board()).events < 25) {
        assert.equal((await api('POST', `/api/drafts/${draftId}/undo`)).status, 200);
        await pickNext();
      }
    }
    const history = [];
    for (let page = await box.http('GET', `/api/drafts/${draftId}/events?limit=10`); ;) {
      history.push(...page.json.events);
      if (page.json.next_before === null) break;
      page = await box.http('GET', `/api/drafts/${draftId}/events?limit=10&before=${page.json.next_before}`);
    }
    assert.ok(history.length >= 25, `${history.length} entries`);
    const oldestFirst = [...history].reverse();
    const socket = spectate(box, `/ws/draft/${draftId}/`);
    await socket.open;
    await until(async () => socket.frames.length >= 20, 'the replay');
    await sleep(200);
    assert.equal(socket.frames.length, 20);
    assert.ok(socket.frames.every((f) => f.replay === true));
    assert.deepEqual(socket.events(), oldestFirst.slice(-20));
    // Then live, once each.
    await pickNext();
    const live = await socket.next((f) => !f.replay, 'a live entry');
    assert.ok(live.payload.id > oldestFirst.at(-1).id);
    await sleep(300);
    const received = socket.events().map((e) => e.id);
    assert.equal(new Set(received).size, received.length, 'each entry once');
    // A reconnect replays what it had seen: the ids drop the duplicates, and nothing is missing.
    const seen = new Map(socket.events().map((e) => [e.id, e]));
    socket.ws.close();
    await pickNext();
    const again = spectate(box, `/ws/draft/${draftId}/`);
    await again.open;
    await until(async () => again.frames.length >= 20, 'the replay after reconnecting');
    const overlap = again.events().filter((e) => seen.has(e.id));
    assert.ok(overlap.length > 0, 'the replay overlaps what was seen');
    for (const e of overlap) assert.deepEqual(e, seen.get(e.id), 'the same entry under the same id');
    const merged = new Map([...seen, ...again.events().map((e) => [e.id, e])]);
    const ids = [...merged.keys()].sort((x, y) => x - y);
    const all = (await box.http('GET', `/api/drafts/${draftId}/events?limit=100`)).json.events.map((e) => e.id).sort((x, y) => x - y);
    assert.deepEqual(ids, all.filter((id) => id >= ids[0]), 'no gap between what was seen and the replay');
    again.ws.close();
  });

  it('keeps the board, the history and the captain on the clock through a power cut, without rolling again', async () => {
    const before = await board();
    const history = (await box.http('GET', `/api/drafts/${draftId}/events?limit=100`)).json.events;
    assert.ok(history.some((e) => e.event_type === 'tie_roll'), 'a tie was rolled');
    await box.stop('SIGKILL');
    await box.launch();
    const back = await board();
    assert.deepEqual(back, before);
    const historyBack = (await box.http('GET', `/api/drafts/${draftId}/events?limit=100`)).json.events;
    assert.deepEqual(historyBack, history);
    // The captain on the clock picks on; the draft runs to its end.
    while ((await board()).status === 'running') await pickNext();
    const done = await board();
    assert.equal(done.status, 'completed');
    assert.ok(done.teams.every((t) => t.players.length === 2));
    const last = (await box.http('GET', `/api/drafts/${draftId}/events?limit=1`)).json.events[0];
    assert.equal(last.event_type, 'draft_completed');
  });
});

describe('an idle spectator', () => {
  let box;
  before(async () => { box = await startBox({ config: '[realtime]\nping_interval_secs = 1\n' }); });
  after(() => box.stop());

  it('is pinged and stays connected while it answers, however quiet the draft', async () => {
    const admin = await box.adminToken();
    const tournament = (await box.http('POST', '/api/tournaments', { token: admin, body: { name: 'Quiet' } })).json;
    const socket = spectate(box, `/ws/tournament/${tournament.id}/`);
    await socket.open;
    let pings = 0;
    socket.ws.on('ping', () => { pings += 1; });
    await sleep(5000);
    assert.ok(pings >= 2, `${pings} pings in 5 s at one a second`);
    assert.equal(socket.ws.readyState, WebSocket.OPEN, 'the heartbeat keeps it; nothing closes an answering spectator');
    assert.equal(socket.frames.length, 0, 'no history yet, and nothing else');
    socket.ws.close();
  });
});
