// The box's clock. Its wall clock jumps (libfaketime moves it under the running box, as a
// technician's `timedatectl` or a power cut without fake-hwclock would): tokens neither expire
// by a jump forward nor come back to life by a jump back, in a running box or one started in
// 1970. Staff confirm or set the clock from the console's device, each step logged with who
// took it, and every record says whether its time was confirmed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, emitAck, fakeClock, startBox } from './harness.mjs';

/** What the box keeps of its clock in the data dir. */
const kept = (box) => JSON.parse(readFileSync(join(box.dataDir, 'clock-jumps.json'), 'utf8'));

/** The machine rebooted while the box was off (a power cut): its boot id is another. */
function rebooted(box) {
  const clock = kept(box);
  clock.seen.boot = `a-boot-before-the-cut-${Math.random()}`;
  writeFileSync(join(box.dataDir, 'clock-jumps.json'), JSON.stringify(clock));
}

/** The faketime offset that puts the wall clock at 1970-01-02 for every process. */
const backTo1970 = () => `-${Math.floor((Date.now() - Date.UTC(1970, 0, 2)) / 1000)}`;

/** Whether a station token still identifies: true, or the refusal's code. */
async function identifies(box, stationId, token) {
  const s = connect(box, { token });
  try {
    const refused = s.rec.next('error').then((e) => e.data.code);
    const identified = emitAck(s.socket, 'gm:identify', { stationId, version: '1.0.0' })
      .then((ack) => (ack.success ? true : ack.error.code));
    return await Promise.race([refused, identified]);
  } finally {
    s.socket.disconnect();
  }
}

describe('tokens when the wall clock jumps', () => {
  let box;
  const faked = fakeClock();
  const jump = faked.jump;

  before(async () => {
    box = await startBox({ config: '[gm]\nstation_auth = "token"\n', env: faked.env });
  });
  after(() => box?.stop());

  it('a jump forward while the box runs locks no station or staff out', async () => {
    const station = box.token('gm', 'GM_AHEAD', '1h');
    jump('+2d');
    const clock = (await box.http('GET', '/api/clock', { token: await box.adminToken() })).json;
    assert.ok(Date.parse(clock.now) > Date.now() + 47 * 3600_000, `the box's wall clock jumped: ${clock.now}`);
    assert.equal(await identifies(box, 'GM_AHEAD', station), true, 'an hour-long token still works');
    const admin = await box.adminToken();
    assert.equal((await box.http('GET', '/api/audit', { token: admin })).status, 200, 'a new staff token works');
    jump('+0');
  });

  it('a jump back while the box runs brings no expired token back', async () => {
    const expired = box.expiredToken('gm', 'GM_BACK', 60);
    const staffExpired = box.expiredToken('admin', 'admin', 60);
    assert.equal(await identifies(box, 'GM_BACK', expired), 'INVALID_TOKEN', 'expired before the jump');
    jump('-2d');
    assert.equal(await identifies(box, 'GM_BACK', expired), 'INVALID_TOKEN', 'still expired after it');
    assert.equal((await box.http('GET', '/api/audit', { token: staffExpired })).status, 401);
    const fresh = box.token('gm', 'GM_BACK', '1h');
    assert.equal(await identifies(box, 'GM_BACK', fresh), true, 'a token minted now works');
    jump('+0');
  });

  it('a box that comes back in 1970 keeps good tokens good and expired ones expired', async () => {
    const station = box.token('gm', 'GM_CUT', '1h');
    const expired = box.expiredToken('gm', 'GM_CUT', 60);
    await box.stop('SIGKILL');
    jump('@1970-01-02 00:00:00');
    await box.launch();
    const admin = await box.adminToken();
    const clock = (await box.http('GET', '/api/clock', { token: admin })).json;
    assert.match(clock.now, /^1970-01-02/, 'the wall clock is what the system says');
    assert.equal(clock.confirmed, false);
    assert.equal(await identifies(box, 'GM_CUT', station), true, 'a token from before the cut works');
    assert.equal(await identifies(box, 'GM_CUT', expired), 'INVALID_TOKEN', 'an expired one stays expired');
    jump('+0');
  });
});

