// Proves apply handles an operator's state patch (patch_state) deterministically: it writes and deletes names only while no invocation holds the key's lock, answers its request either way, never touches other keys, and gives the same tables on a replay — by golden tests: given this MemoryStore and this record, exactly these actions and these rows.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Result } from "@onelog/sdk/internal";
import { apply, type Action } from "../../packages/onelog/src/internal/partition/apply.js";
import type {
  HandlerKind,
  PatchStateBody,
  RecordBody,
  RetryPolicy,
  Target,
} from "../../packages/onelog/src/internal/partition/records.js";
import { MemoryStore } from "../../packages/onelog/src/internal/partition/store/memory-store.js";
import { stateVersion } from "../../packages/onelog/src/internal/partition/state-version.js";

const T0 = 1_700_000_000_000;
const A = "inv_00000000000000000000000000000000000000a1";
const B = "inv_00000000000000000000000000000000000000b2";
const ADD: Target = { service: "Counter", handler: "add", key: "k1" };
const READ: Target = { service: "Counter", handler: "read", key: "k1" };
const POLICY: RetryPolicy = {
  initialIntervalMs: 50,
  factor: 2,
  maxIntervalMs: 60_000,
  maxAttempts: 100,
  onMaxAttempts: "pause",
};
const EMPTY = new Uint8Array(0);
const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

function step(store: MemoryStore, body: RecordBody): Action[] {
  return store.transaction(() => {
    const lsn = store.getAppliedLsn() + 1;
    const actions = apply(store, { lsn, header: { at: T0 + lsn }, body });
    store.setAppliedLsn(lsn);
    return actions;
  });
}

const invoke = (id: string, target: Target, handlerKind: HandlerKind): RecordBody => ({
  type: "invoke",
  invocationId: id,
  target,
  handlerKind,
  argument: enc(1),
  headers: {},
  retry: POLICY,
  retentionMs: 0,
});

const patch = (
  requestId: string,
  changes: PatchStateBody["changes"],
  key = "k1",
  service = "Counter",
): PatchStateBody => ({ type: "patch_state", requestId, service, key, changes });

const answered = (requestId: string, result: Result = { ok: EMPTY }): Action => ({
  type: "state_patched",
  requestId,
  result,
});

const state = (store: MemoryStore, key = "k1") =>
  Object.fromEntries(store.listState("Counter", key).map(([n, v]) => [n, new TextDecoder().decode(v)]));

describe("apply: patch_state (an operator's state change through the log)", () => {
  it("on an unlocked key: writes each name and answers ok, with no other action", () => {
    const store = new MemoryStore(0);
    const actions = step(
      store,
      patch("patch_1", [
        { name: "count", value: enc(5) },
        { name: "owner", value: enc("ada") },
      ]),
    );
    assert.deepEqual(actions, [answered("patch_1")]);
    assert.deepEqual(state(store), { count: "5", owner: '"ada"' });
  });

  it("null deletes a name; names not mentioned stay; other keys are untouched", () => {
    const store = new MemoryStore(0);
    store.transaction(() => {
      store.putState("Counter", "k1", "count", enc(1));
      store.putState("Counter", "k1", "keep", enc(true));
      store.putState("Counter", "k2", "count", enc(9));
    });
    assert.deepEqual(
      step(
        store,
        patch("patch_2", [
          { name: "count", value: null },
          { name: "fresh", value: enc([1]) },
        ]),
      ),
      [answered("patch_2")],
    );
    assert.deepEqual(state(store), { fresh: "[1]", keep: "true" });
    assert.deepEqual(state(store, "k2"), { count: "9" });
  });

  it("while an exclusive invocation holds the key's lock: refused with 409 naming the holder, nothing written", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    store.transaction(() => store.putState("Counter", "k1", "count", enc(1)));
    const before = store.dump();
    const actions = step(store, patch("patch_3", [{ name: "count", value: enc(100) }]));
    assert.deepEqual(actions, [
      answered("patch_3", {
        err: {
          code: 409,
          message: `Counter/k1 is locked by invocation ${A}; patch its state once that invocation is done`,
        },
      }),
    ]);
    const { appliedLsn: _a, ...rest } = store.dump() as { appliedLsn: number };
    const { appliedLsn: _b, ...restBefore } = before as { appliedLsn: number };
    assert.deepEqual(rest, restBefore);
    assert.deepEqual(state(store), { count: "1" });
  });

  it("once the lock holder completed, the same patch applies", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    step(store, { type: "end", invocationId: A, attemptEpoch: 1, result: { ok: enc(1) } });
    assert.equal(store.getLock("Counter", "k1"), undefined);
    assert.deepEqual(step(store, patch("patch_4", [{ name: "count", value: enc(7) }])), [
      answered("patch_4"),
    ]);
    assert.deepEqual(state(store), { count: "7" });
  });

  it("a running shared handler does not hold the lock: the patch applies", () => {
    const store = new MemoryStore(0);
    step(store, invoke(B, READ, "shared"));
    assert.equal(store.getStatus(B)?.state, "invoked");
    assert.deepEqual(step(store, patch("patch_5", [{ name: "count", value: enc(3) }])), [
      answered("patch_5"),
    ]);
    assert.deepEqual(state(store), { count: "3" });
  });

  it("with an expected version: applies when the key's state has it, else answers 412 and writes nothing", () => {
    const store = new MemoryStore(0);
    step(store, patch("r1", [{ name: "count", value: enc(5) }]));
    const v = stateVersion(store.listState("Counter", "k1"));
    assert.equal(v, stateVersion([["count", enc(5)]]));
    const ok = step(store, { ...patch("r2", [{ name: "count", value: enc(6) }]), expectedVersion: v });
    assert.deepEqual(ok, [answered("r2")]);
    assert.deepEqual(store.getState("Counter", "k1", "count"), enc(6));
    const stale = step(store, { ...patch("r3", [{ name: "count", value: enc(0) }]), expectedVersion: v });
    assert.equal(stale.length, 1);
    const r = (stale[0] as { result: Result }).result;
    assert.ok("err" in r && r.err.code === 412, JSON.stringify(r));
    assert.deepEqual(store.getState("Counter", "k1", "count"), enc(6));
    // The version depends on names and values, not on their order.
    assert.equal(
      stateVersion([
        ["a", enc(1)],
        ["b", enc(2)],
      ]),
      stateVersion([
        ["b", enc(2)],
        ["a", enc(1)],
      ]),
    );
    assert.notEqual(stateVersion([["a", enc(1)]]), stateVersion([["a", enc(2)]]));
    assert.notEqual(stateVersion([]), stateVersion([["", EMPTY]]));
  });

  it("replaying the same records on an empty store gives the same tables (deterministic)", () => {
    const records: RecordBody[] = [
      patch("p1", [{ name: "count", value: enc(1) }]),
      invoke(A, ADD, "exclusive"),
      patch("p2", [{ name: "count", value: enc(2) }]),
      { type: "end", invocationId: A, attemptEpoch: 1, result: { ok: enc(1) } },
      patch("p3", [
        { name: "count", value: null },
        { name: "x", value: enc("y") },
      ]),
    ];
    const run = () => {
      const store = new MemoryStore(0);
      const actions = records.map((r) => step(store, r));
      return { actions, dump: store.dump() };
    };
    const first = run();
    assert.deepEqual(run(), first);
    assert.deepEqual(
      first.actions.map((a) =>
        a
          .filter((x) => x.type === "state_patched")
          .map((x) => ("result" in x ? "ok" in x.result : undefined)),
      ),
      [[true], [], [false], [], [true]],
    );
  });
});
