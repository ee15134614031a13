// Proves the ingress and the invoker push back at their limits instead of exhausting memory or retrying forever (journal entries and outputs over 4 MiB → a terminal 413 OL1015; more than maxInflightRequests → 503 OL1016 with Retry-After; a body over maxRequestBytes → 413 OL1004) by running real handlers in onelog.start() on a temp SQLite dataDir and calling them over HTTP.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as onelog from "onelog";

const MiB = 1024 * 1024;
/** MAX_ENTRY_BYTES of invoker.ts, as the error message must name it. */
const ENTRY_LIMIT = 4 * MiB;

const silent: onelog.Logger = { debug() {}, info() {}, warn() {}, error() {} };
const tmpDirs: string[] = [];
const servers: onelog.OnelogServer[] = [];

after(async () => {
  for (const s of servers) await s.stop();
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

async function startServer(
  services: onelog.AnyDefinition[],
  extra: Partial<onelog.StartOptions> = {},
): Promise<onelog.OnelogServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-limits-"));
  tmpDirs.push(dataDir);
  const server = await onelog.start({
    services,
    dataDir,
    ingressPort: 0,
    adminPort: false,
    logger: silent,
    ...extra,
  });
  servers.push(server);
  return server;
}

type Reply = { status: number; headers: Headers; body: any };

async function post(
  base: string,
  p: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await fetch(base + p, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  if (text !== "" && (res.headers.get("content-type") ?? "").includes("json")) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed };
}

/** A 413 whose JSON body names OL1015 and the 4 MiB limit. */
function assertEntryTooLarge(r: Reply, what: RegExp): void {
  assert.equal(r.status, 413, JSON.stringify(r.body).slice(0, 300));
  assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
  assert.equal(r.body.code, 413);
  assert.match(r.body.message, /OL1015/);
  assert.match(r.body.message, new RegExp(`limit of a journal entry is ${ENTRY_LIMIT} bytes`));
  assert.match(r.body.message, what);
}

async function eventually(what: string, cond: () => boolean, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ---------------------------------------------------------------------------------------------
// Handlers. Step bodies count their runs, so a retried attempt would show.

const runs = new Map<string, number>();
const count = (name: string) => runs.set(name, (runs.get(name) ?? 0) + 1);

const big = onelog.service({
  name: "Big",
  handlers: {
    runResult: async (ctx: onelog.Context, name: string) => {
      const s = await ctx.run("huge", () => {
        count(name);
        return "x".repeat(5 * MiB);
      });
      count(`${name}/after`);
      return s.length;
    },
    output: async (ctx: onelog.Context, name: string) => {
      await ctx.run("count", () => count(name));
      return "y".repeat(ENTRY_LIMIT + 16);
    },
  },
});

const box = onelog.object({
  name: "Box",
  handlers: {
    put: async (ctx: onelog.ObjectContext, bytes: number) => {
      ctx.set("value", "z".repeat(bytes));
      return "stored";
    },
    length: async (ctx: onelog.ObjectContext) => ((await ctx.get<string>("value")) ?? "").length,
  },
});

/** Awakeable ids published by `Gate/wait`, by name. */
const gates = new Map<string, string>();

const gate = onelog.service({
  name: "Gate",
  handlers: {
    wait: async (ctx: onelog.Context, name: string) => {
      const awk = ctx.awakeable<string>();
      await ctx.run("publish", () => {
        gates.set(name, awk.id);
      });
      return `${name}: ${await awk.promise}`;
    },
    ping: async (_ctx: onelog.Context, name: string) => `pong ${name}`,
  },
});

// ---------------------------------------------------------------------------------------------

void describe("journal entries over 4 MiB (OL1015)", () => {
  let server: onelog.OnelogServer;
  before(async () => {
    server = await startServer([big, box]);
  });

  it("a ctx.run returning 5 MiB: 413 naming the limit, the step ran once, and the invocation is completed, not retried", async () => {
    const r = await post(server.ingressUrl, "/Big/runResult", "r1", { "idempotency-key": "r1" });
    assertEntryTooLarge(r, /Run 'huge' is 5242882 bytes/);
    const id = r.headers.get("x-restate-id");
    assert.ok(id !== null);
    const found = server.engine.output(id);
    assert.equal(found.state, "completed", "the invocation must end, not stay running");
    assert.ok(found.state === "completed" && "err" in found.result && found.result.err.code === 413);
    // Asking again answers the stored failure: the step is not run again.
    const again = await post(server.ingressUrl, "/Big/runResult", "r1", { "idempotency-key": "r1" });
    assertEntryTooLarge(again, /Run 'huge'/);
    assert.equal(again.headers.get("x-restate-id"), id);
    assert.equal(runs.get("r1"), 1, "the step ran more than once: the invocation was retried");
    assert.equal(runs.get("r1/after"), undefined, "the handler went on past the refused step");
  });

  it("a handler output over 4 MiB: 413 naming the limit, once", async () => {
    const r = await post(server.ingressUrl, "/Big/output", "o1", { "idempotency-key": "o1" });
    assertEntryTooLarge(r, /output is 4194322 bytes/);
    assert.equal(server.engine.output(r.headers.get("x-restate-id")!).state, "completed");
    assert.equal(runs.get("o1"), 1);
  });

  it("ctx.set of a 5 MiB value in an object: 413, nothing stored, and the key takes new calls", async () => {
    const r = await post(server.ingressUrl, "/Box/k1/put", 5 * MiB);
    assertEntryTooLarge(r, /SetState 'value' is 5242882 bytes/);
    const len = await post(server.ingressUrl, "/Box/k1/length", null);
    assert.equal(len.status, 200);
    assert.equal(len.body, 0, "the refused value was stored");
    const small = await post(server.ingressUrl, "/Box/k1/put", 1000);
    assert.deepEqual([small.status, small.body], [200, "stored"]);
    assert.equal((await post(server.ingressUrl, "/Box/k1/length", null)).body, 1000);
  });
});

void describe("ingress limits", () => {
  let server: onelog.OnelogServer;
  before(async () => {
    server = await startServer([gate], { maxInflightRequests: 2, maxRequestBytes: 1024 });
  });

  it("maxInflightRequests 2: with two calls blocked on awakeables a third gets 503 OL1016 with retry-after and stores nothing; after the resolves new calls work", async () => {
    const first = post(server.ingressUrl, "/Gate/wait", "a");
    const second = post(server.ingressUrl, "/Gate/wait", "b");
    await eventually("both calls wait on their awakeables", () => gates.has("a") && gates.has("b"));

    const third = await post(server.ingressUrl, "/Gate/wait", "c", { "idempotency-key": "c" });
    assert.equal(third.status, 503, JSON.stringify(third.body));
    assert.match(third.headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(third.body.onelog_code, "OL1016");
    assert.match(third.body.message, /more than 2 requests are in flight/);
    assert.match(third.headers.get("retry-after") ?? "", /^\d+$/);
    const thirdId = server.engine.invocationIdFor({
      target: { service: "Gate", handler: "wait" },
      idempotencyKey: "c",
    });
    assert.equal(server.engine.output(thirdId).state, "not_found", "a refused request was stored");
    assert.equal(gates.has("c"), false);

    // The awakeables are resolved in-process: over HTTP the resolve would be a third request too.
    for (const name of ["a", "b"]) {
      await server.engine.completeAwakeable(gates.get(name)!, { ok: Buffer.from(JSON.stringify("open")) });
    }
    const answers = await Promise.all([first, second]);
    assert.deepEqual(
      answers.map((a) => [a.status, a.body]),
      [
        [200, "a: open"],
        [200, "b: open"],
      ],
    );
    const results = await Promise.all(["d", "e"].map((n) => post(server.ingressUrl, "/Gate/ping", n)));
    assert.deepEqual(
      results.map((a) => [a.status, a.body]),
      [
        [200, "pong d"],
        [200, "pong e"],
      ],
    );
  });

  it("with every in-flight slot taken by calls waiting on awakeables, resolving one over HTTP still gets through", async () => {
    const first = post(server.ingressUrl, "/Gate/wait", "x");
    const second = post(server.ingressUrl, "/Gate/wait", "y");
    await eventually("both calls wait on their awakeables", () => gates.has("x") && gates.has("y"));
    try {
      const res = await fetch(`${server.ingressUrl}/restate/awakeables/${gates.get("x")!}/resolve`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify("over http"),
      });
      const text = await res.text();
      assert.equal(res.status, 202, `the resolve was refused: ${res.status} ${text}`);
      assert.deepEqual([(await first).status, (await first).body], [200, "x: over http"]);
    } finally {
      for (const name of ["x", "y"]) {
        await server.engine
          .completeAwakeable(gates.get(name)!, { ok: Buffer.from(JSON.stringify("open")) })
          .catch(() => {});
      }
      await Promise.all([first, second]);
    }
  });

  it("a request body over maxRequestBytes: 413 OL1004", async () => {
    const r = await post(server.ingressUrl, "/Gate/ping", "x".repeat(2048));
    assert.deepEqual([r.status, r.body.onelog_code], [413, "OL1004"]);
  });
});
