// The admin and scanner HTTP API against the real binary.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sleep, startBox } from './harness.mjs';

describe('admin auth and sessions', () => {
  let box, admin;
  before(async () => { box = await startBox(); admin = await box.adminToken(); });
  after(() => box.stop());

  it('refuses a wrong password with a JSON error', async () => {
    const res = await box.http('POST', '/api/admin/auth', { body: { password: 'wrong' } });
    assert.equal(res.status, 401);
    assert.equal(res.json.code, 'INVALID_TOKEN');
  });

  it('reports no session before one is created', async () => {
    const res = await box.http('GET', '/api/session');
    assert.equal(res.status, 404);
    assert.equal(res.json.code, 'SESSION_NOT_FOUND');
  });

  it('needs an admin token to create a session', async () => {
    const none = await box.http('POST', '/api/session', { body: { name: 'x' } });
    assert.equal(none.status, 401);
    assert.equal(none.json.code, 'AUTH_REQUIRED');
    const gm = await box.http('POST', '/api/session', { body: { name: 'x' }, token: box.token('gm', 'GM_1') });
    assert.equal(gm.status, 403);
    assert.equal(gm.json.code, 'FORBIDDEN');
    const expired = await box.http('POST', '/api/session', { body: { name: 'x' }, token: box.expiredToken('admin', 'admin') });
    assert.equal(expired.status, 401);
    assert.equal(expired.json.code, 'INVALID_TOKEN');
  });

  it('creates, pauses, resumes and ends a session', async () => {
    const created = await box.http('POST', '/api/session', { body: { name: 'Friday 8pm', teams: ['TEAM_A', 'TEAM_B'] }, token: admin });
    assert.equal(created.status, 201);
    assert.equal(created.json.status, 'active');
    assert.deepEqual(created.json.teams, ['TEAM_A', 'TEAM_B']);
    const twice = await box.http('POST', '/api/session', { body: { name: 'again' }, token: admin });
    assert.equal(twice.status, 409);
    for (const [status, expected] of [['paused', 'paused'], ['active', 'active'], ['ended', 'archived']]) {
      const res = await box.http('PUT', '/api/session', { body: { status }, token: admin });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.status, expected);
    }
    assert.equal((await box.http('GET', '/api/session')).status, 404);
    // The ended session stays listed, with its scores, for the night's results.
    const sessions = await box.http('GET', '/api/sessions', { token: admin });
    assert.equal(sessions.status, 200, sessions.text);
    assert.equal(sessions.json.current, null);
    assert.equal(sessions.json.archived[0].session.id, created.json.id);
    assert.equal(sessions.json.archived[0].session.status, 'archived');
    assert.deepEqual(sessions.json.archived[0].scores.map((t) => t.teamId), ['TEAM_A', 'TEAM_B']);
    assert.equal(sessions.json.archived[0].transactionCount, 0);
    assert.equal((await box.http('GET', '/api/sessions')).status, 401, 'staff only');
    const bad = await box.http('PUT', '/api/session', { body: { status: 'exploded' }, token: admin });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'INVALID_DATA');
  });

  it('answers malformed and oversized bodies with JSON errors', async () => {
    const malformed = await box.http('POST', '/api/session', { raw: '{"name": ', token: admin });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.json.code, 'INVALID_DATA');
    const wrongType = await box.http('POST', '/api/session', { body: { name: 42 }, token: admin });
    assert.equal(wrongType.status, 400);
    assert.equal(wrongType.json.code, 'INVALID_DATA');
    const huge = await box.http('POST', '/api/session', { body: { name: 'x'.repeat(100 * 1024) }, token: admin });
    assert.equal(huge.status, 413);
    assert.equal(huge.json.code, 'INVALID_DATA');
    const unknown = await box.http('GET', '/api/nothing-here');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.code, 'NOT_FOUND');
    const wrongMethod = await box.http('DELETE', '/api/state');
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.json.code, 'INVALID_DATA');
    assert.match(wrongMethod.json.message, /DELETE/);
  });

  it('a request refused before its body was read says its connection closes; the next request on the pool is served', async () => {
    // The box closes a connection whose request body it left unread. Before it said so, Node's
    // fetch (like a browser) put the connection back in its pool and now and then sent the next
    // request on it just as the close arrived: that request failed with "other side closed".
    const huge = await box.http('POST', '/api/session', { body: { name: 'x'.repeat(100 * 1024) }, token: admin });
    assert.equal(huge.status, 413);
    assert.equal(huge.headers.get('connection'), 'close');
    const unauthorised = await box.http('POST', '/api/notices', { body: { text: 'x'.repeat(40 * 1024) } });
    assert.equal(unauthorised.status, 401);
    assert.equal(unauthorised.headers.get('connection'), 'close', 'refused before the body was read');
    const read = await box.http('POST', '/api/session', { raw: '{"name": ', token: admin });
    assert.equal(read.status, 400);
    assert.equal(read.headers.get('connection'), null, 'a body read whole keeps its connection');
    // Refusals and ordinary requests side by side on one pool, as a busy room sends them.
    for (let round = 0; round < 150; round += 1) {
      const answers = await Promise.all([
        box.http('POST', '/api/session', { body: { name: 'x'.repeat(100 * 1024) }, token: admin }),
        box.http('POST', '/api/notices', { body: { text: 'x'.repeat(40 * 1024) } }),
        ...Array.from({ length: 4 }, () => box.http('GET', '/api/state')),
      ]);
      assert.deepEqual(answers.map((a) => a.status), [413, 401, 200, 200, 200, 200], `round ${round + 1}`);
    }
  });
});

