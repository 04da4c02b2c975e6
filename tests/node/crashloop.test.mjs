// The crash-loop harness, short: SIGKILL under load, restart, nothing acknowledged lost or doubled.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { runCrashLoop, verifyCrashLoop } from './crashloop.mjs';

it('survives 6 SIGKILLs under load with every acknowledged scan exactly once', async () => {
  const result = await runCrashLoop({ cycles: 6, clients: 5, seed: Date.now() % 100000 });
  assert.ok(result.stats.acked > 50, `only ${result.stats.acked} scans were acknowledged`);
  assert.ok(result.stats.killedInFlight > 0, 'some scans were in flight at a kill');
  assert.deepEqual(verifyCrashLoop(result), []);
});
