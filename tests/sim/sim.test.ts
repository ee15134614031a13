// Proves the engine keeps its invariants under crashes, lost unflushed writes, store rollbacks, slow flushes and clock skew, by running the deterministic simulator over a fixed set of seeds.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { simulate } from "./simulator.js";

const SEEDS = Number(process.env.ONELOG_SIM_SEEDS ?? 150);

void describe("deterministic simulator", () => {
  void it(`keeps every invariant for seeds 1..${SEEDS}`, async (t) => {
    let crashes = 0;
    let reverts = 0;
    let reruns = 0;
    let records = 0;
    const failures: string[] = [];
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = await simulate({ seed });
      crashes += r.crashes;
      reverts += r.storeReverts;
      reruns += r.stepReruns;
      records += r.records;
      if (!r.ok)
        failures.push(`seed ${seed} (rerun: npm run sim -- --seed ${seed}):\n  ${r.violations.join("\n  ")}`);
      assert.equal(r.completed, 24, `seed ${seed}: every request completes`);
    }
    t.diagnostic(
      `${SEEDS} seeds: ${crashes} crashes, ${reverts} store rollbacks, ${reruns} step re-runs before durability, ${records} records`,
    );
    assert.deepEqual(failures, []);
    assert.ok(crashes >= SEEDS * 2, "the runs really crashed");
  });

  void it("reproduces a run exactly from its seed", async () => {
    const a = await simulate({ seed: 4242 });
    const b = await simulate({ seed: 4242 });
    const c = await simulate({ seed: 4243 });
    assert.equal(a.fingerprint, b.fingerprint);
    assert.equal(a.records, b.records);
    assert.equal(a.crashes, b.crashes);
    assert.notEqual(a.fingerprint, c.fingerprint);
  });
});
