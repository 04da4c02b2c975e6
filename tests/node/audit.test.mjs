// The staff's trail: what staff change (over HTTP, over the console's Socket.IO, with the reset
// button), the notices they send, what they put on the TVs and their logins are logged with
// who, when and from where, read back with `GET /api/audit` (staff only),
// kept across a restart, and never filled by guests or stations going about their game.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, emitAck, startBox, station, until } from './harness.mjs';

describe('the staff trail', () => {
  let box;
  let admin;
  const trail = async (query = '') => {
    const res = await box.http('GET', `/api/audit${query}`, { token: admin });
    assert.equal(res.status, 200, res.text);
    return res.json;
  };

  before(async () => {
    box = await startBox();
    admin = await box.adminToken();
  });
  after(() => box?.stop());

  it('names who did what, from where, for each door staff use; the game itself adds nothing', async () => {
    const loggedIn = Date.now();
    await box.createSession({ name: 'Audit night', teams: ['TEAM_A', 'TEAM_B'] });

    // A station scanning and a guest joining are the game, not staff actions.
    const gm = await station(box, 'GM_AUDIT');
    const scan = await emitAck(gm.socket, 'transaction:submit', { tokenId: 'mem001', teamId: 'TEAM_A' });
    assert.equal(scan.success, true, JSON.stringify(scan));
    const guest = await box.http('POST', '/api/auth', { body: { name: 'Rosa', pin: box.viewerPin } });
    assert.equal(guest.status, 200, guest.text);
    // A scanner holding a staff token (the default station mode) is playing too.
    const catalog = (await box.http('GET', '/api/tokens', { token: admin })).json.tokens;
    const another = catalog.find((t) => !t.video && t.id !== 'mem001').id;
    const staffScan = await box.http('POST', '/api/scan', { token: admin, body: { tokenId: another, teamId: 'TEAM_B' } });
    assert.equal(staffScan.json?.status, 'accepted', staffScan.text);
    const sofar = (await trail()).entries;
    const logins = sofar.filter((e) => e.did.includes('StaffLoggedIn'));
    assert.ok(logins.length >= 2, 'each staff login is in the trail');
    assert.deepEqual([logins[0].role, logins[0].who, logins[0].address], ['admin', 'admin', '127.0.0.1']);
    assert.equal(sofar.length - logins.length, 1, 'besides logins, only the session start so far');

    // The console's Socket.IO: a reset and a video.
    const console_ = connect(box, { token: admin });
    await new Promise((r) => console_.socket.once('connect', r));
    assert.equal((await emitAck(console_.socket, 'session:reset', {})).success, true);
    assert.equal((await emitAck(console_.socket, 'video:control', { action: 'queue', tokenId: 'vid001' })).success, true);
    console_.socket.disconnect();

    // A grant over HTTP, and the reset button held on the box.
    const grant = await box.http('POST', `/api/users/${guest.json.userId}/grants`, {
      token: admin, body: { amount: 50, reason: 'welcome' },
    });
    assert.ok([200, 201].includes(grant.status), grant.text);
    // A notice to every phone and a change of what the TVs show change no game state, and
    // are in the trail all the same, with what was sent.
    assert.equal((await box.http('POST', '/api/notices', { token: admin, body: { message: 'Voting pauses at nine' } })).status, 200);
    assert.equal((await box.http('PUT', '/api/tv/show', { token: admin, body: { view: 'scores' } })).status, 200);
    assert.equal((await box.http('POST', '/api/hardware/button', { token: admin, body: { press_ms: 3300 } })).status, 200);
    await until(async () => (await trail()).entries.some((e) => e.role === 'button'), 'the button reset is in the trail', 10_000);

    const { entries } = await trail();
    const newestFirst = entries.map((e) => e.seq);
    assert.deepEqual(newestFirst, [...newestFirst].sort((a, b) => b - a), 'newest first');
    const did = (name) => entries.filter((e) => e.did.includes(name));

    const [start] = did('SessionCreated');
    assert.equal(start.role, 'admin');
    assert.equal(start.who, 'admin');
    assert.equal(start.address, '127.0.0.1');
    assert.ok(Math.abs(Date.parse(start.at) - loggedIn) < 60_000, start.at);
    assert.ok(Date.parse(start.loggedInAt) <= Date.parse(start.at) + 1000, JSON.stringify(start));

    const resets = did('SessionReset');
    assert.equal(resets.length, 2, JSON.stringify(entries));
    const [byButton, bySocket] = resets;
    assert.deepEqual([byButton.role, byButton.who, byButton.address], ['button', 'reset button', null]);
    assert.deepEqual([bySocket.role, bySocket.address], ['admin', '127.0.0.1']);
    assert.equal(did('VideoQueued').length, 1, JSON.stringify(entries));
    assert.equal(did('ScanRecorded').length, 0, 'stations\' scans are not staff actions');
    assert.ok(entries.some((e) => e.did.some((d) => /Grant/.test(d))), JSON.stringify(entries));
    assert.equal(did('NoticeSent').length, 1, JSON.stringify(entries));
    assert.equal(did('TvShown').length, 1, JSON.stringify(entries));
    // A guest's failed login and a viewer's are not staff logins.
    await box.http('POST', '/api/admin/auth', { body: { password: 'wrong' } });
    assert.equal((await trail()).entries[0].seq, entries[0].seq, 'a refused login logs nothing');
    gm.close();
  });

  it('pages back with before and limit, and refuses bad pages with JSON errors', async () => {
    const all = (await trail('?limit=200')).entries;
    assert.ok(all.length >= 4, JSON.stringify(all));
    const first = await trail('?limit=2');
    assert.deepEqual(first.entries.map((e) => e.seq), all.slice(0, 2).map((e) => e.seq));
    assert.equal(first.next, all[1].seq);
    const second = await trail(`?limit=2&before=${first.next}`);
    assert.deepEqual(second.entries.map((e) => e.seq), all.slice(2, 4).map((e) => e.seq));
    const tail = await trail(`?limit=200&before=${all.at(-1).seq}`);
    assert.deepEqual(tail, { entries: [], next: null });
    for (const bad of ['?limit=0', '?limit=201', '?limit=x', '?before=-1']) {
      const res = await box.http('GET', `/api/audit${bad}`, { token: admin });
      assert.equal(res.status, 400, `${bad}: ${res.text}`);
      assert.equal(res.json.code, 'INVALID_DATA', bad);
    }
  });

  it('is for staff only', async () => {
    assert.equal((await box.http('GET', '/api/audit')).status, 401);
    for (const role of ['viewer', 'gm', 'player']) {
      const res = await box.http('GET', '/api/audit', { token: box.token(role, 'someone') });
      assert.equal(res.status, 403, `${role}: ${res.text}`);
    }
  });

  it('is in the log: a restart keeps every entry', async () => {
    const before_ = (await trail('?limit=200')).entries;
    await box.stop();
    await box.launch({ samePort: true });
    admin = await box.adminToken();
    const [login, ...kept] = (await trail('?limit=200')).entries;
    assert.deepEqual(login.did, ['StaffLoggedIn'], 'the new login comes first');
    assert.deepEqual(kept, before_);
  });
});
