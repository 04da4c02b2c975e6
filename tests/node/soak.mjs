// The soak: a long night of mixed traffic, good and bad, from many clients at once, while the
// box's resident memory is sampled. GM stations scan (and drop and come back), staff reset the
// game, open predictions and grant points, guests join, vote and reconnect to /realtime, and a
// hostile device cycles through broken requests: bad JSON, oversized bodies, wrong types,
// forged and expired tokens, broken WebSocket frames, unknown Socket.IO events and bursts of
// connections. At the end the box is stopped and its log read back: every write the box
// acknowledged must be in it, and memory must not have grown past 10 % of its value after the
// warm-up (a leak shows as growth; the game's own state is kept bounded by resetting it). The
// warm-up lasts until the box's bounded memories are full: the 10,000 scan ids it remembers for
// resends fill after about four minutes of this traffic, so the long run measures from minute 5.
//
// CI runs one minute (soak.test.mjs). The long run, for bench/RESULTS.md, against a release
// build:
//   cargo build --release
//   VENUEBOX_BIN=target/release/venuebox node tests/node/soak.mjs --minutes 30
import WebSocket from 'ws';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { exportLog, rng } from './crashloop.mjs';
import { connect, emitAck, sleep, startBox, station } from './harness.mjs';
import { ABUSE, rawSocket } from './rawws.mjs';

/** Guests who join with a name and vote; the other viewers watch. */
const VOTERS = 5;

/** The box's resident memory in KiB, from /proc. */
function rssKib(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(status.match(/^VmRSS:\s+(\d+) kB/m)?.[1] ?? NaN);
}

/** Resolves with the ack, or null when the socket drops or the ack never comes. */
const ackOrNull = (socket, event, data) => emitAck(socket, event, data, 5000).catch(() => null);

/**
 * The allocator settings the systemd unit gives the box (`Environment=MALLOC_…` in
 * systemd/venuebox.service), so the soak measures the memory the box has in the venue.
 */
