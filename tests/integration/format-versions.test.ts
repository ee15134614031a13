// Proves a data directory, store or log written in another format (the format 1 of onelog before versions, an older version after a bump, a newer one) is refused by start() and the open functions with DataFormatError OL1022 saying what to do, before any file is read or changed, that a log record of another format stops its partition unapplied, while a fresh directory records the current versions and restarts cleanly — with real onelog.start() calls and real SQLite files in temp dirs.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import * as onelog from "onelog";
import { removeTmpDirs, silent, tmpDir } from "./admin-harness.js";
import {
  DATA_DIR_FORMAT,
  DataFormatError,
  LOG_FORMAT,
  RECORD_FORMAT,
  STORE_FORMAT,
} from "../../packages/onelog/src/internal/format-versions.js";
import { SqliteStoreDb } from "../../packages/onelog/src/internal/partition/store/sqlite-store.js";
import { Engine } from "../../packages/onelog/src/internal/engine.js";
import { MemoryLog } from "../../packages/onelog/src/internal/log/memory-log.js";
import { encodeRecord } from "../../packages/onelog/src/internal/partition/codec.js";
import { MemoryStore } from "../../packages/onelog/src/internal/partition/store/memory-store.js";
import { systemClock } from "../../packages/onelog/src/internal/clock.js";

after(removeTmpDirs);

const greeter = onelog.service({
  name: "Greeter",
  handlers: { greet: async (ctx: onelog.Context, name: string) => ctx.run("compose", () => `hello ${name}`) },
});

const start = (dataDir: string) =>
  onelog.start({ services: [greeter], dataDir, ingressPort: 0, adminPort: false, logger: silent });

/** Every file in a directory with its bytes, to show a refusal changed nothing. */
function contents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort())
    out[name] = fs.readFileSync(path.join(dir, name)).toString("base64");
  return out;
}

const refused = (pattern: RegExp) => (e: unknown) =>
  e instanceof DataFormatError && e.code === "OL1022" && /OL1022/.test(e.message) && pattern.test(e.message);

void describe("format versions", { timeout: 60_000 }, () => {
  void it("a new data directory records every format version, and restarts with it", async () => {
    const dir = tmpDir("formats");
    let server = await start(dir);
    await server.stop();
    const meta = JSON.parse(fs.readFileSync(path.join(dir, "meta.json"), "utf8")) as Record<string, number>;
    assert.deepEqual(meta, {
      format: DATA_DIR_FORMAT,
      recordFormat: RECORD_FORMAT,
      storeFormat: STORE_FORMAT,
      logFormat: LOG_FORMAT,
      partitions: 4,
    });
    const store = new Database(path.join(dir, "store.db"), { readonly: true });
    assert.equal(store.pragma("user_version", { simple: true }), STORE_FORMAT);
    store.close();
    server = await start(dir);
    await server.stop();
  });

  void it("refuses a format-1 data directory (today's meta.json without versions) and changes nothing in it", async () => {
    const dir = tmpDir("formats");
    // What onelog wrote before format versions: meta.json with format 1, a store.db with tables.
    fs.writeFileSync(
      path.join(dir, "meta.json"),
      JSON.stringify({ format: 1, partitions: 4 }, null, 2) + "\n",
    );
    const db = new Database(path.join(dir, "store.db"));
    db.exec("CREATE TABLE partition_meta (partition INTEGER PRIMARY KEY, applied_lsn INTEGER NOT NULL)");
    db.close();
    const before = contents(dir);
    await assert.rejects(
      start(dir),
      refused(
        /data directory .* has format 1; this onelog reads format \d+ — it was written by an older onelog/,
      ),
    );
    assert.deepEqual(contents(dir), before, "nothing was created or changed");
  });

  void it("refuses a data directory after a record or store format bump (older) and one from a newer onelog", async () => {
    const cases: [string, Record<string, number>, RegExp][] = [
      ["recordFormat", { recordFormat: RECORD_FORMAT - 1 }, /records in data directory .*older onelog/],
      ["storeFormat", { storeFormat: STORE_FORMAT - 1 }, /store in data directory .*older onelog/],
      ["logFormat", { logFormat: LOG_FORMAT + 1 }, /log in data directory .*newer onelog/],
    ];
    for (const [name, change, pattern] of cases) {
      const dir = tmpDir("formats");
      const server = await start(dir);
      await server.stop();
      const metaPath = path.join(dir, "meta.json");
      const meta = JSON.parse(fs.readFileSync(metaPath, "utf8")) as Record<string, number>;
      fs.writeFileSync(metaPath, JSON.stringify({ ...meta, ...change }));
      const before = contents(dir);
      await assert.rejects(start(dir), refused(pattern), name);
      assert.deepEqual(contents(dir), before, `${name}: nothing changed`);
    }
  });

  void it("SqliteStoreDb refuses a format-1 store (tables, no user_version) and a store of another version", () => {
    const dir = tmpDir("formats");
    const v1 = path.join(dir, "v1.db");
    const db = new Database(v1);
    db.exec("CREATE TABLE state (service TEXT, key TEXT, name TEXT, value BLOB)");
    db.close();
    assert.throws(() => SqliteStoreDb.open(v1), refused(/store .*v1\.db has format 1/));
    const newer = path.join(dir, "newer.db");
    SqliteStoreDb.open(newer).close();
    const raw = new Database(newer);
    raw.pragma(`user_version = ${STORE_FORMAT + 1}`);
    raw.close();
    assert.throws(() => SqliteStoreDb.open(newer), refused(/newer onelog/));
    SqliteStoreDb.open(path.join(dir, "fresh.db")).close(); // an empty file is made current
  });

  void it("a log record with an unknown format byte stops its partition with OL1022 instead of being applied", async () => {
    const log = new MemoryLog({ partitions: 1 });
    const good = encodeRecord({ header: { at: 1 }, body: { type: "resume", invocationId: "inv_x" } });
    const bad = Uint8Array.from(good.payload);
    bad[1] = RECORD_FORMAT + 1;
    await log.append(0, [{ header: {}, payload: bad }]);
    const store = new MemoryStore(0);
    await assert.rejects(
      Engine.start({ log, storeFor: () => store, clock: systemClock, logger: silent, services: [greeter] }),
      refused(/log entry at LSN 1 has format \d+; .*newer onelog/),
    );
    assert.equal(store.getAppliedLsn(), 0, "nothing of it was applied");
  });
});
