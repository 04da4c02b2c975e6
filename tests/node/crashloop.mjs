// Crash-loop harness: K GM stations submit scans with unique scan ids and record every ack while
// the box is SIGKILLed at random moments and restarted on the same data dir. After the run the
// log must hold every acknowledged scan exactly once and nothing else, the scores must equal a
// recomputation from the logged transactions, and `venuebox check` must call the file healthy.
//
// CI runs a short version (crashloop.test.mjs). The long version is a command of its own:
//   node tests/node/crashloop.mjs --cycles 200 [--clients 5] [--seed 1]
// Other contracts reuse runCrashLoop with their own `submit` and `logged` functions.
import { execFileSync } from 'node:child_process';
import { BIN, emitAck, sleep, startBox, station } from './harness.mjs';

/** Small deterministic PRNG so a failing run can be repeated with its seed. */
export function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 0x100000000;
  };
}

/** Resolves with the ack, or null if the socket drops first (the box was killed). */
function ackOrDrop(socket, event, data) {
  return new Promise((resolve) => {
    const onDrop = () => resolve(null);
    socket.once('disconnect', onDrop);
    emitAck(socket, event, data, 4000)
      .then((ack) => resolve(ack), () => resolve(null))
      .finally(() => socket.off('disconnect', onDrop));
  });
}

