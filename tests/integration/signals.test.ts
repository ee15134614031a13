// Proves named signals work end to end in process: ctx.invocation(id).signal(name).resolve/reject reaches ctx.signal(name) of another invocation — sent before it waits, while it is suspended, across a restart of the server (sys_invocation's waiting_on names it meanwhile), twice with one name (each delivered, in order, without the suspended waiter being re-invoked in a loop), rejected as a TerminalError — by running real handlers in onelog.start() on a temp SQLite dataDir, driving them over HTTP and reading sys_invocation.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as onelog from "onelog";
import { eventually, http, query, removeTmpDirs, silent, tmpDir } from "./admin-harness.js";

after(() => removeTmpDirs());

/** A wait's outcome as data: its value, or the TerminalError it threw. */
async function outcomeOf<T>(p: Promise<T>) {
  try {
    return { ok: await p };
  } catch (e) {
    if (onelog.isTerminalError(e)) return { err: { code: e.code, message: e.message, metadata: e.metadata } };
    throw e;
  }
}

const waiter = onelog.service({
  name: "Waiter",
  handlers: {
    // Suspends 50 ms after it last did something (unless ONELOG_SUSPEND_ALWAYS suspends it at once).
    twice: onelog.handlers.handler({ inactivityTimeout: 50 }, async (ctx: onelog.Context) => {
      const first = await ctx.signal<string>("x");
      const second = await ctx.signal<string>("x");
      return [first, second];
    }),
    once: onelog.handlers.handler({ inactivityTimeout: 50 }, async (ctx: onelog.Context) =>
      outcomeOf(ctx.signal<unknown>("x")),
    ),
    // Sleeps first: a signal sent meanwhile is journaled before the handler waits for it.
    late: onelog.handlers.handler({ inactivityTimeout: 50 }, async (ctx: onelog.Context) => {
      await ctx.sleep({ milliseconds: 300 });
      return ctx.signal<number>("x");
    }),
  },
});

type SignalRequest = { id: string; name: string; value?: unknown; reject?: string; code?: number };

const sender = onelog.service({
  name: "Sender",
  handlers: {
    send: async (ctx: onelog.Context, r: SignalRequest) => {
      const s = ctx.invocation(r.id).signal<unknown>(r.name);
      if (r.reject === undefined) s.resolve(r.value);
      else if (r.code === undefined) s.reject(r.reject);
      else s.reject(new onelog.TerminalError(r.reject, { errorCode: r.code, metadata: { by: "sender" } }));
      return "sent";
    },
  },
});

function startOn(dataDir: string): Promise<onelog.OnelogServer> {
  return onelog.start({ services: [waiter, sender], dataDir, ingressPort: 0, adminPort: 0, logger: silent });
}

async function sendTo(server: onelog.OnelogServer, r: SignalRequest): Promise<void> {
  const res = await http("POST", `${server.ingressUrl}/Sender/send`, r);
  assert.equal(res.status, 200, res.text);
}

async function started(server: onelog.OnelogServer, handler: string): Promise<string> {
  const res = await http("POST", `${server.ingressUrl}/Waiter/${handler}/send`, {});
  assert.equal(res.status, 202, res.text);
  return res.body.invocationId as string;
}

async function statusOf(server: onelog.OnelogServer, id: string): Promise<{ status: string; epoch: number }> {
  const [row] = await query(
    server.adminUrl!,
    "SELECT status, attempt_epoch FROM sys_invocation WHERE id = ?",
    [id],
  );
  return { status: row.status, epoch: row.attempt_epoch };
}

const suspended = (server: onelog.OnelogServer, id: string) =>
  eventually(`${id} is suspended`, async () => (await statusOf(server, id)).status === "suspended");

async function result(server: onelog.OnelogServer, id: string): Promise<unknown> {
  const res = await http("GET", `${server.ingressUrl}/restate/invocation/${id}/attach`);
  assert.equal(res.status, 200, res.text);
  return res.body;
}

describe("named signals, in process", () => {
  it("two signals of one name are both delivered, in order; between them the waiter stays suspended", async () => {
    const server = await startOn(tmpDir("signals"));
    try {
      const id = await started(server, "twice");
      await suspended(server, id);
      await sendTo(server, { id, name: "x", value: "one" });
      // It wakes, takes "one", and suspends again on the second wait: once, not in a loop.
      await eventually("the first signal is journaled and the waiter suspended again", async () => {
        const [row] = await query(server.adminUrl!, "SELECT count(*) AS n FROM sys_journal WHERE id = ?", [
          id,
        ]);
        return row.n === 2 && (await statusOf(server, id)).status === "suspended";
      });
      const before = await statusOf(server, id);
      await new Promise((r) => setTimeout(r, 400));
      assert.deepEqual(await statusOf(server, id), before);
      await sendTo(server, { id, name: "x", value: "two" });
      assert.deepEqual(await result(server, id), ["one", "two"]);
    } finally {
      await server.stop();
    }
  });

  it("a signal sent before the handler waits for it is kept for it", async () => {
    const server = await startOn(tmpDir("signals"));
    try {
      const id = await started(server, "late");
      await sendTo(server, { id, name: "x", value: 7 });
      assert.equal(await result(server, id), 7);
    } finally {
      await server.stop();
    }
  });

  it("a rejected signal rejects the wait with a TerminalError: code 500 for a string, else the error's code and metadata", async () => {
    const server = await startOn(tmpDir("signals"));
    try {
      const a = await started(server, "once");
      const b = await started(server, "once");
      await sendTo(server, { id: a, name: "x", reject: "denied" });
      await sendTo(server, { id: b, name: "x", reject: "gone", code: 410 });
      assert.deepEqual(await result(server, a), { err: { code: 500, message: "denied", metadata: {} } });
      assert.deepEqual(await result(server, b), {
        err: { code: 410, message: "gone", metadata: { by: "sender" } },
      });
    } finally {
      await server.stop();
    }
  });

  it("a suspended waiter gets its signal after the server restarted; a signal to a completed invocation is dropped", async () => {
    const dataDir = tmpDir("signals");
    let server = await startOn(dataDir);
    let id: string;
    try {
      id = await started(server, "once");
      await suspended(server, id);
      const [row] = await query(server.adminUrl!, "SELECT waiting_on FROM sys_invocation WHERE id = ?", [id]);
      assert.deepEqual(JSON.parse(row.waiting_on), {
        completion_ids: [],
        signal_ids: [1],
        signal_names: ["x"],
      });
    } finally {
      await server.stop();
    }
    server = await startOn(dataDir);
    try {
      await sendTo(server, { id, name: "x", value: { after: "restart" } });
      assert.deepEqual(await result(server, id), { ok: { after: "restart" } });
      await sendTo(server, { id, name: "x", value: "too late" });
      assert.deepEqual(await result(server, id), { ok: { after: "restart" } });
    } finally {
      await server.stop();
    }
  });
});
