// Proves the service-protocol codec round-trips every command, notification and control message onelog writes, cuts frames out of arbitrarily split streams, and fails garbled input with a ProtocolError instead of throwing anything else.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  FrameDecoder,
  MessageType,
  ProtocolError,
  decodeMessage,
  encodeCommand,
  encodeError,
  encodeFrame,
  encodeNotification,
  encodeOutput,
  encodeProposeRunCompletion,
  encodeStart,
  encodeSuspension,
  notificationTypesOf,
  type CommandEntry,
  type NotificationEntry,
} from "@onelog/sdk/internal";

const b = (s: string): Uint8Array => new TextEncoder().encode(s);

const commands: CommandEntry[] = [
  { type: "input", argument: b('"hi"'), headers: { "x-a": "1" } },
  { type: "run", name: "compose", completionId: 1 },
  { type: "sleep", wakeUpAt: 1_790_000_000_000, completionId: 2 },
  {
    type: "call",
    target: { service: "Counter", handler: "add", key: "k1" },
    argument: b("5"),
    headers: { h: "v" },
    idempotencyKey: "idem",
    invocationIdCompletionId: 3,
    resultCompletionId: 4,
  },
  {
    type: "send",
    target: { service: "Greeter", handler: "greet" },
    argument: b("1"),
    headers: {},
    invocationIdCompletionId: 5,
  },
  { type: "get_state", key: "count", completionId: 6 },
  { type: "get_state", key: "count", value: b("7") },
  { type: "get_state", key: "gone", value: null },
  { type: "get_state_keys", completionId: 7 },
  { type: "get_state_keys", keys: ["a", "b"] },
  { type: "set_state", key: "count", value: b("8") },
  { type: "clear_state", key: "count" },
  { type: "clear_all_state" },
  { type: "complete_awakeable", awakeableId: "awk_x", result: { ok: b("1") } },
  { type: "complete_awakeable", awakeableId: "awk_y", result: { err: { code: 500, message: "no" } } },
  { type: "promise_get", name: "p", completionId: 8 },
  { type: "promise_peek", name: "p", completionId: 9 },
  { type: "promise_complete", name: "p", result: { ok: b("2") }, completionId: 10 },
  { type: "attach", invocationId: "inv_1", completionId: 11 },
  { type: "cancel_invocation", invocationId: "inv_2" },
];

const notifications: NotificationEntry[] = [
  { type: "completion", completionId: 1, value: { ok: b("r") } },
  { type: "completion", completionId: 2, value: { void: true } },
  { type: "completion", completionId: 3, value: { invocationId: "inv_3" } },
  { type: "completion", completionId: 4, value: { err: { code: 409, message: "taken" } } },
  { type: "completion", completionId: 7, value: { stateKeys: ["x", "y"] } },
  { type: "signal", signalId: 1, value: { void: true } },
  { type: "signal", signalId: 17, value: { ok: b("w") } },
];