describe('player scans and video', () => {
  let box, admin, player;
  before(async () => {
    box = await startBox();
    admin = await box.adminToken();
    player = box.token('player', 'PLAYER_1');
    await box.createSession();
  });
  after(() => box.stop());

  it('needs a token to scan', async () => {
    const res = await box.http('POST', '/api/scan', { body: { tokenId: 'mem001' } });
    assert.equal(res.status, 401);
    assert.equal(res.json.code, 'AUTH_REQUIRED');
  });

  it('records a scan and starts the token video; a second video scan is told to wait', async () => {
    const first = await box.http('POST', '/api/scan', { body: { tokenId: 'vid003', deviceId: 'PLAYER_1' }, token: player });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.videoQueued, true);
    const state = (await box.http('GET', '/api/state')).json;
    assert.equal(state.currentVideo.tokenId, 'vid003');
    const busy = await box.http('POST', '/api/scan', { body: { tokenId: 'vid001', deviceId: 'PLAYER_1' }, token: player });
    assert.equal(busy.status, 409);
    assert.match(busy.json.message, /try again later/);
    // The refusal carries a code like every other error, and the recorded scan's result.
    assert.equal(busy.json.code, 'CONFLICT');
    assert.equal(busy.json.status, 'rejected');
  });

  it('lets an admin pause, resume and skip the video', async () => {
    for (const action of ['pause', 'resume', 'skip']) {
      const res = await box.http('POST', '/api/video/control', { body: { action }, token: admin });
      assert.equal(res.status, 200, `${action}: ${res.text}`);
    }
    assert.equal((await box.http('GET', '/api/state')).json.currentVideo, null);
    const noVideo = await box.http('POST', '/api/video/control', { body: { action: 'pause' }, token: admin });
    assert.equal(noVideo.status, 409);
    const gm = await box.http('POST', '/api/video/control', { body: { action: 'stop' }, token: box.token('gm', 'GM') });
    assert.equal(gm.status, 403);
    const bogus = await box.http('POST', '/api/video/control', { body: { action: 'rewind' }, token: admin });
    assert.equal(bogus.status, 400);
  });

  it('plays a queued video to completion on the simulated player', async () => {
    const res = await box.http('POST', '/api/video/control', { body: { action: 'queue', tokenId: 'vid005' }, token: admin });
    assert.equal(res.json.current.tokenId, 'vid005');
    let state;
    for (let i = 0; i < 40; i++) {
      await sleep(250);
      state = (await box.http('GET', '/api/state')).json;
      if (state.currentVideo === null) break;
    }
    assert.equal(state.currentVideo, null, 'the 4 s demo video ended by itself');
  });

  it('applies an offline batch in chronological order, idempotently', async () => {
    const t0 = Date.now() - 60_000;
    const batch = [
      { tokenId: 'mem003', deviceId: 'PLAYER_1', scanId: 'b-2', timestamp: new Date(t0 + 2000).toISOString() },
      { tokenId: 'mem002', deviceId: 'PLAYER_1', scanId: 'b-1', timestamp: t0 + 1000 },
      { tokenId: 42, deviceId: 'PLAYER_1' },
    ];
    const first = await box.http('POST', '/api/scan/batch', { body: { transactions: batch }, token: player });
    assert.equal(first.status, 200, first.text);
    const [r2, r1, bad] = first.json.results;
    assert.equal(r1.status, 'accepted');
    assert.equal(r2.status, 'accepted');
    assert.ok(r1.transactionId < r2.transactionId, 'the earlier scan was applied first');
    assert.equal(bad.status, 'error');
    assert.equal(bad.error.code, 'INVALID_DATA');
    const again = await box.http('POST', '/api/scan/batch', { body: { transactions: batch.slice(0, 2) }, token: player });
    assert.deepEqual(again.json.results.map((r) => r.transactionId), [r2.transactionId, r1.transactionId]);
    assert.ok(again.json.results.every((r) => r.replayed === true));
  });

  it('refuses a batch of more than 100 scans', async () => {
    const transactions = Array.from({ length: 101 }, (_, i) => ({ tokenId: 'mem001', scanId: `big-${i}` }));
    const res = await box.http('POST', '/api/scan/batch', { body: { transactions }, token: player });
    assert.equal(res.status, 400);
    assert.equal(res.json.code, 'INVALID_DATA');
  });

  it('lists the bundled demo tokens', async () => {
    const res = await box.http('GET', '/api/tokens', { token: player });
    assert.ok(res.json.count >= 40);
    assert.ok(res.json.tokens.some((t) => t.video));
    assert.ok(res.json.groups.some((g) => g.multiplier > 1));
  });

  it('reports health', async () => {
    const res = await box.http('GET', '/healthz');
    assert.equal(res.status, 200);
    assert.equal(res.json.status, 'ok');
  });
});

