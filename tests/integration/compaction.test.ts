// Proves log trimming loses nothing: with a short compaction interval the embedded server trims applied records from log.db, and after a restart idempotent calls still get their first answers without re-running steps.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import * as onelog from "onelog";

const silent: onelog.Logger = { debug() {}, info() {}, warn() {}, error() {} };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-compaction-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let runs = 0;
const counter = onelog.service({
  name: "Once",
  handlers: {
    go: async (ctx: onelog.Context, n: number) => ctx.run("count", () => ({ n, run: ++runs })),
  },
});

async function call(base: string, key: string, n: number): Promise<unknown> {
  const res = await fetch(`${base}/Once/go`, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify(n),
  });
  assert.equal(res.status, 200);
  return res.json();
}

function logRows(): number {
  const db = new Database(path.join(dir, "log.db"), { readonly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM log").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

void describe("log compaction", () => {
  void it("refuses an interval Node's timers cannot hold (it would run every millisecond)", async () => {
    for (const compactIntervalMs of [2 ** 31, 0, 1.5]) {
      await assert.rejects(
        onelog.start({
          services: [counter],
          dataDir: dir,
          ingressPort: 0,
          adminPort: false,
          logger: silent,
          compactIntervalMs,
        }),
        (e: unknown) =>
          e instanceof TypeError && /compactIntervalMs must be a whole number of ms/.test(e.message),
      );
    }
  });

  void it("trims applied records and keeps every answer across a restart", async () => {
    const opts = {
      services: [counter],
      dataDir: dir,
      ingressPort: 0,
      adminPort: false as const,
      logger: silent,
    };
    let server = await onelog.start({ ...opts, compactIntervalMs: 100 });
    const first: unknown[] = [];
    for (let i = 0; i < 20; i++) first.push(await call(server.ingressUrl, `k${i}`, i));
    assert.equal(runs, 20);
    const before = logRows();
    // Wait (bounded) for a compaction pass to trim what was applied.
    for (let i = 0; i < 50 && logRows() >= before; i++) await new Promise((r) => setTimeout(r, 50));
    // 20 calls appended at least 60 records: 0 rows left means a pass already trimmed them
    // (on a loaded machine the 100 ms pass can run before the first count).
    assert.ok(before === 0 || logRows() < before, `log rows ${logRows()} should drop below ${before}`);
    await server.stop();

    server = await onelog.start(opts);
    for (let i = 0; i < 20; i++) assert.deepEqual(await call(server.ingressUrl, `k${i}`, i), first[i]);
    assert.equal(runs, 20, "no step ran again");
    assert.deepEqual(await call(server.ingressUrl, "new", 99), { n: 99, run: 21 });
    await server.stop();
  });
});
