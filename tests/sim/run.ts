// `npm run sim -- --seed N` runs one seed; `--seeds N [--from S]` runs N seeds. A failure
// prints its seed and violations and exits 1.
import { simulate } from "./simulator.js";

const args = process.argv.slice(2);
const opt = (name: string): number | undefined => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? undefined : Number(args[i + 1]);
};
const seed = opt("seed");
const from = opt("from") ?? 1;
const count = seed === undefined ? (opt("seeds") ?? 100) : 1;
let failed = 0;
const t0 = Date.now();
for (let i = 0; i < count; i++) {
  const s = seed ?? from + i;
  const r = await simulate({ seed: s });
  if (!r.ok || seed !== undefined) {
    console.log(
      `seed ${s}: ${r.ok ? "ok" : "FAILED"} crashes=${r.crashes} storeReverts=${r.storeReverts} completed=${r.completed} stepReruns=${r.stepReruns} records=${r.records} virtualMs=${r.virtualMs} fingerprint=${r.fingerprint}`,
    );
    for (const v of r.violations) console.log(`  ${v}`);
  }
  if (!r.ok) failed++;
}
console.log(
  `${count - failed} passed, ${failed} failed (${count} seeds in ${((Date.now() - t0) / 1000).toFixed(1)} s)`,
);
process.exit(failed === 0 ? 0 : 1);