describe('command line', () => {
  it('loads the venue token file as it is', async () => {
    const box = await startBox({ config: `tokens = "${new URL('../fixtures/aln-tokens.json', import.meta.url).pathname}"\n` });
    const res = await box.http('GET', '/api/tokens', { token: box.token('gm', 'GM_CATALOGUE') });
    assert.equal(res.json.count, 9);
    assert.ok(res.json.groups.some((g) => g.name === 'Marcus Sucks' && g.tokenIds.length === 2));
    await box.stop();
  });

  it('exits 64 for a bad config and 1 for a damaged database, before binding', async () => {
    const { spawnSync } = await import('node:child_process');
    const { BIN } = await import('./harness.mjs');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'venuebox-badcfg-'));
    const cases = [
      ['[limits]\nmax_gm_stations = 0\n', 'limits.max_gm_stations'],
      ['listne = "x"\n', 'listne'],
      [`tokens = "${join(dir, 'missing.json')}"\n`, 'tokens'],
    ];
    for (const [text, key] of cases) {
      const path = join(dir, 'bad.toml');
      writeFileSync(path, text);
      const run = spawnSync(BIN, ['serve', '--config', path, '--data', join(dir, 'data'), '--listen', '127.0.0.1:0']);
      assert.equal(run.status, 64, run.stderr.toString());
      assert.match(run.stderr.toString(), new RegExp(key.replace('.', '\\.')));
      assert.doesNotMatch(run.stdout.toString(), /listening/);
    }
    // A damaged database: the box refuses to start, says what to do, and leaves the file alone.
    const dataDir = join(dir, 'damaged');
    const { mkdirSync, readFileSync } = await import('node:fs');
    mkdirSync(dataDir);
    const garbage = Buffer.from('this is not a venuebox database, it was overwritten by accident');
    writeFileSync(join(dataDir, 'venuebox.redb'), garbage);
    const boot = spawnSync(BIN, ['serve', '--data', dataDir, '--listen', '127.0.0.1:0']);
    assert.equal(boot.status, 1, boot.stderr.toString());
    assert.match(boot.stderr.toString(), /damaged.*not changed.*venuebox check/s);
    assert.doesNotMatch(boot.stdout.toString(), /listening/);
    assert.deepEqual(readFileSync(join(dataDir, 'venuebox.redb')), garbage);
    const check = spawnSync(BIN, ['check', '--data', dataDir]);
    assert.equal(check.status, 1);
    assert.match(check.stdout.toString(), /integrity:/);
    // Export says plainly that nothing could be saved, rather than "0 records exported".
    const exported = spawnSync(BIN, ['export', '--data', dataDir]);
    assert.equal(exported.status, 1);
    assert.equal(exported.stdout.toString(), '');
    assert.match(exported.stderr.toString(), /nothing could be exported/);

    const version = spawnSync(BIN, ['--version']);
    assert.match(version.stdout.toString(), /^venuebox \d+\.\d+\.\d+/);
    // A GPIO line that does not exist is a wiring/config mistake: 64, naming the line.
    const gpio = join(dir, 'gpio.toml');
    writeFileSync(gpio, 'hardware = "gpio"\n[gpio]\ngreen = "NO_SUCH_LINE_X"\n');
    const wired = spawnSync(BIN, ['serve', '--config', gpio, '--data', join(dir, 'gpio-data'), '--listen', '127.0.0.1:0']);
    assert.equal(wired.status, 64, wired.stderr.toString());
    assert.match(wired.stderr.toString(), /NO_SUCH_LINE_X/);
    assert.match(wired.stderr.toString(), /gpio\.green/, 'the message names the config key to change');
  });

  it('venuebox admin-password shows the generated password and --new replaces it', async () => {
    const { spawnSync } = await import('node:child_process');
    const { BIN } = await import('./harness.mjs');
    const box = await startBox();
    const shown = spawnSync(BIN, ['admin-password', '--data', box.dataDir]);
    assert.equal(shown.status, 0, shown.stderr.toString());
    assert.equal(shown.stdout.toString().trim(), `admin password: ${box.password}`);
    const renewed = spawnSync(BIN, ['admin-password', '--new', '--data', box.dataDir]);
    const fresh = renewed.stdout.toString().match(/new admin password: (\S+)/)?.[1];
    assert.ok(fresh, renewed.stdout.toString());
    await box.stop();
    await box.launch();
    const login = (password) => box.http('POST', '/api/admin/auth', { body: { password } });
    assert.equal((await login(fresh)).status, 200);
    assert.equal((await login(box.password)).status, 401);
    await box.stop();
  });
});
