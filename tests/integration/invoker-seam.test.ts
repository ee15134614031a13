// Proves the Invoker seam and the manifest: an engine given only a JSON endpoint manifest and a foreign invoker (no SDK, no handler functions, everything passed through JSON as over a wire) runs invocations end to end — commands with completion ids, a proposed step result, a suspension woken by a timer — without the processor or apply knowing the transport; and that the manifest of SDK definitions is plain JSON with every option resolved.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as onelog from "onelog";
import {
  CANCEL_SIGNAL_ID,
  endpointManifest,
  handlersOfManifest,
  type EndpointManifest,
  type JournalEntry,
} from "@onelog/sdk/internal";
import { Engine } from "../../packages/onelog/src/internal/engine.js";
import type { Invoker, InvokerHost } from "../../packages/onelog/src/internal/invoker/invoker.js";
import { MemoryLog } from "../../packages/onelog/src/internal/log/memory-log.js";
import { silentLogger } from "../../packages/onelog/src/internal/ops/logger.js";
import type { RecordBody } from "../../packages/onelog/src/internal/partition/records.js";
import { MemoryStore } from "../../packages/onelog/src/internal/partition/store/memory-store.js";
import { systemClock } from "../../packages/onelog/src/internal/clock.js";

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const dec = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as unknown;

/** What a remote deployment would answer to discovery: JSON only. */
const manifest: EndpointManifest = JSON.parse(
  JSON.stringify({
    protocolMode: "BIDI_STREAM",
    minProtocolVersion: 5,
    maxProtocolVersion: 6,
    services: [{ name: "Remote", ty: "SERVICE", handlers: [{ name: "double", retryPolicyMaxAttempts: 3 }] }],
  }),
) as EndpointManifest;

/**
 * A foreign invoker: it sees the journal only as JSON and plays a tiny handler by hand —
 * Run 'double' (completion 1), a proposed result, a 30 ms sleep (completion 2) on which it
 * suspends, then the output. Every record it proposes is a JSON round trip.
 */
class WireInvoker implements Invoker {
  running = 0;
  readonly seen: string[] = [];
  constructor(private readonly host: InvokerHost) {}

  private send(body: RecordBody): void {
    void this.host.propose(JSON.parse(JSON.stringify(body, bytesToJson), jsonToBytes) as RecordBody);
  }

  invoke(invocationId: string, attemptEpoch: number): void {
    const journal = JSON.parse(
      JSON.stringify(this.host.store.getJournal(invocationId), bytesToJson),
      jsonToBytes,
    ) as JournalEntry[];
    this.seen.push(journal.map((e) => e.type).join(","));
    const input = journal[0];
    assert.ok(input?.type === "input");
    const n = dec(input.argument) as number;
    const base = { invocationId, attemptEpoch };
    if (journal.length === 1) {
      this.send({
        ...base,
        type: "entry",
        commandIndex: 1,
        entry: { type: "run", name: "double", completionId: 1 },
      });
      this.send({ ...base, type: "run_completion", completionId: 1, result: { ok: enc(n * 2) } });
      const wakeUpAt = systemClock.now() + 30;
      this.send({
        ...base,
        type: "entry",
        commandIndex: 2,
        entry: { type: "sleep", wakeUpAt, completionId: 2 },
      });
      this.send({ ...base, type: "suspend", waitingCompletions: [2], waitingSignals: [CANCEL_SIGNAL_ID] });
      return;
    }
    // The replay: the step's result is the notification of completion 1.
    const result = journal.find((e) => e.type === "completion" && e.completionId === 1);
    assert.ok(result?.type === "completion" && "ok" in result.value);
    this.send({ ...base, type: "end", result: { ok: result.value.ok } });
  }
  ack(): void {}
  notify(): void {}
  abort(): void {}
  stop(): void {}
}

/** A JSON replacer for bytes (it looks at the raw value: a Buffer's toJSON has already run on `v`). */
function bytesToJson(this: Record<string, unknown>, k: string, v: unknown): unknown {
  const raw = this[k];
  return raw instanceof Uint8Array ? { $bytes: Buffer.from(raw).toString("base64") } : v;
}
function jsonToBytes(_k: string, v: unknown): unknown {
  return typeof v === "object" && v !== null && "$bytes" in v
    ? new Uint8Array(Buffer.from((v as { $bytes: string }).$bytes, "base64"))
    : v;
}

describe("the Invoker seam", () => {
  it("an engine that knows a service only by its JSON manifest runs it through a foreign invoker", async () => {
    const invokers: WireInvoker[] = [];
    const log = new MemoryLog({ partitions: 2 });
    const stores = [new MemoryStore(0), new MemoryStore(1)];
    const engine = await Engine.start({
      log,
      storeFor: (p) => stores[p]!,
      clock: systemClock,
      logger: silentLogger,
      services: [],
      deployments: [manifest],
      invokers: (host) => {
        const i = new WireInvoker(host);
        invokers.push(i);
        return i;
      },
    });
    // The engine's timers are unref'd (they never keep a stopped engine alive): keep the loop up.
    const keepAlive = setInterval(() => {}, 1_000);
    try {
      assert.equal(engine.handler("Remote", "double")?.retryPolicy.maxAttempts, 3);
      const { result } = await engine.call({
        target: { service: "Remote", handler: "double" },
        argument: enc(21),
      });
      assert.ok("ok" in result, JSON.stringify(result));
      assert.equal(dec(result.ok), 42);
      // First attempt on the input alone; the second replays run, its completion, the sleep and the timer's.
      assert.deepEqual(
        invokers.flatMap((i) => i.seen),
        ["input", "input,run,completion,sleep,completion"],
      );
    } finally {
      clearInterval(keepAlive);
      for (const p of engine.processors) await p.stop();
      await log.close();
    }
  });

  it("the manifest of SDK definitions is JSON with every option resolved, and reads back the same", () => {
    const svc = onelog.service({
      name: "Greeter",
      handlers: {
        greet: onelog.handlers.handler(
          { retryPolicy: { maxAttempts: 7, onMaxAttempts: "kill" }, inactivityTimeout: { seconds: 5 } },
          async (_ctx: onelog.Context, name: string) => `hi ${name}`,
        ),
      },
      options: { ingressPrivate: true },
    });
    const obj = onelog.object({
      name: "Counter",
      handlers: {
        add: async (_ctx: onelog.ObjectContext, n: number) => n,
        get: onelog.handlers.object.shared(async () => 0),
      },
    });
    const m = endpointManifest([svc, obj]);
    const back = JSON.parse(JSON.stringify(m)) as EndpointManifest;
    assert.deepEqual(back, m);
    assert.deepEqual(
      back.services.map((s) => [s.name, s.ty, s.handlers.map((h) => [h.name, h.ty ?? null])]),
      [
        ["Greeter", "SERVICE", [["greet", null]]],
        [
          "Counter",
          "VIRTUAL_OBJECT",
          [
            ["add", "EXCLUSIVE"],
            ["get", "SHARED"],
          ],
        ],
      ],
    );
    const [greet] = handlersOfManifest(back);
    assert.equal(greet?.ingressPrivate, true);
    assert.equal(greet?.inactivityTimeoutMs, 5_000);
    assert.deepEqual(greet?.retryPolicy, {
      initialIntervalMs: 50,
      factor: 2,
      maxIntervalMs: 60_000,
      maxAttempts: 7,
      onMaxAttempts: "kill",
    });
  });
});
