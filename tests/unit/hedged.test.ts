// Proves hedged() (packages/nats nats-errors.ts), which a JetStream reader uses to reopen after a
// nats-server died: an attempt nobody answers is asked again each interval, the first success wins
// and later ones are discarded, a quick transient failure with nothing else pending reaches the
// caller at once, a lasting failure ends it, and an unwanted hedge stops launching. No nats-server:
// attempts are promises the test settles.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { TimeoutError } from "@nats-io/transport-node";
import { hedged } from "../../packages/nats/src/internal/nats-errors.js";

/** Waits for a condition on the attempts made (no timing is asserted). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(5);
}

/** Attempts the test settles by index. */
function attempts<T>() {
  const made: { resolve: (v: T) => void; reject: (e: unknown) => void }[] = [];
  const start = () =>
    new Promise<T>((resolve, reject) => {
      made.push({ resolve, reject });
    });
  return { made, start };
}

void describe("hedged", () => {
  void it("asks again each interval while nobody answered; the first success wins, later ones are discarded", async () => {
    const { made, start } = attempts<string>();
    const discarded: string[] = [];
    const result = hedged(start, { intervalMs: 20, wanted: () => true, discard: (v) => discarded.push(v) });
    await until(() => made.length >= 3);
    made[1]!.resolve("second");
    assert.equal(await result, "second");
    const launched = made.length;
    made[0]!.resolve("first, late");
    made[2]!.reject(new Error("late failure, ignored"));
    await sleep(60);
    assert.deepEqual(discarded, ["first, late"]);
    assert.equal(made.length, launched, "no attempt after the answer");
  });

  void it("a transient failure with no other attempt pending reaches the caller at once", async () => {
    const { made, start } = attempts<string>();
    const result = hedged(start, { intervalMs: 10_000, wanted: () => true });
    made[0]!.reject(new TimeoutError());
    await assert.rejects(result, TimeoutError);
  });

  void it("a transient failure waits for the other attempts; a lasting one ends the hedge", async () => {
    const { made, start } = attempts<string>();
    const result = hedged(start, { intervalMs: 10, wanted: () => true });
    await until(() => made.length >= 2);
    made[0]!.reject(new TimeoutError());
    await sleep(5);
    let done = false;
    void result.then(
      () => (done = true),
      () => (done = true),
    );
    await sleep(5);
    assert.equal(done, false, "others are still pending");
    made[1]!.reject(new Error("stream not found"));
    await assert.rejects(result, /stream not found/);
  });

  void it("stops launching and rejects once no longer wanted", async () => {
    const { made, start } = attempts<string>();
    let wanted = true;
    const result = hedged(start, { intervalMs: 10, wanted: () => wanted });
    await sleep(25);
    wanted = false;
    await assert.rejects(result, /no longer wanted/);
    const launched = made.length;
    await sleep(40);
    assert.equal(made.length, launched);
  });
});