describe("service protocol messages", () => {
  it("round-trips every command onelog's journal holds", () => {
    for (const c of commands) {
      const frame = encodeCommand(c);
      const m = decodeMessage(frame);
      assert.equal(m.kind, "command", c.type);
      assert.deepEqual(m.kind === "command" ? m.entry : undefined, c, c.type);
    }
  });

  it("keeps a command's bytes with keepWire and replays them exactly", () => {
    const frame = encodeCommand(commands[3]!);
    const m = decodeMessage(frame, { keepWire: true });
    assert.ok(m.kind === "command" && m.entry.wire !== undefined);
    const again = encodeCommand(m.entry);
    assert.equal(again.type, frame.type);
    assert.deepEqual(again.body, frame.body);
  });

  it("turns a send's invoke time into a delay and back", () => {
    const now = 1_000_000;
    const send: CommandEntry = { ...commands[4]!, delayMs: 5_000 } as CommandEntry;
    const m = decodeMessage(encodeCommand(send, now), { now });
    assert.ok(m.kind === "command" && m.entry.type === "send");
    assert.equal(m.entry.delayMs, 5_000);
  });

  it("round-trips notifications with the type of their command", () => {
    for (const n of notifications) {
      const type = n.type === "completion" ? MessageType.RunCompletion : 0;
      const m = decodeMessage(encodeNotification(n, type));
      assert.deepEqual(m, { kind: "notification", entry: n });
    }
    assert.deepEqual(notificationTypesOf(commands[3]!), [
      [3, MessageType.CallInvocationIdCompletion],
      [4, MessageType.CallCompletion],
    ]);
  });

  it("round-trips the control messages", () => {
    const start = {
      id: new Uint8Array([1, 2, 3]),
      debugId: "inv_010203",
      knownEntries: 4,
      stateMap: [["a", b("1")] as const],
      partialState: true,
      key: "k",
      retryCountSinceLastStoredEntry: 2,
      durationSinceLastStoredEntryMs: 1500,
      randomSeed: 12345678901234n,
    };
    assert.deepEqual(decodeMessage({ type: MessageType.Start, flags: 0, body: encodeStart(start) }), {
      kind: "start",
      ...start,
    });
    const susp = { waitingCompletions: [1, 300], waitingSignals: [17], waitingNamedSignals: [] };
    assert.deepEqual(
      decodeMessage({ type: MessageType.Suspension, flags: 0, body: encodeSuspension(susp) }),
      {
        kind: "suspension",
        ...susp,
      },
    );
    const err = {
      code: 500,
      message: "boom",
      stacktrace: "at x",
      relatedCommandIndex: 0,
      nextRetryDelayMs: 250,
    };
    assert.deepEqual(decodeMessage({ type: MessageType.Error, flags: 0, body: encodeError(err) }), {
      kind: "error",
      ...err,
    });
    assert.deepEqual(
      decodeMessage({
        type: MessageType.ProposeRunCompletion,
        flags: 0,
        body: encodeProposeRunCompletion(3, { ok: b("v") }),
      }),
      { kind: "propose_run", completionId: 3, result: { ok: b("v") } },
    );
    assert.deepEqual(
      decodeMessage({
        type: MessageType.OutputCommand,
        flags: 0,
        body: encodeOutput({ err: { code: 400, message: "bad" } }),
      }),
      {
        kind: "output",
        result: { err: { code: 400, message: "bad" } },
      },
    );
    assert.deepEqual(decodeMessage({ type: MessageType.End, flags: 0, body: new Uint8Array(0) }), {
      kind: "end",
    });
  });
});

describe("frames", () => {
  it("cuts frames out of a stream however it is split", () => {
    const frames = commands.map((c) => encodeCommand(c));
    const stream = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.body)));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length }), { maxLength: 20 }), (cuts) => {
        const points = [...new Set(cuts)].sort((x, y) => x - y);
        const decoder = new FrameDecoder();
        const got = [];
        let at = 0;
        for (const p of [...points, stream.length]) {
          got.push(...decoder.push(stream.subarray(at, p)));
          at = p;
        }
        assert.equal(decoder.buffered, 0);
        assert.deepEqual(
          got.map((f) => [f.type, Buffer.from(f.body).toString("hex")]),
          frames.map((f) => [f.type, Buffer.from(f.body).toString("hex")]),
        );
      }),
      { numRuns: 200 },
    );
  });

  it("refuses a frame over the limit before buffering it", () => {
    const decoder = new FrameDecoder(1024);
    const header = encodeFrame(MessageType.RunCommand, new Uint8Array(2048)).subarray(0, 8);
    assert.throws(() => decoder.push(header), ProtocolError);
  });

  it("fails garbage with a ProtocolError, never another error", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.constantFrom(
          ...commands.map((c) => encodeCommand(c).type),
          0x8011,
          0x0000,
          0x0001,
          0x0002,
          0x0005,
          0x0401,
          0x7777,
        ),
        (body, type) => {
          try {
            decodeMessage({ type, flags: 0, body });
          } catch (e) {
            assert.ok(e instanceof ProtocolError, String(e));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
