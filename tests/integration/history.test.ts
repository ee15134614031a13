// Proves completed invocations are kept for history and then purged: plain calls, sends and calls from handlers stay `completed` with their result and journal (sys_invocation, sys_journal, GET /invocations/{id}, /restate/invocation/{id}/output) for their retentions — the handler's, or start({ defaultJournalRetention }) / ONELOG_DEFAULT_JOURNAL_RETENTION — and after expiry their rows, journals and timers are gone from store.db, also across a restart — on real onelog.start() servers with short retentions.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import Database from "better-sqlite3";
import * as onelog from "onelog";
import { eventually, http, query, removeTmpDirs, startServer, tmpDir } from "./admin-harness.js";

/** idempotencyRetention is the completion retention of ingress calls; journalRetention comes from the server. */
const shop = onelog.service({
  name: "Shop",
  options: { idempotencyRetention: { seconds: 4 } },
  handlers: {
    order: async (ctx: onelog.Context, item: string) => {
      const price = await ctx.run("price", () => item.length * 10);
      ctx.serviceSendClient(mailer).confirm(item);
      return { item, price };
    },
    quote: onelog.handlers.handler({ journalRetention: 0 }, async (ctx: onelog.Context, item: string) =>
      ctx.run("quote", () => item.length),
    ),
  },
});

const mailer = onelog.service({
  name: "Mailer",
  handlers: {
    confirm: async (ctx: onelog.Context, item: string) => ctx.run("send", () => `sent ${item}`),
  },
});

/** Rows left in store.db's tables for invocations (status, journal, timers). */
function storeRows(dataDir: string): { status: number; journal: number; timers: number } {
  const db = new Database(path.join(dataDir, "store.db"), { readonly: true });
  try {
    const n = (table: string) => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
    return { status: n("invocation_status"), journal: n("journal"), timers: n("timers") };
  } finally {
    db.close();
  }
}

/** Servers still running when a test fails: stopped after the file, so the runner can exit. */
const running = new Set<onelog.OnelogServer>();
async function serve(more: Partial<onelog.StartOptions> = {}): Promise<onelog.OnelogServer> {
  const server = await startServer([shop, mailer], more);
  running.add(server);
  return server;
}

after(async () => {
  for (const s of running) await s.stop();
  removeTmpDirs();
});

describe("history: completed invocations are kept, then purged", () => {
  it("keeps calls, their sends and their journals for the retentions; after expiry nothing is left, also across a restart", async () => {
    const dataDir = tmpDir("history");
    let server = await serve({ dataDir, defaultJournalRetention: { seconds: 2 } });
    const ids: string[] = [];
    for (const item of ["apple", "kiwi", "fig"]) {
      const r = await http("POST", `${server.ingressUrl}/Shop/order`, JSON.stringify(item));
      assert.equal(r.status, 200);
      ids.push(r.headers.get("x-restate-id")!);
    }
    const admin = server.adminUrl!;
    const rows = await eventually("the sends completed too", async () => {
      const r = await query(
        admin,
        "SELECT id, target, status, invoked_by, invoked_by_id, completion_result, completion_value_utf8, journal_size, completion_retention, journal_retention FROM sys_invocation ORDER BY created_at",
      );
      return r.length === 6 && r.every((x) => x.status === "completed") ? r : undefined;
    });
    const orders = rows.filter((r) => r.target === "Shop/order");
    const sends = rows.filter((r) => r.target === "Mailer/confirm");
    assert.deepEqual(
      orders.map((r) => [
        r.id,
        r.invoked_by,
        r.completion_value_utf8,
        r.completion_retention,
        r.journal_retention,
      ]),
      [
        [ids[0], "ingress", '{"item":"apple","price":50}', "4s", "2s"],
        [ids[1], "ingress", '{"item":"kiwi","price":40}', "4s", "2s"],
        [ids[2], "ingress", '{"item":"fig","price":30}', "4s", "2s"],
      ],
    );
    // A send from a handler keeps status and journal for the journal retention, and names its sender.
    assert.deepEqual(new Set(sends.map((r) => r.invoked_by_id)), new Set(ids));
    assert.ok(sends.every((r) => r.invoked_by === "service" && r.completion_retention === "2s"));
    assert.ok(rows.every((r) => r.journal_size > 0));
    const described = await http("GET", `${admin}/invocations/${ids[0]}`);
    assert.deepEqual(
      described.body.journal.map((e: any) => e.type),
      ["input", "run", "completion", "send", "completion"],
    );
    assert.deepEqual((await http("GET", `${server.ingressUrl}/restate/invocation/${ids[1]}/output`)).body, {
      item: "kiwi",
      price: 40,
    });

    // A restart keeps them, and their cleanup timers still fire.
    await server.stop();
    server = await serve({ dataDir, defaultJournalRetention: { seconds: 2 } });
    assert.equal((await query(server.adminUrl!, "SELECT count(*) AS n FROM sys_invocation"))[0].n, 6);
    // The journals go first (2 s); the ingress calls' status stays for their 4 s.
    await eventually("the journals are dropped", () => {
      const left = storeRows(dataDir);
      return left.journal === 0 && left.status === 3 ? left : undefined;
    });
    const kept = await query(server.adminUrl!, "SELECT status, journal_size FROM sys_invocation");
    assert.deepEqual(kept, [
      { status: "completed", journal_size: 0 },
      { status: "completed", journal_size: 0 },
      { status: "completed", journal_size: 0 },
    ]);
    await eventually("everything is gone: rows, journals, timers", () => {
      const left = storeRows(dataDir);
      return left.status === 0 && left.journal === 0 && left.timers === 0 ? true : undefined;
    });
    assert.equal((await http("GET", `${server.ingressUrl}/restate/invocation/${ids[1]}/output`)).status, 404);
    await server.stop();
  });

  it("a handler's journalRetention 0 keeps the status and result without the journal; the default keeps a journal 24 h", async () => {
    const server = await serve();
    const r = await http("POST", `${server.ingressUrl}/Shop/quote`, '"melon"');
    const id = r.headers.get("x-restate-id")!;
    const d = await http("GET", `${server.adminUrl}/invocations/${id}`);
    assert.equal(d.body.status, "completed");
    assert.equal(d.body.output, "5");
    assert.deepEqual(d.body.journal, []);
    assert.equal(d.body.journal_retention, "0s");
    const services = await http("GET", `${server.adminUrl}/services/Mailer`);
    assert.equal(services.body.handlers[0].journal_retention, "1d");
    await server.stop();
  });

  it("ONELOG_DEFAULT_JOURNAL_RETENTION sets the default; a malformed one is refused at start", async () => {
    const saved = process.env.ONELOG_DEFAULT_JOURNAL_RETENTION;
    try {
      process.env.ONELOG_DEFAULT_JOURNAL_RETENTION = "1h30m";
      const server = await serve();
      const s = await http("GET", `${server.adminUrl}/services/Mailer`);
      assert.equal(s.body.handlers[0].journal_retention, "1h 30m");
      await server.stop();
      process.env.ONELOG_DEFAULT_JOURNAL_RETENTION = "a while";
      await assert.rejects(startServer([mailer]), /ONELOG_DEFAULT_JOURNAL_RETENTION must be a duration/);
    } finally {
      if (saved === undefined) delete process.env.ONELOG_DEFAULT_JOURNAL_RETENTION;
      else process.env.ONELOG_DEFAULT_JOURNAL_RETENTION = saved;
    }
  });
});
