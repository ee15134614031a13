// Proves virtual objects keep their promises (one exclusive handler per key at a time, in arrival order; keys independent; shared handlers concurrent and read-only; the state API; lazy state beyond the eager limit) by running real object handlers in onelog.start() on a temp SQLite dataDir and calling them over HTTP.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as onelog from "onelog";
import { eventually, get, post, silent, tmpDir } from "./http-harness.js";

// ---------------------------------------------------------------------------------------------
// Helpers

// ---------------------------------------------------------------------------------------------
// The objects under test.

/** Awakeable ids published by handlers, by gate name (published from a ctx.run: once). */
const gates = new Map<string, string>();

const tally = onelog.object({
  name: "Tally",
  handlers: {
    /** Read, wait, write: concurrent runs for one key would lose updates or reorder them. */
    add: async (ctx: onelog.ObjectContext, n: number) => {
      const count = (await ctx.get<number>("count")) ?? 0;
      const order = (await ctx.get<number[]>("order")) ?? [];
      await ctx.sleep(5);
      ctx.set("count", count + 1);
      ctx.set("order", [...order, n]);
      return count + 1;
    },
    /** Holds the key's lock until the test resolves the awakeable published under `gate`. */
    hold: async (ctx: onelog.ObjectContext, gate: string) => {
      const awk = ctx.awakeable<string>();
      await ctx.run("publish", () => {
        gates.set(gate, awk.id);
      });
      const value = await awk.promise;
      ctx.set("held", value);
      return `released ${value}`;
    },
    /** An exclusive handler calling a shared handler of its own key: the shared one needs no lock. */
    addAndView: async (ctx: onelog.ObjectContext, n: number) => {
      ctx.set("count", ((await ctx.get<number>("count")) ?? 0) + n);
      return ctx.genericCall({
        service: "Tally",
        method: "view",
        key: ctx.key,
        parameter: undefined,
        inputSerde: onelog.serde.json,
        outputSerde: onelog.serde.json,
      });
    },
    view: onelog.handlers.object.shared(async (ctx: onelog.ObjectSharedContext) => ({
      count: (await ctx.get<number>("count")) ?? 0,
      order: (await ctx.get<number[]>("order")) ?? [],
      held: await ctx.get<string>("held"),
    })),
  },
});

const bag = onelog.object({
  name: "Bag",
  handlers: {
    put: async (ctx: onelog.ObjectContext, entries: Record<string, unknown>) => {
      for (const [k, v] of Object.entries(entries)) ctx.set(k, v);
      return ctx.stateKeys();
    },
    remove: async (ctx: onelog.ObjectContext, name: string) => {
      ctx.clear(name);
      return { value: await ctx.get(name), keys: await ctx.stateKeys() };
    },
    wipe: async (ctx: onelog.ObjectContext) => {
      ctx.clearAll();
      return { keys: await ctx.stateKeys(), a: await ctx.get("a") };
    },
    read: onelog.handlers.object.shared(async (ctx: onelog.ObjectSharedContext, name: string) => ({
      value: await ctx.get(name),
      keys: await ctx.stateKeys(),
    })),
    whoami: async (ctx: onelog.ObjectContext) => ctx.key,
    whoamiShared: onelog.handlers.object.shared(async (ctx: onelog.ObjectSharedContext) => ctx.key),
    /** A shared handler that tries to write (through a cast, as plain JS could). */
    sharedSet: onelog.handlers.object.shared(async (ctx: onelog.ObjectSharedContext) => {
      (ctx as unknown as onelog.ObjectContext).set("a", "overwritten");
      return "wrote";
    }),
    /** Tries every write and reports what each threw. */
    sharedWrites: onelog.handlers.object.shared(async (ctx: onelog.ObjectSharedContext) => {
      const w = ctx as unknown as onelog.ObjectContext;
      const attempts: Record<string, () => void> = {
        set: () => w.set("a", "overwritten"),
        clear: () => w.clear("a"),
        clearAll: () => w.clearAll(),
      };
      const out: Record<string, { terminal: boolean; message: string } | "no error"> = {};
      for (const [name, f] of Object.entries(attempts)) {
        try {
          f();
          out[name] = "no error";
        } catch (e) {
          out[name] = { terminal: onelog.isTerminalError(e), message: (e as Error).message };
        }
      }
      return out;
    }),
  },
});

const big = onelog.object({
  name: "Big",
  handlers: {
    fill: async (ctx: onelog.ObjectContext, entry: { name: string; value: string }) => {
      ctx.set(entry.name, entry.value);
    },
    /** Reads every entry (exclusive: gets eager state, incomplete beyond the limit). */
    readAll: async (ctx: onelog.ObjectContext) => {
      const out: Record<string, string | null> = {};
      for (const name of await ctx.stateKeys()) out[name] = await ctx.get<string>(name);
      out["missing"] = await ctx.get<string>("missing");
      return out;
    },
    readAllShared: onelog.handlers.object.shared(async (ctx: onelog.ObjectSharedContext) => {
      const out: Record<string, string | null> = {};
      for (const name of await ctx.stateKeys()) out[name] = await ctx.get<string>(name);
      return out;
    }),
    /** Reads one big entry, appends to it, writes it back. */
    append: async (ctx: onelog.ObjectContext, entry: { name: string; suffix: string }) => {
      const v = (await ctx.get<string>(entry.name)) ?? "";
      ctx.set(entry.name, v + entry.suffix);
      return (v + entry.suffix).length;
    },
  },
});

