// The soak, one minute: mixed good and bad traffic from many clients; every acknowledged write
// is in the log afterwards and the box's memory does not grow after the warm-up.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { runSoak } from './soak.mjs';

it('a minute of mixed valid and hostile traffic: nothing acknowledged lost, memory flat', async (t) => {
  const seed = Number(process.env.SOAK_SEED ?? Date.now() % 100000);
  t.diagnostic(`seed ${seed} (replay with SOAK_SEED=${seed})`);
  // Four stations: the scan ids the box remembers (10,000) fill in about four minutes of the
  // long run's six, and would still be filling here; fewer scans keep that growth small.
  const result = await runSoak({ seconds: 60, sampleEverySecs: 5, warmupSecs: 20, stations: 4, seed });
  t.diagnostic(JSON.stringify({ ...result, samples: result.samples.map((s) => `${s.atSecs}s ${s.rssKib}KiB`) }));
  assert.deepEqual(result.problems, []);
  // The traffic was real: each kind happened, many times.
  assert.ok(result.acked.scans > 400, `only ${result.acked.scans} scans acknowledged`);
  assert.ok(result.acked.predictions >= 4 && result.acked.votes > 20 && result.acked.grants > 10, JSON.stringify(result.acked));
  assert.ok(result.acked.resets >= 3, JSON.stringify(result.acked));
  assert.ok(result.stats.hostile > 100, JSON.stringify(result.stats));
  assert.ok(Object.keys(result.stats.hostileKinds).length >= 10, JSON.stringify(result.stats.hostileKinds));
  assert.ok(result.growth <= 0.10, `RSS grew ${(result.growth * 100).toFixed(1)} % after the warm-up (${result.warm.rssKib} → ${result.final.rssKib} KiB)`);
});
