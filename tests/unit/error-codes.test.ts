// Proves there is one table of error codes: every code in errors.ts has its page under docs/errors/ and a row in the index with the same HTTP status, every page is in the table, and every "OLnnnn" code the sources use is in it — by reading the table, the docs folder and the sources.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { ErrorCodes, type ErrorCode } from "../../packages/onelog/src/internal/errors.js";

const root = path.resolve(import.meta.dirname, "../..");
const docs = path.join(root, "docs/errors");

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith(".ts")) out.push(p);
  }
  return out;
}

describe("error codes: one table", () => {
  const codes = Object.keys(ErrorCodes) as ErrorCode[];

  it("every code has its page, and every page is in the table", () => {
    const pages = readdirSync(docs)
      .filter((f) => /^OL\d{4}\.md$/.test(f))
      .map((f) => f.slice(0, -3))
      .sort();
    assert.deepEqual(pages, [...codes].sort());
  });

  it("the index lists every code with the table's HTTP status", () => {
    const index = readFileSync(path.join(docs, "README.md"), "utf8");
    for (const code of codes) {
      const row = index.split("\n").find((l) => l.startsWith(`| [${code}](${code}.md)`));
      assert.ok(row !== undefined, `${code} is not in docs/errors/README.md`);
      const status = row.split("|")[2]!.trim();
      const expected = ErrorCodes[code].status;
      assert.equal(status, expected === null ? "–" : String(expected), `${code}: status in the index`);
    }
  });

  it("every code the sources use is in the table", () => {
    const used = new Set<string>();
    for (const file of sources(path.join(root, "packages"))) {
      for (const m of readFileSync(file, "utf8").matchAll(/\bOL\d{4}\b/g)) used.add(m[0]);
    }
    const unknown = [...used].filter((c) => !(c in ErrorCodes)).sort();
    assert.deepEqual(unknown, [], `codes used but not in errors.ts: ${unknown.join(", ")}`);
  });
});
