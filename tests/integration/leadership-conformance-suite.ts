// The Leadership conformance suite (leadership.ts invariants 1–3): one function any Leadership implementation runs through a factory — the embedded one in leadership-conformance.test.ts, and the cluster's lease-based one later, unchanged.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Leadership } from "../../packages/onelog/src/internal/partition/leadership.js";

/** One implementation under test: a Leadership, and the same one after a process restart. */
export interface Subject {
  leadership: Leadership;
  /** The leadership a restarted process would build over the same durable state. */
  restart(): Leadership;
  /** Makes the data know a higher epoch (the store applied someone's AnnounceLeader). */
  dataKnows(partition: number, epoch: number): void;
  /** Ends a live grant from outside, as a lost lease does. */
  revoke(partition: number): void;
}

/**
 * Registers the suite for one implementation; `factory` builds a fresh one for every test.
 *
 * @example
 * leadershipConformance("KvLeadership", () => kvSubject());
 */
export function leadershipConformance(name: string, factory: () => Subject): void {
  void describe(`Leadership conformance: ${name}`, () => {
    const never = new AbortController().signal;

    void it("grants positive, growing epochs per partition, above what the data knows (1)", async () => {
      const s = factory();
      const a = await s.leadership.acquire(0, never);
      assert.ok(a.epoch > 0);
      assert.equal(a.partition, 0);
      assert.equal(a.node, s.leadership.node);
      const b = await s.leadership.acquire(0, never);
      assert.ok(b.epoch > a.epoch);
      s.dataKnows(0, b.epoch + 10);
      const c = await s.leadership.acquire(0, never);
      assert.ok(c.epoch > b.epoch + 10, "above the epoch the data knows");
      const other = await s.leadership.acquire(1, never);
      assert.ok(other.epoch > 0, "partitions are independent");
    });

    void it("epochs keep growing across a restart, even when the data never learned them (1)", async () => {
      const s = factory();
      const first = await s.leadership.acquire(2, never);
      const second = await s.leadership.acquire(2, never);
      const restarted = s.restart();
      const third = await restarted.acquire(2, never);
      assert.ok(third.epoch > second.epoch && second.epoch > first.epoch);
    });

    void it("a new grant ends the previous one; release and revoke end a grant (2, 3)", async () => {
      const s = factory();
      const a = await s.leadership.acquire(3, never);
      assert.equal(a.revoked.aborted, false);
      const b = await s.leadership.acquire(3, never);
      assert.equal(a.revoked.aborted, true, "one live grant per partition");
      await s.leadership.release(b);
      assert.equal(b.revoked.aborted, true);
      await s.leadership.release(b); // twice is harmless
      const c = await s.leadership.acquire(3, never);
      s.revoke(3);
      assert.equal(c.revoked.aborted, true);
      const d = await s.leadership.acquire(3, never);
      assert.ok(d.epoch > c.epoch, "a revoked grant is never valid again: a new one has a new epoch");
      assert.equal(d.revoked.aborted, false);
    });

    void it("rejects an acquire whose signal already aborted, granting nothing", async () => {
      const s = factory();
      const aborted = new AbortController();
      aborted.abort(new Error("stopping"));
      await assert.rejects(s.leadership.acquire(0, aborted.signal), /stopping/);
    });
  });
}