/** Reads the log with `venuebox export` (the box must be stopped). */
export function exportLog(box) {
  const out = execFileSync(BIN, ['export', '--data', box.dataDir], { maxBuffer: 512 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
  return out.toString().trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

export function checkDatabase(box) {
  return JSON.parse(execFileSync(BIN, ['check', '--json', '--data', box.dataDir], { stdio: ['ignore', 'pipe', 'pipe'] }).toString());
}

export async function runCrashLoop({ cycles = 5, clients = 5, seed = 1, minRunMs = 200, maxRunMs = 900, log = () => {} } = {}) {
  const random = rng(seed);
  const box = await startBox({ config: `[limits]\nmax_gm_stations = ${clients + 2}\n` });
  await box.createSession({ name: 'Crash loop' });
  const tokens = (await box.http('GET', '/api/tokens', { token: await box.adminToken() })).json.tokens.map((t) => t.id);
  const acked = new Map(); // scanId → transaction id
  const pending = new Map(); // scanId → payload, not yet acknowledged
  const stats = { cycles: 0, submitted: 0, acked: 0, resent: 0, killedInFlight: 0 };
  let next = 0;

  const runClient = async (index, socket, stop) => {
    // First resend whatever was in flight when the box died: same scan id, same payload.
    for (const [scanId, payload] of [...pending].filter(([id]) => id.startsWith(`c${index}-`))) {
      const ack = await ackOrDrop(socket, 'transaction:submit', payload);
      stats.resent++;
      if (ack?.success) { acked.set(scanId, ack.transaction.id); pending.delete(scanId); }
      if (!ack) return;
      await sleep(110);
    }
    while (!stop.done) {
      const scanId = `c${index}-${next++}`;
      const payload = { tokenId: tokens[Math.floor(random() * tokens.length)], teamId: `TEAM_${index % 3}`, scanId };
      pending.set(scanId, payload);
      stats.submitted++;
      const ack = await ackOrDrop(socket, 'transaction:submit', payload);
      if (!ack) { stats.killedInFlight++; return; }
      if (ack.success) { acked.set(scanId, ack.transaction.id); pending.delete(scanId); }
      await sleep(110); // under the 10/s limit per station
    }
  };

  const connectAll = () => Promise.all(Array.from({ length: clients }, (_, i) => station(box, `GM_CRASH_${i}`)));

  for (let cycle = 0; cycle < cycles; cycle++) {
    const stations = await connectAll();
    const stop = { done: false };
    const loops = stations.map((s, i) => runClient(i, s.socket, stop));
    await sleep(minRunMs + random() * (maxRunMs - minRunMs));
    // One more scan from every station right at the kill, so each cycle has scans in flight.
    const atKill = stations.map((s, i) => {
      const scanId = `c${i}-${next++}`;
      const payload = { tokenId: tokens[Math.floor(random() * tokens.length)], teamId: `TEAM_${i % 3}`, scanId };
      pending.set(scanId, payload);
      stats.submitted++;
      return ackOrDrop(s.socket, 'transaction:submit', payload).then((ack) => {
        if (!ack) stats.killedInFlight++;
        else if (ack.success) { acked.set(scanId, ack.transaction.id); pending.delete(scanId); }
      });
    });
    const killed = await box.stop('SIGKILL');
    if (killed?.sig !== 'SIGKILL') throw new Error(`box was not killed: ${JSON.stringify(killed)}`);
    stop.done = true;
    await Promise.all([...loops, ...atKill]);
    stations.forEach((s) => s.close());
    stats.cycles++;
    log(`cycle ${cycle + 1}/${cycles}: ${acked.size} acked, ${pending.size} in flight at the kill`);
    await box.launch();
  }

  // Final round without a kill: everything still pending is resent and must be acknowledged.
  const stations = await connectAll();
  const stop = { done: true };
  await Promise.all(stations.map((s, i) => runClient(i, s.socket, stop)));
  if (pending.size) throw new Error(`${pending.size} scans were never acknowledged: ${[...pending.keys()].slice(0, 5)}`);
  await sleep(300);
  const state = (await box.http('GET', '/api/state')).json;
  const catalog = (await box.http('GET', '/api/tokens', { token: await box.adminToken() })).json;
  stations.forEach((s) => s.close());
  await box.stop('SIGTERM');

  const records = exportLog(box);
  const report = checkDatabase(box);
  stats.acked = acked.size;
  return { box, acked, records, report, state, catalog, stats };
}

/** Everything the harness promises, as a list of problems (empty when all holds). */
export function verifyCrashLoop({ acked, records, report, state, catalog }) {
  const problems = [];
  const scans = records.filter((r) => r.event.ScanRecorded).map((r) => r.event.ScanRecorded);
  const byScanId = new Map();
  for (const t of scans) byScanId.set(t.client_scan_id, (byScanId.get(t.client_scan_id) ?? []).concat(t));
  for (const [scanId, txId] of acked) {
    const found = byScanId.get(scanId) ?? [];
    if (found.length !== 1) problems.push(`acked scan ${scanId} is in the log ${found.length} times`);
    else if (found[0].id !== txId) problems.push(`acked scan ${scanId} was ${txId} but the log says ${found[0].id}`);
  }
  for (const scanId of byScanId.keys()) {
    if (!acked.has(scanId)) problems.push(`scan ${scanId} is in the log but was never acknowledged`);
  }
  // Sequence numbers are dense: no commit was half written.
  records.forEach((r, i) => { if (r.seq !== i + 1) problems.push(`log sequence jumps at ${r.seq}`); });
  if (report.integrity !== 'ok' || report.undecodable.length || report.gaps) problems.push(`venuebox check: ${JSON.stringify(report)}`);

  // Scores from the transactions alone: token values plus group bonuses.
  const value = new Map(catalog.tokens.map((t) => [t.id, t]));
  const teams = new Map();
  for (const t of scans.filter((t) => t.status === 'Accepted' && t.device_kind === 'Gm')) {
    const team = teams.get(t.team_id) ?? { base: 0, held: new Set() };
    team.base += t.points;
    team.held.add(t.token_id);
    teams.set(t.team_id, team);
    if (t.points !== value.get(t.token_id)?.value) problems.push(`transaction ${t.id} has ${t.points} points`);
  }
  const expected = {};
  for (const [teamId, team] of teams) {
    const bonus = catalog.groups
      .filter((g) => g.tokenIds.every((id) => team.held.has(id)))
      .reduce((sum, g) => sum + g.completionBonus, 0);
    expected[teamId] = team.base + bonus;
  }
  const actual = Object.fromEntries(state.scores.map((s) => [s.teamId, s.score]));
  if (JSON.stringify(Object.entries(actual).sort()) !== JSON.stringify(Object.entries(expected).sort())) {
    problems.push(`scores ${JSON.stringify(actual)} differ from the recomputation ${JSON.stringify(expected)}`);
  }
  return problems;
}

// Command line: the long run, for bench/RESULTS.md.
if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const started = Date.now();
  const result = await runCrashLoop({
    cycles: arg('cycles', 200),
    clients: arg('clients', 5),
    seed: arg('seed', 1),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const problems = verifyCrashLoop(result);
  console.log(JSON.stringify({ ...result.stats, logRecords: result.records.length, problems, seconds: (Date.now() - started) / 1000 }, null, 2));
  process.exit(problems.length ? 1 : 0);
}
