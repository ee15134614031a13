// Proves the service-protocol codec round-trips every command, notification and control message onelog writes, cuts frames out of arbitrarily split streams, and fails garbled input with a ProtocolError instead of throwing anything else.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
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
  {
    type: "attach_target",
    idempotentRequest: { service: "Counter", key: "k", handler: "add", idempotencyKey: "i" },
    completionId: 12,
  },
  { type: "attach_target", workflowRun: { workflow: "Signup", workflowId: "w" }, completionId: 13 },
  { type: "get_output", invocationId: "inv_4", completionId: 14 },
  {
    type: "get_output",
    idempotentRequest: { service: "Greeter", handler: "greet", idempotencyKey: "i" },
    completionId: 15,
  },
  { type: "get_output", workflowRun: { workflow: "Signup", workflowId: "" }, completionId: 16 },
  { type: "send_named_signal", invocationId: "inv_5", name: "go", value: { void: true } },
  { type: "send_named_signal", invocationId: "inv_5", name: "go", value: { ok: b("1") } },
  {
    type: "send_named_signal",
    invocationId: "inv_5",
    name: "go",
    value: { err: { code: 400, message: "no", metadata: [{ key: "why", value: "late" }] } },
  },
  {
    type: "complete_awakeable",
    awakeableId: "awk_z",
    result: {
      err: {
        code: 500,
        message: "m",
        metadata: [
          { key: "a", value: "1" },
          { key: "b", value: "" },
        ],
      },
    },
  },
];

const notifications: NotificationEntry[] = [
  { type: "completion", completionId: 1, value: { ok: b("r") } },
  { type: "completion", completionId: 2, value: { void: true } },
  { type: "completion", completionId: 3, value: { invocationId: "inv_3" } },
  { type: "completion", completionId: 4, value: { err: { code: 409, message: "taken" } } },
  { type: "completion", completionId: 7, value: { stateKeys: ["x", "y"] } },
  { type: "signal", signalId: 1, value: { void: true } },
  { type: "signal", signalId: 17, value: { ok: b("w") } },
  { type: "named_signal", name: "approved", value: { ok: b("yes") } },
  { type: "named_signal", name: "approved", value: { void: true } },
  {
    type: "completion",
    completionId: 5,
    value: { err: { code: 400, message: "m", metadata: [{ key: "k", value: "v" }] } },
  },
];