describe('tokens across a clock set right and a restart', () => {
  let box;
  const faked = fakeClock();
  after(() => box?.stop());
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  it('a box a week behind, set right, keeps the tokens it gave out before, after a restart too', async () => {
    faked.jump('-7d');
    box = await startBox({ config: '[gm]\nstation_auth = "token"\n', env: faked.env });
    const admin = await box.adminToken();
    const station = box.token('gm', 'GM_WEEK', '12h');
    const set = await box.http('POST', '/api/clock', { token: admin, body: { time: Date.now(), set: true } });
    assert.equal(set.status, 200, set.text);
    assert.equal((await box.http('GET', '/api/audit', { token: admin })).status, 200, 'staff token, just after');
    assert.equal(await identifies(box, 'GM_WEEK', station), true, 'station token, just after');
    // The box restarts on a clock that is right from the start (the system clock was set).
    await box.stop();
    faked.jump('+0');
    await box.launch();
    assert.equal((await box.http('GET', '/api/audit', { token: admin })).status, 200, 'staff token, after a restart');
    assert.equal(await identifies(box, 'GM_WEEK', station), true, 'station token, after a restart');
    // A token the CLI mints now lives as long as it says.
    const short = box.token('admin', 'tech', '1s');
    await sleep(2500);
    assert.equal((await box.http('GET', '/api/audit', { token: short })).status, 401, 'a 1 s token after 2.5 s');
    await box.stop();
  });

  it('a box two days ahead, set right, does not bring its expired tokens back after a restart', async () => {
    faked.jump('+2d');
    box = await startBox({ env: faked.env });
    const admin = await box.adminToken();
    const short = box.token('admin', 'tech', '1s');
    await sleep(2500);
    assert.equal((await box.http('GET', '/api/audit', { token: short })).status, 401);
    assert.equal((await box.http('POST', '/api/clock', { token: admin, body: { time: Date.now(), set: true } })).status, 200);
    assert.equal((await box.http('GET', '/api/audit', { token: short })).status, 401, 'after the set');
    await box.stop();
    faked.jump('+0');
    await box.launch();
    assert.equal((await box.http('GET', '/api/audit', { token: short })).status, 401, 'after a restart');
    assert.equal((await box.http('GET', '/api/audit', { token: admin })).status, 200, 'a good token stays good');
  });
});

describe('the clock across power cuts and a box stopped while it is set', () => {
  let box;
  after(() => box?.stop());
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  it('a box cut twice with no clock to come back to counts the jump once', async () => {
    const faked = fakeClock();
    box = await startBox({ config: '[gm]\nstation_auth = "token"\n', env: faked.env });
    const beforeCuts = box.token('gm', 'GM_TWICE', '12h');
    await box.stop('SIGKILL');
    rebooted(box);
    faked.jump(backTo1970());
    await box.launch();
    const clock = (await box.http('GET', '/api/clock', { token: await box.adminToken() })).json;
    assert.match(clock.now, /^1970-01-02/, `back in 1970: ${clock.now}`);
    const afterFirst = box.token('gm', 'GM_TWICE', '1h');
    assert.equal(await identifies(box, 'GM_TWICE', beforeCuts), true, 'from before the first cut');
    assert.equal(await identifies(box, 'GM_TWICE', afterFirst), true, 'minted in 1970');
    await box.stop('SIGKILL');
    rebooted(box);
    await box.launch();
    assert.equal(await identifies(box, 'GM_TWICE', afterFirst), true, 'minted in 1970, after the second cut');
    assert.equal(await identifies(box, 'GM_TWICE', beforeCuts), true, 'from before both cuts');
    assert.equal(kept(box).deltas.length, 1, 'one jump back, counted once');
    await box.stop();
  });

  it('a clock set while the box is stopped: tokens from before keep their time, the CLI mints only in an era the box counted', async () => {
    const faked = fakeClock();
    box = await startBox({ config: '[gm]\nstation_auth = "token"\n', env: faked.env });
    const beforeStop = box.token('gm', 'GM_STOPPED', '1h');
    await box.stop();
    faked.jump('+3h');
    assert.throws(() => box.token('gm', 'GM_STOPPED', '1h'), /moved by 10[78]\d\d s since the box last looked at it; start the box/,
      'beside a stopped box the CLI does not guess the era its next start counts');
    await box.launch();
    assert.equal(await identifies(box, 'GM_STOPPED', beforeStop), true, 'a token from before, the clock set 3 h ahead');
    assert.equal(await identifies(box, 'GM_STOPPED', box.token('gm', 'GM_STOPPED', '1h')), true, 'minted after the start');
    // Set back while the box runs, and minted at once: the CLI waits for the box to count it.
    faked.jump('+0');
    const justAfter = box.token('gm', 'GM_STOPPED', '1h');
    assert.equal(await identifies(box, 'GM_STOPPED', justAfter), true, 'minted in the second after a jump');
    assert.equal(await identifies(box, 'GM_STOPPED', beforeStop), true, 'the first token, still');
    await box.stop();
    assert.deepEqual(kept(box).deltas.map((d) => Math.round(d / 3600_000)), [3, -3]);
  });

  it('a clock file broken by hand is set aside: tokens from before are refused, new ones work', async () => {
    box = await startBox({ config: '[gm]\nstation_auth = "token"\n' });
    const old = box.token('gm', 'GM_BROKEN', '1h');
    await box.stop();
    writeFileSync(join(box.dataDir, 'clock-jumps.json'), '{"first_era":');
    assert.throws(() => box.token('gm', 'GM_BROKEN', '1h'), /clock-jumps\.json cannot be read/, 'the CLI will not guess');
    await box.launch();
    assert.ok(existsSync(join(box.dataDir, 'clock-jumps.json.bad')), 'the broken file is kept aside');
    assert.equal(await identifies(box, 'GM_BROKEN', old), 'INVALID_TOKEN', 'its era means nothing now');
    assert.equal(await identifies(box, 'GM_BROKEN', box.token('gm', 'GM_BROKEN', '1h')), true, 'a new token works');
    await box.stop();
  });

  it('a simulated clock staff set keeps its setting across a restart, and the CLI mints on it', async () => {
    box = await startBox();
    const admin = await box.adminToken();
    const ahead = Date.now() + 3 * 3600_000;
    const set = await box.http('POST', '/api/clock', { token: admin, body: { time: ahead, set: true } });
    assert.equal(set.status, 200, set.text);
    await box.stop();
    await box.launch();
    const clock = (await box.http('GET', '/api/clock', { token: admin })).json;
    assert.ok(Math.abs(Date.parse(clock.now) - Date.now() - 3 * 3600_000) < 60_000, `still 3 h ahead: ${clock.now}`);
    assert.equal(kept(box).deltas.length, 1, 'the restart is no jump');
    const hour = box.token('admin', 'tech', '1h');
    assert.equal((await box.http('GET', '/api/audit', { token: hour })).status, 200, 'a CLI token works');
    const second = box.token('admin', 'tech', '1s');
    await sleep(2500);
    assert.equal((await box.http('GET', '/api/audit', { token: second })).status, 401, 'and lives as long as it says');
  });
});

