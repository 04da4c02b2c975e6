// The box's hardware through the admin API and the GM contract: the simulated reset button,
// session resets, the LED patterns, and video through a real headless mpv.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, emitAck, sleep, startBox, station, until } from './harness.mjs';

describe('reset button (simulated) and session resets', () => {
  let box;
  let admin;
  before(async () => {
    box = await startBox();
    admin = await box.adminToken();
  });
  after(() => box.stop());

  const hardware = async () => (await box.http('GET', '/api/hardware', { token: admin })).json;
  const press = (ms) => box.http('POST', '/api/hardware/button', { token: admin, body: { press_ms: ms } });

  it('shows the LED pattern and refuses bad presses with JSON errors', async () => {
    const idle = await hardware();
    assert.equal(idle.backend, 'sim');
    assert.equal(idle.pattern, 'ready');
    assert.equal(idle.button.simulated, true);
    assert.equal(idle.video.ready, true);
    const { rssKib, heapInUseKib, heapHeldKib } = idle.memory;
    assert.ok(rssKib > 1024 && heapInUseKib > 0 && heapInUseKib <= heapHeldKib && heapHeldKib < rssKib * 4, JSON.stringify(idle.memory));
    assert.equal((await press(0)).status, 400);
    assert.equal((await box.http('POST', '/api/hardware/button', { token: admin, body: { press: 5 } })).status, 400);
    assert.equal((await box.http('POST', '/api/hardware/button', { body: { press_ms: 10 } })).status, 401);
    assert.equal((await box.http('POST', '/api/hardware/button', { token: box.token('gm', 'GM_X'), body: { press_ms: 10 } })).status, 403);
  });

  it('a 2.9 s hold does nothing; a 3 s hold archives the session and sends sync:full with the same teams', async () => {
    const created = await box.createSession({ name: 'Group 1', teams: ['TEAM_A', 'TEAM_B'] });
    const gm = await station(box, 'GM_BTN');
    const ack = await emitAck(gm.socket, 'transaction:submit', { tokenId: 'mem001', teamId: 'TEAM_A' });
    assert.equal(ack.success, true);
    assert.equal((await hardware()).pattern, 'session_active');

    assert.equal((await press(2900)).status, 200);
    const held = await until(async () => { const hw = await hardware(); return hw.button.held && hw; }, 'the held button shows');
    assert.equal(held.pattern, 'reset_held', 'fast blink after a second');
    await until(async () => !(await hardware()).button.held, 'the 2.9 s press ends');
    assert.equal(gm.rec.named('sync:full').length, 0, 'a short hold resets nothing');
    assert.equal((await box.http('GET', '/api/session')).json.id, created.id);
    assert.equal((await hardware()).pattern, 'session_active');

    const sync = gm.rec.next('sync:full', () => true, 8000);
    assert.equal((await press(3300)).status, 200);
    const fresh = (await sync).data;
    assert.notEqual(fresh.session.id, created.id);
    assert.equal(fresh.session.name, 'Group 1');
    assert.deepEqual(fresh.session.teams, ['TEAM_A', 'TEAM_B']);
    assert.ok(fresh.state.scores.every((s) => s.score === 0), JSON.stringify(fresh.state.scores));
    assert.equal(fresh.transactions.length, 0);
    assert.equal((await hardware()).pattern, 'reset_done', 'the LEDs confirm');
    // The same token scores again in the new session.
    const again = await emitAck(gm.socket, 'transaction:submit', { tokenId: 'mem001', teamId: 'TEAM_A' });
    assert.equal(again.transaction.status, 'accepted');
    gm.close();
  });

  it('the console can reset too; with no session there is nothing to reset', async () => {
    const gm = await station(box, 'GM_API');
    const before = (await box.http('GET', '/api/session')).json;
    const sync = gm.rec.next('sync:full');
    const reset = await box.http('POST', '/api/session/reset', { token: admin });
    assert.equal(reset.status, 200, reset.text);
    assert.notEqual(reset.json.id, before.id);
    assert.equal((await sync).data.session.id, reset.json.id);

    // The admin console over Socket.IO: the same reset and video controls; stations may not.
    const console_ = connect(box, { token: admin });
    await new Promise((r) => console_.socket.once('connect', r));
    const viaSocket = gm.rec.next('sync:full', (p) => p.data.session.id !== reset.json.id);
    const resetAck = await emitAck(console_.socket, 'session:reset', {});
    assert.equal(resetAck.success, true, JSON.stringify(resetAck));
    assert.equal((await viaSocket).data.session.id, resetAck.session.id);
    const queued = await emitAck(console_.socket, 'video:control', { action: 'queue', tokenId: 'vid001' });
    assert.equal(queued.success, true, JSON.stringify(queued));
    const stopped = await emitAck(console_.socket, 'video:control', { action: 'stop' });
    assert.equal(stopped.current, null);
    const bad = await emitAck(console_.socket, 'video:control', { action: 'rewind' });
    assert.equal(bad.error.code, 'INVALID_DATA');
    const refused = await emitAck(gm.socket, 'session:reset', {});
    assert.equal(refused.error.code, 'AUTH_REQUIRED');
    console_.socket.disconnect();

    await box.http('PUT', '/api/session', { token: admin, body: { status: 'ended' } });
    const none = await box.http('POST', '/api/session/reset', { token: admin });
    assert.equal(none.status, 404);
    assert.equal(none.json.code, 'SESSION_NOT_FOUND');
    gm.close();
  });
});