/** A 100 KiB string that differs per seed, so a mixed-up read is noticed. */
function bigValue(seed: number): string {
  let s = "";
  for (let i = 0; s.length < 100 * 1024; i++) s += String.fromCharCode(97 + ((i * 7 + seed) % 26));
  return s.slice(0, 100 * 1024);
}

// ---------------------------------------------------------------------------------------------

describe("virtual objects", () => {
  let server: onelog.OnelogServer;
  let base: string;

  before(async () => {
    server = await onelog.start({
      services: [tally, bag, big],
      dataDir: tmpDir("onelog-objects-"),
      ingressPort: 0,
      adminPort: 0,
      logger: silent,
    });
    base = server.ingressUrl;
  });
  after(async () => {
    await server?.stop();
  });

  const gate = (name: string) => eventually(`gate ${name} published`, () => gates.get(name));
  const open = async (name: string, value: string) => {
    const id = await gate(name);
    const r = await fetch(`${base}/restate/awakeables/${id}/resolve`, {
      method: "POST",
      body: JSON.stringify(value),
    });
    assert.equal(r.status, 202);
  };
  const attach = (id: string) => get(`${base}/restate/invocation/${id}/attach`);

  describe("exclusive handlers of one key", () => {
    it("20 concurrent adds to one key: the count is exact, each add saw the ones before it, in the log's arrival order", async () => {
      const n = 20;
      const sends = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          post(`${base}/Tally/concurrent/add/send`, i, { "idempotency-key": `concurrent-${i}` }),
        ),
      );
      for (const s of sends) assert.equal(s.status, 202, JSON.stringify(s.body));
      const ids = sends.map((s) => s.body.invocationId as string);
      const results = await Promise.all(ids.map(attach));
      for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));

      const view = await post(`${base}/Tally/concurrent/view`);
      assert.equal(view.body.count, n);
      const order = view.body.order as number[];
      assert.deepEqual(
        [...order].sort((a, b) => a - b),
        Array.from({ length: n }, (_, i) => i),
      );
      // Add i returned its position in the applied order: the handlers ran one after the other.
      for (let i = 0; i < n; i++) assert.equal(results[i]!.body, order.indexOf(i) + 1, `add ${i}`);

      // Arrival order: the LSN of each Invoke record in the key's partition (admin status).
      const statuses = await Promise.all(ids.map((id) => get(`${server.adminUrl}/invocations/${id}`)));
      const byArrival = statuses
        .map((s, i) => ({ i, lsn: s.body.created_lsn as number }))
        .sort((a, b) => a.lsn - b.lsn)
        .map((x) => x.i);
      assert.deepEqual(order, byArrival);
    });

    it("adds queued behind a blocked exclusive handler run after it, one at a time, in the order they were sent", async () => {
      const holder = await post(`${base}/Tally/queued/hold/send`, "q", { "idempotency-key": "queued-hold" });
      await gate("q");
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const s = await post(`${base}/Tally/queued/add/send`, i, { "idempotency-key": `queued-${i}` });
        ids.push(s.body.invocationId as string);
      }
      // All five wait for the key's lock.
      for (const id of ids) {
        const out = await get(`${base}/restate/invocation/${id}/output`);
        assert.equal(out.status, 470, JSON.stringify(out.body));
      }
      assert.equal((await post(`${base}/Tally/queued/view`)).body.count, 0);
      await open("q", "go");
      assert.equal((await attach(holder.body.invocationId)).body, "released go");
      const results = await Promise.all(ids.map(attach));
      assert.deepEqual(
        results.map((r) => r.body),
        [1, 2, 3, 4, 5],
      );
      const view = await post(`${base}/Tally/queued/view`);
      assert.deepEqual(view.body, { count: 5, order: [0, 1, 2, 3, 4], held: "go" });
    });
  });

  describe("keys and shared handlers", () => {
    it("a handler blocked on an awakeable for key A does not block key B; A's next exclusive call waits for it", async () => {
      const holder = await post(`${base}/Tally/keyA/hold/send`, "A", { "idempotency-key": "keyA-hold" });
      await gate("A");
      const b = await post(`${base}/Tally/keyB/add`, 1);
      assert.equal(b.status, 200);
      assert.equal(b.body, 1);
      const queued = await post(`${base}/Tally/keyA/add/send`, 7, { "idempotency-key": "keyA-add" });
      const early = await get(`${base}/restate/invocation/${queued.body.invocationId}/output`);
      assert.equal(early.status, 470, "the add on key A waits for the lock");
      const holderEarly = await get(`${base}/restate/invocation/${holder.body.invocationId}/output`);
      assert.equal(holderEarly.status, 470, "key A's holder is still blocked after key B's call");
      await open("A", "a");
      assert.equal((await attach(holder.body.invocationId)).body, "released a");
      assert.equal((await attach(queued.body.invocationId)).body, 1);
      assert.deepEqual((await post(`${base}/Tally/keyA/view`)).body, { count: 1, order: [7], held: "a" });
    });

    it("shared handlers run while an exclusive one is blocked and see the state committed before it", async () => {
      assert.equal((await post(`${base}/Tally/shared/add`, 3)).body, 1);
      const holder = await post(`${base}/Tally/shared/hold/send`, "S", { "idempotency-key": "shared-hold" });
      await gate("S");
      const views = await Promise.all([1, 2, 3].map(() => post(`${base}/Tally/shared/view`)));
      for (const v of views) {
        assert.equal(v.status, 200);
        assert.deepEqual(v.body, { count: 1, order: [3], held: null });
      }
      assert.equal((await get(`${base}/restate/invocation/${holder.body.invocationId}/output`)).status, 470);
      await open("S", "s");
      await attach(holder.body.invocationId);
      assert.deepEqual((await post(`${base}/Tally/shared/view`)).body, { count: 1, order: [3], held: "s" });
    });
  });

  it("an exclusive handler can call a shared handler of its own key (no deadlock) and it sees the write", async () => {
    const r = await post(`${base}/Tally/self/addAndView`, 4);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { count: 4, order: [], held: null });
  });

  describe("the state API", () => {
    it("ctx.set / get / stateKeys / clear / clearAll, kept between calls", async () => {
      const put = await post(`${base}/Bag/b1/put`, { a: 1, b: { nested: [true] }, c: "three" });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.deepEqual(put.body, ["a", "b", "c"]);
      assert.deepEqual((await post(`${base}/Bag/b1/read`, "b")).body, {
        value: { nested: [true] },
        keys: ["a", "b", "c"],
      });
      assert.deepEqual((await post(`${base}/Bag/b1/read`, "zzz")).body, {
        value: null,
        keys: ["a", "b", "c"],
      });
      assert.deepEqual((await post(`${base}/Bag/b1/remove`, "b")).body, { value: null, keys: ["a", "c"] });
      assert.deepEqual((await post(`${base}/Bag/b1/read`, "b")).body, { value: null, keys: ["a", "c"] });
      // Other keys of the same object have their own state.
      assert.deepEqual((await post(`${base}/Bag/b2/read`, "a")).body, { value: null, keys: [] });
      assert.deepEqual((await post(`${base}/Bag/b1/wipe`)).body, { keys: [], a: null });
      assert.deepEqual((await post(`${base}/Bag/b1/read`, "a")).body, { value: null, keys: [] });
    });

    it("ctx.key is the key from the path (percent-decoded), in exclusive and shared handlers", async () => {
      const key = "user 1/é";
      const enc = encodeURIComponent(key);
      assert.equal((await post(`${base}/Bag/${enc}/whoami`)).body, key);
      assert.equal((await post(`${base}/Bag/${enc}/whoamiShared`)).body, key);
    });

    it("a shared handler calling ctx.set / clear / clearAll gets a TerminalError, and the state is unchanged", async () => {
      await post(`${base}/Bag/ro/put`, { a: "original" });
      const caught = await post(`${base}/Bag/ro/sharedWrites`);
      assert.equal(caught.status, 200, JSON.stringify(caught.body));
      for (const what of ["set", "clear", "clearAll"]) {
        const r = caught.body[what];
        assert.equal(r.terminal, true, `${what}: ${JSON.stringify(r)}`);
        assert.match(r.message, /not allowed/);
      }
      const uncaught = await post(`${base}/Bag/ro/sharedSet`);
      assert.equal(uncaught.status, 500);
      assert.equal(uncaught.body.code, 500);
      assert.match(uncaught.body.message, /ctx\.set is not allowed/);
      assert.deepEqual((await post(`${base}/Bag/ro/read`, "a")).body, { value: "original", keys: ["a"] });
    });

    it("state larger than the eager limit (3 × 100 KiB) is read correctly, by exclusive and shared handlers", async () => {
      const values: Record<string, string> = { a: bigValue(1), b: bigValue(2), c: bigValue(3) };
      for (const [name, value] of Object.entries(values)) {
        const r = await post(`${base}/Big/large/fill`, { name, value });
        assert.equal(r.status, 200, JSON.stringify(r.body));
      }
      const all = await post(`${base}/Big/large/readAll`);
      assert.equal(
        all.status,
        200,
        typeof all.body === "string" ? all.body : JSON.stringify(all.body).slice(0, 300),
      );
      assert.deepEqual(all.body, { ...values, missing: null });
      const shared = await post(`${base}/Big/large/readAllShared`);
      assert.deepEqual(shared.body, values);
      // A write after a lazy read lands, and is read back.
      assert.equal((await post(`${base}/Big/large/append`, { name: "c", suffix: "!" })).body, 100 * 1024 + 1);
      const again = await post(`${base}/Big/large/readAllShared`);
      assert.deepEqual(again.body, { ...values, c: values.c + "!" });
    });
  });
});
