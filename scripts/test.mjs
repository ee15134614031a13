// Runs every *.test.ts under tests/ with node's test runner (TypeScript through tsx).
// Node 20's --test takes no globs, so the files are listed here. Args filter by substring.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}
const filters = process.argv.slice(2);
const files = walk("tests")
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error("no test files matched", filters);
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  [
    "--conditions=onelog-source",
    "--import",
    "tsx",
    "--test",
    "--test-concurrency=2",
    "--test-timeout=180000",
    ...files,
  ],
  { stdio: "inherit" },
);
process.exit(r.status ?? 1);