/** A protobuf message built by hand from the field numbers of service-protocol/…/protocol.proto. */
function pb(write: (w: BinaryWriter) => void): Uint8Array {
  const w = new BinaryWriter();
  write(w);
  return w.finish();
}

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
      const type = n.type === "completion" ? MessageType.RunCompletion : MessageType.SignalNotification;
      const m = decodeMessage(encodeNotification(n, type));
      assert.deepEqual(m, { kind: "notification", entry: n });
    }
    assert.deepEqual(notificationTypesOf(commands[3]!), [
      [3, MessageType.CallInvocationIdCompletion],
      [4, MessageType.CallCompletion],
    ]);
  });

  it("reads attach and get-output targets, failure metadata and named signals at the protocol's field numbers", () => {
    // AttachInvocationCommandMessage { idempotent_request_target = 3 { service_name = 1, service_key = 2, handler_name = 3, idempotency_key = 4 }, result_completion_id = 11 }
    const attach = pb((w) => {
      w.tag(3, WireType.LengthDelimited).bytes(
        pb((t) => {
          t.tag(1, WireType.LengthDelimited).string("Counter");
          t.tag(2, WireType.LengthDelimited).string("k1");
          t.tag(3, WireType.LengthDelimited).string("add");
          t.tag(4, WireType.LengthDelimited).string("idem");
        }),
      );
      w.tag(11, WireType.Varint).uint32(7);
    });
    assert.deepEqual(decodeMessage({ type: 0x0412, flags: 0, body: attach }), {
      kind: "command",
      entry: {
        type: "attach_target",
        idempotentRequest: { service: "Counter", key: "k1", handler: "add", idempotencyKey: "idem" },
        completionId: 7,
      },
    });
    // GetInvocationOutputCommandMessage { workflow_target = 4 { workflow_name = 1, workflow_key = 2 }, result_completion_id = 11 }
    const output = pb((w) => {
      w.tag(4, WireType.LengthDelimited).bytes(
        pb((t) =>
          t.tag(1, WireType.LengthDelimited).string("Signup").tag(2, WireType.LengthDelimited).string("w1"),
        ),
      );
      w.tag(11, WireType.Varint).uint32(8);
    });
    assert.deepEqual(decodeMessage({ type: 0x0413, flags: 0, body: output }), {
      kind: "command",
      entry: { type: "get_output", workflowRun: { workflow: "Signup", workflowId: "w1" }, completionId: 8 },
    });
    // SignalNotificationMessage { name = 3, failure = 6 { code = 1, message = 2, metadata = 3 { key = 1, value = 2 } } }
    const failure = pb((f) => {
      f.tag(1, WireType.Varint).uint32(422);
      f.tag(2, WireType.LengthDelimited).string("bad");
      f.tag(3, WireType.LengthDelimited).bytes(
        pb((m) =>
          m.tag(1, WireType.LengthDelimited).string("field").tag(2, WireType.LengthDelimited).string("x"),
        ),
      );
    });
    const signal = pb((w) => {
      w.tag(3, WireType.LengthDelimited).string("approved");
      w.tag(6, WireType.LengthDelimited).bytes(failure);
    });
    const err = { code: 422, message: "bad", metadata: [{ key: "field", value: "x" }] };
    assert.deepEqual(decodeMessage({ type: 0xfbff, flags: 0, body: signal }), {
      kind: "notification",
      entry: { type: "named_signal", name: "approved", value: { err } },
    });
    // On V5, Failure has no field 3: what a peer put there is skipped.
    assert.deepEqual(decodeMessage({ type: 0xfbff, flags: 0, body: signal }, { version: 5 }), {
      kind: "notification",
      entry: { type: "named_signal", name: "approved", value: { err: { code: 422, message: "bad" } } },
    });
    // SendSignalCommandMessage { target_invocation_id = 1, name = 3, void = 4 }
    const send = pb((w) => {
      w.tag(1, WireType.LengthDelimited).string("inv_9");
      w.tag(3, WireType.LengthDelimited).string("go");
      w.tag(4, WireType.LengthDelimited).bytes(new Uint8Array(0));
    });
    assert.deepEqual(decodeMessage({ type: 0x0410, flags: 0, body: send }), {
      kind: "command",
      entry: { type: "send_named_signal", invocationId: "inv_9", name: "go", value: { void: true } },
    });
  });

  it("writes failure metadata on V6 and leaves it out on V5", () => {
    const result = { err: { code: 400, message: "bad", metadata: [{ key: "k", value: "v" }] } };
    const v6 = decodeMessage({ type: MessageType.OutputCommand, flags: 0, body: encodeOutput(result, 6) });
    assert.deepEqual(v6, { kind: "output", result });
    const v5 = decodeMessage({ type: MessageType.OutputCommand, flags: 0, body: encodeOutput(result, 5) });
    assert.deepEqual(v5, { kind: "output", result: { err: { code: 400, message: "bad" } } });
    const n = { type: "completion" as const, completionId: 1, value: result };
    const frame = encodeNotification(n, MessageType.CallCompletion, 5);
    assert.deepEqual(decodeMessage(frame), {
      kind: "notification",
      entry: { ...n, value: { err: { code: 400, message: "bad" } } },
    });
    // Commands too: a rejected named signal, an awakeable, a promise.
    for (const c of commands.filter((e) => JSON.stringify(e).includes("metadata"))) {
      const v6c = decodeMessage(encodeCommand(c, 0, 6));
      assert.deepEqual(v6c.kind === "command" ? v6c.entry : undefined, c, c.type);
      const v5c = decodeMessage(encodeCommand(c, 0, 5));
      assert.ok(v5c.kind === "command" && !JSON.stringify(v5c.entry).includes("metadata"), c.type);
    }
  });

  it("refuses a V7 scope on a target, and a target without its names", () => {
    const scoped = pb((w) => {
      w.tag(4, WireType.LengthDelimited).bytes(
        pb((t) =>
          t
            .tag(1, WireType.LengthDelimited)
            .string("Signup")
            .tag(2, WireType.LengthDelimited)
            .string("w1")
            .tag(3, WireType.LengthDelimited)
            .string("tenant-a"),
        ),
      );
      w.tag(11, WireType.Varint).uint32(1);
    });
    assert.throws(() => decodeMessage({ type: 0x0412, flags: 0, body: scoped }), ProtocolError);
    const nameless = pb((w) => {
      w.tag(3, WireType.LengthDelimited).bytes(pb((t) => t.tag(4, WireType.LengthDelimited).string("idem")));
      w.tag(11, WireType.Varint).uint32(1);
    });
    assert.throws(() => decodeMessage({ type: 0x0413, flags: 0, body: nameless }), ProtocolError);
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
