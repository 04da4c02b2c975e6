// What survives a power cut (SIGKILL), one test per kind of state.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, emitAck, sleep, startBox, station } from './harness.mjs';
import { exportLog } from './crashloop.mjs';

describe('after a power cut', () => {
  it('a paused session stays paused with its scores and transactions', async () => {
    const box = await startBox();
    const admin = await box.adminToken();
    await box.createSession({ name: 'Before the cut', teams: ['TEAM_A', 'TEAM_B'] });
    const s = await station(box, 'GM_SURV');
    for (const [i, tokenId] of ['mem001', 'mem002', 'mem003'].entries()) {
      await emitAck(s.socket, 'transaction:submit', { tokenId, teamId: i % 2 ? 'TEAM_B' : 'TEAM_A' });
    }
    assert.equal((await box.http('PUT', '/api/session', { body: { status: 'paused' }, token: admin })).status, 200);
    const before = (await box.http('GET', '/api/state')).json;
    s.close();
    await box.stop('SIGKILL');

    await box.launch();
    const after = (await box.http('GET', '/api/state')).json;
    assert.equal(after.session.status, 'paused');
    assert.equal(after.session.name, 'Before the cut');
    assert.deepEqual(after.scores, before.scores);
    assert.deepEqual(after.recentTransactions.map((t) => t.id), before.recentTransactions.map((t) => t.id));
    // It can be resumed and ended as usual.
    const resumed = await box.http('PUT', '/api/session', { body: { status: 'active' }, token: await box.adminToken() });
    assert.equal(resumed.json.status, 'active');
    await box.stop();
  });

  it('the secret and the admin password survive: old tokens and the password still work', async () => {
    const box = await startBox();
    const admin = await box.adminToken();
    const gm = box.token('gm', 'GM_KEEP');
    const password = box.password;
    await box.stop('SIGKILL');
    await box.launch();
    assert.doesNotMatch(box.stdout, /admin password/, 'no new password on restart');
    const created = await box.http('POST', '/api/session', { body: { name: 'x' }, token: admin });
    assert.equal(created.status, 201);
    const login = await box.http('POST', '/api/admin/auth', { body: { password } });
    assert.equal(login.status, 200);
    const s = connect(box, { token: gm });
    const ok = await emitAck(s.socket, 'gm:identify', { stationId: 'GM_KEEP' });
    assert.equal(ok.success, true);
    s.socket.disconnect();
    await box.stop();
  });

  it('devices come back disconnected and keep their slot for the grace period', async () => {
    const box = await startBox({ config: '[limits]\nmax_gm_stations = 1\n' });
    await box.createSession();
    const s = await station(box, 'GM_ONLY');
    await box.http('POST', '/api/scan', { body: { tokenId: 'mem004' }, token: box.token('player', 'P_SURV') });
    await box.stop('SIGKILL');
    s.close();

    await box.launch();
    const devices = (await box.http('GET', '/api/state')).json.devices;
    assert.equal(devices.length, 2);
    for (const d of devices) {
      assert.equal(d.connected, false, d.deviceId);
      assert.equal(d.disconnectReason, 'error');
    }
    const intruder = connect(box, { token: box.token('gm', 'GM_OTHER') });
    const refused = await emitAck(intruder.socket, 'gm:identify', { stationId: 'GM_OTHER' });
    assert.equal(refused.error.code, 'DEVICE_LIMIT', 'the slot is still GM_ONLY’s');
    intruder.socket.disconnect();
    const back = await station(box, 'GM_ONLY');
    assert.equal(back.identified.success, true);
    back.close();
    await box.stop();
  });

  it('a queued video still plays; the one playing is logged as interrupted and starts again', async () => {
    const box = await startBox();
    const admin = await box.adminToken();
    await box.createSession();
    for (const tokenId of ['vid004', 'vid002']) {
      const res = await box.http('POST', '/api/video/control', { body: { action: 'queue', tokenId }, token: admin });
      assert.equal(res.status, 200, res.text);
    }
    let state = (await box.http('GET', '/api/state')).json;
    assert.equal(state.currentVideo.tokenId, 'vid004');
    assert.deepEqual(state.videoQueue, ['vid002']);
    await box.stop('SIGKILL');

    await box.launch();
    state = (await box.http('GET', '/api/state')).json;
    assert.equal(state.currentVideo.tokenId, 'vid004', 'restarted from the beginning');
    assert.deepEqual(state.videoQueue, ['vid002']);
    const skip = await box.http('POST', '/api/video/control', { body: { action: 'skip' }, token: await box.adminToken() });
    assert.equal(skip.json.current.tokenId, 'vid002', 'the queued video plays next');
    await box.stop();

    const ended = exportLog(box).filter((r) => r.event.VideoEnded).map((r) => r.event.VideoEnded);
    assert.deepEqual(ended.map((e) => [e.token_id, e.outcome]), [['vid004', 'Interrupted'], ['vid004', 'Skipped']]);
  });

  it('a scan resent after the restart gets its original answer', async () => {
    const box = await startBox();
    await box.createSession();
    const player = box.token('player', 'P_RESEND');
    const first = await box.http('POST', '/api/scan', { body: { tokenId: 'mem005', scanId: 'r-1' }, token: player });
    await box.stop('SIGKILL');
    await box.launch();
    const again = await box.http('POST', '/api/scan', { body: { tokenId: 'mem005', scanId: 'r-1' }, token: player });
    assert.equal(again.json.replayed, true);
    assert.equal(again.json.transactionId, first.json.transactionId);
    await sleep(10);
    await box.stop();
  });
});