describe('video through a real headless mpv', () => {
  let box;
  let media;
  before(async () => {
    media = mkdtempSync(join(tmpdir(), 'venuebox-media-'));
    mkdirSync(join(media, 'videos'));
    // vid001 exists (2 s); vid002 is missing on purpose.
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=duration=2:size=64x48:rate=10',
      '-c:v', 'mpeg4', join(media, 'videos', 'vid001.mp4')]);
    box = await startBox({
      config: `[video]\nplayer = "mpv"\nmedia_dir = "${media}"\nmpv_args = ["--vo=null", "--ao=null"]\nhwdec = "no"\n`,
    });
  });
  after(() => box.stop());

  it('a token video plays to completion and a missing file is an error the game survives', async () => {
    const admin = await box.adminToken();
    await until(async () => (await box.http('GET', '/api/hardware', { token: admin })).json.video.ready, 'mpv is ready');
    await box.createSession({ name: 'Video night' });
    const gm = await station(box, 'GM_VID');
    const player = box.token('player', 'P_VID');
    const played = await box.http('POST', '/api/scan', { token: player, body: { tokenId: 'vid001' } });
    assert.equal(played.status, 200, played.text);
    assert.equal(played.json.videoQueued, true);
    const playing = await gm.rec.next('video:status', (p) => p.data.status === 'playing' && p.data.tokenId === 'vid001' && p.data.duration !== null, 10000);
    assert.ok(Math.abs(playing.data.duration - 2) < 0.3, JSON.stringify(playing.data));
    await gm.rec.next('video:status', (p) => p.data.status === 'completed' && p.data.tokenId === 'vid001', 10000);

    const missing = await box.http('POST', '/api/scan', { token: player, body: { tokenId: 'vid002' } });
    assert.equal(missing.status, 200, missing.text);
    const failed = await gm.rec.next('video:status', (p) => p.data.status === 'error' && p.data.tokenId === 'vid002', 10000);
    assert.match(failed.data.error, /cannot play/);
    const state = (await box.http('GET', '/api/state')).json;
    assert.equal(state.currentVideo, null, 'the game goes on');
    assert.equal(state.systemStatus.videoDisplayReady, true);
    gm.close();
  });
});

describe('boot after a power cut', () => {
  it('says it is recovering only when the last run did not stop cleanly', async () => {
    const box = await startBox();
    try {
      await box.createSession({ name: 'Cut' });
      const unclean = /did not stop cleanly/;
      assert.equal((await box.stop('SIGTERM')).code, 0);
      let from = box.stderr.length;
      await box.launch();
      assert.doesNotMatch(box.stderr.slice(from), unclean, 'a clean stop boots normally');
      await box.stop('SIGKILL');
      from = box.stderr.length;
      await box.launch();
      // stderr arrives on its own pipe: give it a moment after the "listening" line.
      await until(() => unclean.test(box.stderr.slice(from)), 'the recovery line on stderr');
      assert.match(box.stderr.slice(from), unclean, 'after a power cut the box says it recovers');
      const admin = await box.adminToken();
      const hw = (await box.http('GET', '/api/hardware', { token: admin })).json;
      assert.equal(hw.pattern, 'session_active', 'recovery done: the session is back on the LEDs');
    } finally {
      await box.stop();
    }
  });
});