function unitAllocatorEnvironment() {
  const unit = readFileSync(new URL('../../systemd/venuebox.service', import.meta.url), 'utf8');
  return Object.fromEntries([...unit.matchAll(/^Environment=(MALLOC_\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
}

export async function runSoak({ seconds = 60, sampleEverySecs = 5, warmupSecs = 20, stations = 6, viewers = 20, seed = 1, log = () => {} } = {}) {
  const random = rng(seed);
  const pick = (list) => list[Math.floor(random() * list.length)];
  Object.assign(process.env, unitAllocatorEnvironment());
  const box = await startBox({ config: `[limits]\nmax_gm_stations = ${stations + 2}\n` });
  const admin = await box.adminToken();
  const teams = ['TEAM_A', 'TEAM_B', 'TEAM_C', 'TEAM_D'];
  await box.createSession({ name: 'Soak night', teams });
  const tokens = (await box.http('GET', '/api/tokens', { token: admin })).json.tokens.map((t) => t.id);
  const ws = box.url.replace('http', 'ws');

  const acked = { scans: new Map(), predictions: new Set(), grants: new Set(), votes: new Set(), resets: 0 };
  const stats = { scans: 0, refusedScans: 0, reconnects: 0, viewerFrames: 0, hostile: 0, hostileKinds: {}, errors5xx: 0 };
  const deadline = Date.now() + seconds * 1000;
  let failed = false;
  const running = () => !failed && Date.now() < deadline;
  let openPrediction = null;

  // GM stations: a scan every ~150 ms each, unique scan ids; every ~30 s a station drops and
  // comes back as the venue's Wi-Fi makes it do.
  const stationLoop = async (index) => {
    let n = 0;
    while (running()) {
      const s = await station(box, `GM_SOAK_${index}`);
      const leaveAt = Date.now() + 20_000 + random() * 20_000;
      while (running() && Date.now() < leaveAt) {
        const scanId = `s${index}-${n++}`;
        const ack = await ackOrNull(s.socket, 'transaction:submit', { tokenId: pick(tokens), teamId: pick(teams), scanId });
        stats.scans++;
        if (ack?.success && ack.transaction?.id) acked.scans.set(scanId, ack.transaction.id);
        else stats.refusedScans++;
        await sleep(120 + random() * 60);
      }
      s.close();
      stats.reconnects++;
    }
  };

  // Staff: a reset every 15 s keeps the game's state bounded, a prediction every 10 s, grants.
  const staffLoop = async () => {
    let tick = 0;
    while (running()) {
      await sleep(1000);
      tick++;
      if (tick % 15 === 0) {
        const reset = await box.http('POST', '/api/session/reset', { token: admin });
        if (reset.status === 200) acked.resets++;
      }
      if (tick % 10 === 0) {
        const created = await box.http('POST', '/api/predictions', {
          token: admin,
          body: { streamerId: 'stage', title: `Round ${tick}?`, options: [{ id: 'yes', label: 'Yes' }, { id: 'no', label: 'No' }], costPerVote: 1, closesInSecs: 8 },
        });
        if (created.status === 201) { acked.predictions.add(created.json.id); openPrediction = created.json.id; }
      }
      if (viewerIds.length && tick % 2 === 0) {
        const grantId = `g${tick}`;
        const grant = await box.http('POST', `/api/users/${pick(viewerIds)}/grants`, { token: admin, body: { amount: 5, reason: 'soak', grantId } });
        if (grant.status === 200 || grant.status === 201) acked.grants.add(grantId);
      }
    }
  };

  // Guests: a few join with a name and vote (one address may start only 5 names every 10
  // minutes, and every client here is 127.0.0.1); the other phones only watch, with viewer
  // tokens. Each follows /realtime and reconnects every 5-15 s.
  const viewerIds = [];
  const voters = [];
  for (let index = 0; index < Math.min(VOTERS, viewers); index++) {
    const joined = await box.http('POST', '/api/auth', { body: { name: `guest-${index}`, pin: box.viewerPin } });
    if (joined.status !== 200) throw new Error(`guest ${index} could not join: ${joined.text}`);
    viewerIds.push(joined.json.userId);
    voters.push(joined.json.token);
  }
  const viewerLoop = async (index) => {
    const token = voters[index] ?? box.token('viewer', `phone-${index}`);
    const votes = voters[index] !== undefined;
    let voted = 0;
    while (running()) {
      const socket = new WebSocket(`${ws}/realtime?streamerId=stage`, { headers: { authorization: `Bearer ${token}` } });
      socket.on('message', () => { stats.viewerFrames++; });
      socket.on('error', () => {});
      await new Promise((resolve) => { socket.once('open', resolve); socket.once('close', resolve); });
      const leaveAt = Date.now() + 5_000 + random() * 10_000;
      while (running() && Date.now() < leaveAt) {
        if (votes && openPrediction && random() < 0.5) {
          const voteId = `v${index}-${voted++}`;
          const vote = await box.http('POST', `/api/predictions/${openPrediction}/votes`, { token, body: { optionId: pick(['yes', 'no']), votes: 1, clientVoteId: voteId } });
          if (vote.status === 200 || vote.status === 201) acked.votes.add(voteId);
        }
        await sleep(500 + random() * 1000);
      }
      socket.close();
      stats.reconnects++;
    }
  };

  // One hostile device, cycling through what a broken or malicious phone sends.
  const rude = connect(box, { token: box.token('gm', 'GM_RUDE') });
  const hostileMoves = [
    ['malformed JSON', () => box.http('POST', '/api/scan', { token: admin, raw: '{"tokenId":' })],
    ['a 100 KB body', () => box.http('POST', '/api/predictions', { token: admin, raw: JSON.stringify({ title: 'x'.repeat(100_000) }) })],
    ['wrong types', () => box.http('POST', '/api/session', { token: admin, body: { name: 42, teams: 'all' } })],
    ['an unknown endpoint', () => box.http('GET', '/api/../../etc/passwd')],
    ['an expired token', () => box.http('GET', '/api/sessions', { token: box.expiredToken('admin', 'admin') })],
    ['an unsigned token', () => box.http('GET', '/api/sessions', { token: box.forgeToken({ sub: 'admin', role: 'admin', exp: Math.floor(Date.now() / 1000) + 60 }, { alg: 'none' }) })],
    ['a wrong PIN', () => box.http('POST', '/api/auth', { body: { name: 'mallory', pin: '000000' } })],
    ['an unknown Socket.IO event', () => ackOrNull(rude.socket, 'gm:takeover', { all: true })],
    ['a scan of wrong types', () => ackOrNull(rude.socket, 'transaction:submit', { tokenId: ['x'], teamId: { a: 1 } })],
    ['a broken WebSocket frame', async () => {
      const [, bytes] = pick(ABUSE);
      const raw = await rawSocket(`${ws}/realtime?streamerId=stage`, { headers: { authorization: `Bearer ${box.token('viewer', 'rude-viewer')}` } });
      raw.write(bytes());
      await raw.closed(2000);
    }],
    ['a burst of 40 connections', async () => {
      const sockets = await Promise.all(Array.from({ length: 40 }, () => new Promise((resolve) => {
        const s = net.connect(Number(new URL(box.url).port), '127.0.0.1', () => resolve(s));
        s.on('error', () => resolve(s));
      })));
      await sleep(300);
      sockets.forEach((s) => s.destroy());
    }],
  ];
  const hostileLoop = async () => {
    while (running()) {
      const [kind, move] = pick(hostileMoves);
      const answer = await move().catch(() => null);
      if (answer?.status >= 500) stats.errors5xx++;
      stats.hostile++;
      stats.hostileKinds[kind] = (stats.hostileKinds[kind] ?? 0) + 1;
      await sleep(100 + random() * 200);
    }
  };

  // Memory, sampled from the start; the warm-up value is the one nearest its end.
  const samples = [];
  const started = Date.now();
  // RSS from the kernel; the allocator's live and held bytes from the box (staff's view of
  // its memory), which tell a leak (live grows) from memory the allocator keeps (held grows).
  const sample = async () => {
    // A sample the box is too busy to answer is RSS alone, not the end of the run.
    const memory = (await box.http('GET', '/api/hardware', { token: admin }).catch(() => null))?.json?.memory ?? {};
    return {
      atSecs: Math.round((Date.now() - started) / 1000),
      rssKib: rssKib(box.proc.pid),
      heapInUseKib: memory.heapInUseKib,
      heapHeldKib: memory.heapHeldKib,
    };
  };
  const sampler = (async () => {
    while (running()) {
      samples.push(await sample());
      const s = samples.at(-1);
      log(`${s.atSecs}s: RSS ${s.rssKib} KiB, heap ${s.heapInUseKib} KiB live of ${s.heapHeldKib} KiB held, ${acked.scans.size} scans acknowledged`);
      await sleep(Math.min(sampleEverySecs * 1000, Math.max(0, deadline - Date.now())));
    }
    samples.push(await sample());
  })();

  const loops = await Promise.allSettled([
    ...Array.from({ length: stations }, (_, i) => stationLoop(i)),
    ...Array.from({ length: viewers }, (_, i) => viewerLoop(i)),
    staffLoop(),
    hostileLoop(),
    sampler,
  ].map((loop) => loop.catch((e) => { failed = true; throw e; })));
  rude.socket.disconnect();
  const crashed = loops.find((l) => l.status === 'rejected');
  if (crashed) {
    await box.stop('SIGTERM');
    throw crashed.reason;
  }
  const health = await box.http('GET', '/healthz');
  await box.stop('SIGTERM');

  const records = exportLog(box);
  const problems = [];
  if (health.status !== 200) problems.push(`the box was unhealthy at the end: ${health.text}`);
  if (stats.errors5xx) problems.push(`${stats.errors5xx} hostile requests got a 5xx`);
  const logged = { scans: new Map(), predictions: new Set(), grants: new Set(), votes: new Set(), resets: 0 };
  for (const { event } of records) {
    if (event.ScanRecorded) logged.scans.set(event.ScanRecorded.client_scan_id, event.ScanRecorded.id);
    if (event.SessionReset) logged.resets++;
    const prediction = event.Prediction;
    if (prediction?.Created) logged.predictions.add(prediction.Created.spec.id);
    if (prediction?.PointsGranted?.client_grant_id) logged.grants.add(prediction.PointsGranted.client_grant_id);
    if (prediction?.VoteCast) logged.votes.add(prediction.VoteCast.client_vote_id);
  }
  for (const [scanId, id] of acked.scans) {
    if (logged.scans.get(scanId) !== id) problems.push(`acknowledged scan ${scanId} (${id}) is not in the log`);
  }
  for (const kind of ['predictions', 'grants', 'votes']) {
    for (const id of acked[kind]) if (!logged[kind].has(id)) problems.push(`acknowledged ${kind} ${id} is not in the log`);
  }
  if (logged.resets < acked.resets) problems.push(`${acked.resets} resets acknowledged, ${logged.resets} logged`);

  const warm = samples.reduce((best, s) => (Math.abs(s.atSecs - warmupSecs) < Math.abs(best.atSecs - warmupSecs) ? s : best));
  const final = samples.at(-1);
  return {
    samples, warm, final, growth: final.rssKib / warm.rssKib - 1, problems, stats,
    acked: { scans: acked.scans.size, predictions: acked.predictions.size, grants: acked.grants.size, votes: acked.votes.size, resets: acked.resets },
    logEvents: records.length,
  };
}

// Command line: the long run, for bench/RESULTS.md.
if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const minutes = arg('minutes', 30);
  const result = await runSoak({
    seconds: minutes * 60,
    sampleEverySecs: 60,
    warmupSecs: arg('warmup-secs', 300),
    seed: arg('seed', 1),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  console.log(JSON.stringify({ ...result, samples: undefined }, null, 2));
  const mib = (kib) => (kib === undefined ? '?' : (kib / 1024).toFixed(1));
  console.log('\n| minute | RSS (MiB) | heap live (MiB) | heap held (MiB) |\n|---|---|---|---|');
  for (const s of result.samples) console.log(`| ${(s.atSecs / 60).toFixed(1)} | ${mib(s.rssKib)} | ${mib(s.heapInUseKib)} | ${mib(s.heapHeldKib)} |`);
  const ok = !result.problems.length && result.growth <= 0.10;
  console.log(`\nRSS after warm-up ${result.warm.rssKib} KiB, at the end ${result.final.rssKib} KiB (${(result.growth * 100).toFixed(1)} %): ${ok ? 'PASS' : 'FAIL'}`);
  process.exit(ok ? 0 : 1);
}