describe('staff confirm or set the clock', () => {
  let box;
  let admin;
  before(async () => {
    box = await startBox();
    admin = await box.adminToken();
  });
  after(() => box?.stop());

  const post = (body, token = admin) => box.http('POST', '/api/clock', { body, token });

  it('is staff only, and says what is wrong with a bad request', async () => {
    assert.equal((await box.http('GET', '/api/clock')).status, 401);
    const viewer = box.token('viewer', 'guest');
    assert.equal((await post({ time: Date.now() }, viewer)).status, 403);
    for (const body of [{}, { time: 'yesterday' }, { time: Date.now(), set: 'yes' }, { time: Date.now(), extra: 1 }]) {
      const res = await post(body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.code, 'INVALID_DATA');
    }
    const ancient = await post({ time: '1970-01-02T00:00:00Z', set: true });
    assert.equal(ancient.status, 400, 'a device in 1970 cannot set the clock');
    const far = await post({ time: 253402300800000, set: true });
    assert.equal(far.status, 400, 'nor one past the year 9999');
    assert.equal((await box.http('GET', '/api/clock', { token: admin })).json.confirmed, false);
  });

  it('a device within a minute confirms the clock; further off, it sets it only when asked', async () => {
    const confirmed = await post({ time: new Date(Date.now() + 5_000).toISOString() });
    assert.equal(confirmed.status, 200, confirmed.text);
    assert.equal(confirmed.json.confirmed, true);
    assert.equal(confirmed.json.step.kind, 'confirmed');

    const ahead = Date.now() + 3 * 3600_000;
    const refused = await post({ time: ahead });
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.json.code, 'CONFLICT');
    assert.ok(refused.json.details.offsetMs > 3 * 3600_000 - 60_000);

    const set = await post({ time: ahead, set: true });
    assert.equal(set.status, 200, set.text);
    assert.equal(set.json.step.kind, 'set');
    assert.ok(Math.abs(Date.parse(set.json.now) - ahead) < 5_000, 'the box runs on the set time');
    const state = (await box.http('GET', '/api/state/status')).json;
    assert.ok(Math.abs(Date.parse(state.serverTime) - ahead) < 5_000, 'and shows it');
    assert.equal((await box.http('GET', '/api/audit', { token: admin })).status, 200, 'tokens are untouched');
  });

  it('each step is in the trail with who took it, and records say their clock was confirmed', async () => {
    const trail = (await box.http('GET', '/api/audit', { token: admin })).json.entries;
    const steps = trail.filter((e) => e.did.some((d) => d.startsWith('Clock')));
    assert.deepEqual(steps.map((e) => e.did).reverse(), [['ClockConfirmed'], ['ClockSet']]);
    assert.ok(steps.every((e) => e.role === 'admin' && e.address === '127.0.0.1' && e.clockConfirmed === true));

    await box.createSession({ name: 'After the clock' });
    await box.stop();
    const records = box.cli('export').trim().split('\n').map((line) => JSON.parse(line));
    const set = records.find((r) => r.event.Staff?.ClockSet);
    assert.ok(set, 'the step is in the log');
    assert.ok(set.event.Staff.ClockSet.to_ms > set.event.Staff.ClockSet.from_ms + 3 * 3600_000 - 60_000);
    const session = records.find((r) => r.event.SessionCreated);
    assert.equal(session.version, 3);
    assert.equal(session.clockConfirmed, true);
    await box.launch();
    const clock = (await box.http('GET', '/api/clock', { token: await box.adminToken() })).json;
    assert.equal(clock.confirmed, false, 'a restarted box asks again');
  });
});
