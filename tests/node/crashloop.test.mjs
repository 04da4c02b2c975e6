// The crash-loop harness, short: SIGKILL under load, restart, nothing acknowledged lost or doubled.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { runCrashLoop, verifyCrashLoop } from './crashloop.mjs';

it('survives 6 SIGKILLs under load with every acknowledged scan exactly once', async (t) => {
  // A new seed each run, printed so a failure can be replayed: CRASHLOOP_SEED=<seed>.
  const seed = Number(process.env.CRASHLOOP_SEED ?? Date.now() % 100000);
  t.diagnostic(`seed ${seed} (replay with CRASHLOOP_SEED=${seed})`);
  const result = await runCrashLoop({ cycles: 6, clients: 5, seed });
  assert.ok(result.stats.acked > 50, `only ${result.stats.acked} scans were acknowledged`);
  assert.ok(result.stats.killedInFlight > 0, 'some scans were in flight at a kill');
  assert.deepEqual(verifyCrashLoop(result), []);
});
