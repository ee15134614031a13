/**
 * Message bodies of the Restate service protocol (V5/V6), read and written straight to and from
 * onelog's journal model (journal.ts): the engine's HTTP invoker and the SDK's endpoint both use
 * this module, so the two ends agree by construction. Field numbers are the protocol's
 * (restatedev/restate service-protocol/dev/restate/service/protocol.proto); the code is ours.
 *
 * Invariants:
 * 1. `decodeMessage(encodeX(m))` gives back m for every message this module writes, and every
 *    field it does not know is skipped, never an error (later versions add fields).
 * 2. A command decoded with `keepWire` carries its exact bytes, so the engine can replay it to a
 *    deployment byte for byte (Restate's SDKs compare names, headers and payloads on replay,
 *    some of which onelog's journal model does not keep).
 * 3. Anything that cannot be read, or that onelog's journal cannot hold, is a ProtocolError that
 *    names the message: the invocation's attempt fails; the server goes on.
 */
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import {
  CANCEL_SIGNAL_ID,
  awakeableId,
  type AttachByTargetEntry,
  type CommandEntry,
  type Failure,
  type FailureMetadata,
  type IdempotentRequestTarget,
  type NotificationEntry,
  type NotificationValue,
  type Result,
} from "../journal.js";
import { MessageType, ProtocolError, isCommandType, isNotificationType, type Frame } from "./frames.js";

const utf8 = new TextDecoder();
const utf8Encoder = new TextEncoder();

/** The first message of every attempt: who, what the journal holds, the key's state. */
export interface StartMessage {
  /** The invocation id's bytes (opaque to the SDK; awakeable ids embed them). */
  readonly id: Uint8Array;
  /** The invocation id as users see it. */
  readonly debugId: string;
  /** Journal entries (commands and notifications) that follow this message. */
  readonly knownEntries: number;
  readonly stateMap: readonly (readonly [string, Uint8Array])[];
  /** True when `stateMap` is not the key's whole state (read the rest lazily). */
  readonly partialState: boolean;
  /** The object key or workflow id; empty for services. */
  readonly key: string;
  readonly retryCountSinceLastStoredEntry: number;
  readonly durationSinceLastStoredEntryMs: number;
  /** V6: the seed of ctx.rand. */
  readonly randomSeed?: bigint;
}

/** V5/V6 suspension: any of these completions or signals resumes the invocation. */
export interface SuspensionMessage {
  readonly waitingCompletions: readonly number[];
  readonly waitingSignals: readonly number[];
  readonly waitingNamedSignals: readonly string[];
}

/** The attempt failed (retryable, unless the engine's policy says otherwise). */
export interface ErrorMessage {
  readonly code: number;
  readonly message: string;
  readonly stacktrace: string;
  readonly relatedCommandIndex?: number;
  readonly relatedCommandName?: string;
  readonly relatedCommandType?: number;
  /** Overrides the retry policy's delay for the next attempt only. */
  readonly nextRetryDelayMs?: number;
}

/** What a decoded frame is. */
export type ProtocolMessage =
  | ({ readonly kind: "start" } & StartMessage)
  | { readonly kind: "command"; readonly entry: CommandEntry }
  | { readonly kind: "output"; readonly result: Result }
  | { readonly kind: "notification"; readonly entry: NotificationEntry }
  | { readonly kind: "propose_run"; readonly completionId: number; readonly result: Result }
  | ({ readonly kind: "suspension" } & SuspensionMessage)
  | ({ readonly kind: "error" } & ErrorMessage)
  | { readonly kind: "end" }
  | { readonly kind: "command_ack"; readonly commandIndex: number };

// ---------------------------------------------------------------------------------------------
// Reading

type Fields = (no: number, wt: WireType, r: BinaryReader) => boolean;

/** Reads a message, handing each field to `field`; fields it does not take are skipped (1). */
function read(body: Uint8Array, what: string, field: Fields): void {
  const r = new BinaryReader(body);
  try {
    while (r.pos < r.len) {
      const [no, wt] = r.tag();
      if (!field(no, wt, r)) r.skip(wt, no);
    }
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    throw new ProtocolError(`cannot read ${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function readUint32s(wt: WireType, r: BinaryReader, into: number[]): void {
  if (wt === WireType.LengthDelimited) {
    const end = r.uint32() + r.pos;
    while (r.pos < end) into.push(r.uint32());
  } else {
    into.push(r.uint32());
  }
}

function readValue(bytes: Uint8Array): Uint8Array {
  let content: Uint8Array = new Uint8Array(0);
  read(bytes, "Value", (no, _wt, r) => (no === 1 ? ((content = r.bytes()), true) : false));
  return content;
}

/**
 * Reads a Failure. Its metadata (field 3, V6) is kept unless `v5`: a V5 stream has none, and
 * what a V5 peer sent there would be a field that version does not define (skipped, 1).
 */
function readFailure(bytes: Uint8Array, v5 = false): Failure {
  let code = 0;
  let message = "";
  const metadata: FailureMetadata[] = [];
  read(bytes, "Failure", (no, _wt, r) => {
    if (no === 1) code = r.uint32();
    else if (no === 2) message = r.string();
    else if (no === 3 && !v5) metadata.push(readFailureMetadata(r.bytes()));
    else return false;
    return true;
  });
  return metadata.length === 0 ? { code, message } : { code, message, metadata };
}

function readFailureMetadata(bytes: Uint8Array): FailureMetadata {
  let key = "";
  let value = "";
  read(bytes, "FailureMetadata", (no, _wt, r) => {
    if (no === 1) key = r.string();
    else if (no === 2) value = r.string();
    else return false;
    return true;
  });
  return { key, value };
}

/** Reads an IdempotentRequestTarget (attach / get output by idempotency key). */
function readIdempotentTarget(bytes: Uint8Array): IdempotentRequestTarget {
  let service: string | undefined;
  let key: string | undefined;
  let handler: string | undefined;
  let idempotencyKey: string | undefined;
  read(bytes, "IdempotentRequestTarget", (no, _wt, r) => {
    if (no === 1) service = r.string();
    else if (no === 2) key = r.string();
    else if (no === 3) handler = r.string();
    else if (no === 4) idempotencyKey = r.string();
    else if (no === 5) unscoped(r.string(), "IdempotentRequestTarget");
    else return false;
    return true;
  });
  if (service === undefined || service === "" || handler === undefined || handler === "")
    throw new ProtocolError("IdempotentRequestTarget without service_name or handler_name");
  if (idempotencyKey === undefined || idempotencyKey === "")
    throw new ProtocolError("IdempotentRequestTarget without idempotency_key");
  return { service, handler, ...(key === undefined || key === "" ? {} : { key }), idempotencyKey };
}

/** Reads a WorkflowTarget (attach / get output of a workflow's run). */
function readWorkflowTarget(bytes: Uint8Array): { workflow: string; workflowId: string } {
  let workflow = "";
  let workflowId: string | undefined;
  read(bytes, "WorkflowTarget", (no, _wt, r) => {
    if (no === 1) workflow = r.string();
    else if (no === 2) workflowId = r.string();
    else if (no === 3) unscoped(r.string(), "WorkflowTarget");
    else return false;
    return true;
  });
  if (workflow === "" || workflowId === undefined)
    throw new ProtocolError("WorkflowTarget without workflow_name or workflow_key");
  return { workflow, workflowId };
}

/** Scopes are V7's; onelog speaks V5/V6 and has none, so a non-empty one cannot be honoured. */
function unscoped(scope: string, what: string): void {
  if (scope !== "")
    throw new ProtocolError(`${what} has a scope ('${scope}'), a V7 field onelog does not support`);
}

function readStateKeys(bytes: Uint8Array): string[] {
  const keys: string[] = [];
  read(bytes, "StateKeys", (no, _wt, r) => (no === 1 ? (keys.push(utf8.decode(r.bytes())), true) : false));
  return keys;
}

function readHeader(bytes: Uint8Array, into: Record<string, string>): void {
  let key = "";
  let value = "";
  read(bytes, "Header", (no, _wt, r) => {
    if (no === 1) key = r.string();
    else if (no === 2) value = r.string();
    else return false;
    return true;
  });
  into[key] = value;
}

function num(v: bigint | string): number {
  return Number(v);
}

/**
 * Decodes one frame (3). With `keepWire`, commands keep their bytes (2). `version` is the
 * stream's protocol version (default 6); on V5 failures carry no metadata.
 *
 * @example
 * for (const frame of decoder.push(chunk)) {
 *   const m = decodeMessage(frame, { keepWire: true });
 *   if (m.kind === "command") propose(m.entry);
 * }
 */
export function decodeMessage(
  frame: Frame,
  options: { readonly keepWire?: boolean; readonly now?: number; readonly version?: number } = {},
): ProtocolMessage {
  const { type, body } = frame;
  const v5 = options.version !== undefined && options.version < 6;
  switch (type) {
    case MessageType.Start:
      return { kind: "start", ...decodeStart(body) };
    case MessageType.Suspension:
      return { kind: "suspension", ...decodeSuspension(body) };
    case MessageType.Error:
      return { kind: "error", ...decodeError(body) };
    case MessageType.End:
      return { kind: "end" };
    case MessageType.CommandAck: {
      let commandIndex = 0;
      read(body, "CommandAck", (no, _wt, r) => (no === 1 ? ((commandIndex = r.uint32()), true) : false));
      return { kind: "command_ack", commandIndex };
    }
    case MessageType.ProposeRunCompletion: {
      let completionId = 0;
      let result: Result | undefined;
      read(body, "ProposeRunCompletion", (no, _wt, r) => {
        if (no === 1) completionId = r.uint32();
        else if (no === 14) result = { ok: r.bytes() };
        else if (no === 15) result = { err: readFailure(r.bytes(), v5) };
        else return false;
        return true;
      });
      if (result === undefined) throw new ProtocolError(`ProposeRunCompletion ${completionId} has no result`);
      return { kind: "propose_run", completionId, result };
    }
    case MessageType.OutputCommand: {
      let result: Result | undefined;
      read(body, "OutputCommand", (no, _wt, r) => {
        if (no === 14) result = { ok: readValue(r.bytes()) };
        else if (no === 15) result = { err: readFailure(r.bytes(), v5) };
        else return false;
        return true;
      });
      return { kind: "output", result: result ?? { ok: new Uint8Array(0) } };
    }
    default:
      if (isCommandType(type)) {
        const entry = decodeCommand(type, body, options.now ?? Date.now(), v5);
        return {
          kind: "command",
          entry: options.keepWire === true ? { ...entry, wire: { type, body: body.slice() } } : entry,
        };
      }
      if (isNotificationType(type))
        return { kind: "notification", entry: decodeNotification(type, body, v5) };
      throw new ProtocolError(`unknown message type 0x${type.toString(16).padStart(4, "0")}`);
  }
}

function decodeStart(body: Uint8Array): StartMessage {
  let id: Uint8Array = new Uint8Array(0);
  let debugId = "";
  let knownEntries = 0;
  const stateMap: [string, Uint8Array][] = [];
  let partialState = false;
  let key = "";
  let retryCount = 0;
  let duration = 0;
  let randomSeed: bigint | undefined;
  read(body, "Start", (no, _wt, r) => {
    switch (no) {
      case 1:
        id = r.bytes();
        return true;
      case 2:
        debugId = r.string();
        return true;
      case 3:
        knownEntries = r.uint32();
        return true;
      case 4: {
        let k = "";
        let v: Uint8Array = new Uint8Array(0);
        read(r.bytes(), "Start.StateEntry", (n, _w, rr) => {
          if (n === 1) k = utf8.decode(rr.bytes());
          else if (n === 2) v = rr.bytes();
          else return false;
          return true;
        });
        stateMap.push([k, v]);
        return true;
      }
      case 5:
        partialState = r.bool();
        return true;
      case 6:
        key = r.string();
        return true;
      case 7:
        retryCount = r.uint32();
        return true;
      case 8:
        duration = num(r.uint64());
        return true;
      case 9:
        randomSeed = BigInt(r.uint64());
        return true;
      default:
        return false;
    }
  });
  return {
    id,
    debugId,
    knownEntries,
    stateMap,
    partialState,
    key,
    retryCountSinceLastStoredEntry: retryCount,
    durationSinceLastStoredEntryMs: duration,
    ...(randomSeed === undefined ? {} : { randomSeed }),
  };
}

function decodeSuspension(body: Uint8Array): SuspensionMessage {
  const waitingCompletions: number[] = [];
  const waitingSignals: number[] = [];
  const waitingNamedSignals: string[] = [];
  read(body, "Suspension", (no, wt, r) => {
    if (no === 1) readUint32s(wt, r, waitingCompletions);
    else if (no === 2) readUint32s(wt, r, waitingSignals);
    else if (no === 3) waitingNamedSignals.push(r.string());
    else if (no === 4) throw new ProtocolError("a V7 suspension (awaiting_on) on a V5/V6 stream");
    else return false;
    return true;
  });
  return { waitingCompletions, waitingSignals, waitingNamedSignals };
}

function decodeError(body: Uint8Array): ErrorMessage {
  let code = 0;
  let message = "";
  let stacktrace = "";
  let relatedCommandIndex: number | undefined;
  let relatedCommandName: string | undefined;
  let relatedCommandType: number | undefined;
  let nextRetryDelayMs: number | undefined;
  read(body, "Error", (no, _wt, r) => {
    switch (no) {
      case 1:
        code = r.uint32();
        return true;
      case 2:
        message = r.string();
        return true;
      case 3:
        stacktrace = r.string();
        return true;
      case 4:
        relatedCommandIndex = r.uint32();
        return true;
      case 5:
        relatedCommandName = r.string();
        return true;
      case 6:
        relatedCommandType = r.uint32();
        return true;
      case 8:
        nextRetryDelayMs = num(r.uint64());
        return true;
      default:
        return false;
    }
  });
  return {
    code,
    message,
    stacktrace,
    ...(relatedCommandIndex === undefined ? {} : { relatedCommandIndex }),
    ...(relatedCommandName === undefined ? {} : { relatedCommandName }),
    ...(relatedCommandType === undefined ? {} : { relatedCommandType }),
    ...(nextRetryDelayMs === undefined ? {} : { nextRetryDelayMs }),
  };
}

/** The common fields of commands; which ones a command uses depends on its type. */
interface CommandFields {
  key?: Uint8Array;
  keyText?: string;
  name: string;
  completionId?: number;
  invocationIdNotification?: number;
  service?: string;
  handler?: string;
  parameter?: Uint8Array;
  headers: Record<string, string>;
  idempotencyKey?: string;
  invokeTime?: number;
  value?: Uint8Array;
  void?: boolean;
  failure?: Failure;
  stateKeys?: string[];
  targetInvocationId?: string | undefined;
  idempotentTarget?: IdempotentRequestTarget | undefined;
  workflowTarget?: { workflow: string; workflowId: string } | undefined;
  signalIdx?: number;
  signalName?: string;
  awakeableId?: string;
}

/** Message names by type, for errors and for `read`'s context: built once (decodeCommand runs per command). */
const MESSAGE_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(MessageType).map(([name, t]) => [t, name] as const),
);

function commandName(type: number): string {
  return MESSAGE_NAMES.get(type) ?? `command 0x${type.toString(16).padStart(4, "0")}`;
}

/** A send's absolute invoke time becomes a delay from `now` (the journal keeps delays). */
function decodeCommand(type: number, body: Uint8Array, now: number, v5: boolean): CommandEntry {
  const what = commandName(type);
  const f: CommandFields = { name: "", headers: {} };
  read(body, what, (no, _wt, r) => readCommandField(type, no, r, f, v5));
  const need = <T>(v: T | undefined, field: string): T => {
    if (v === undefined) throw new ProtocolError(`${what} has no ${field}`);
    return v;
  };
  const stateKey = (): string => utf8.decode(need(f.key, "key"));
  const result = (): Result =>
    f.failure !== undefined ? { err: f.failure } : { ok: need(f.value, "value or failure") };
  switch (type) {
    case MessageType.InputCommand:
      return { type: "input", argument: f.value ?? new Uint8Array(0), headers: f.headers };
    case MessageType.RunCommand:
      return { type: "run", name: f.name, completionId: need(f.completionId, "result_completion_id") };
    case MessageType.SleepCommand:
      return {
        type: "sleep",
        wakeUpAt: f.invokeTime ?? 0,
        completionId: need(f.completionId, "result_completion_id"),
      };
    case MessageType.CallCommand:
    case MessageType.OneWayCallCommand: {
      const call = type === MessageType.CallCommand;
      return {
        type: call ? "call" : "send",
        target: {
          service: need(f.service, "service_name"),
          handler: need(f.handler, "handler_name"),
          ...(f.keyText === undefined || f.keyText === "" ? {} : { key: f.keyText }),
        },
        argument: f.parameter ?? new Uint8Array(0),
        headers: f.headers,
        ...(f.idempotencyKey === undefined ? {} : { idempotencyKey: f.idempotencyKey }),
        ...(call || f.invokeTime === undefined || f.invokeTime <= now ? {} : { delayMs: f.invokeTime - now }),
        invocationIdCompletionId: need(f.invocationIdNotification, "invocation_id_notification_idx"),
        ...(call ? { resultCompletionId: need(f.completionId, "result_completion_id") } : {}),
      };
    }
    case MessageType.GetLazyStateCommand:
      return {
        type: "get_state",
        key: stateKey(),
        completionId: need(f.completionId, "result_completion_id"),
      };
    case MessageType.GetEagerStateCommand:
      return { type: "get_state", key: stateKey(), value: f.void === true ? null : need(f.value, "result") };
    case MessageType.GetLazyStateKeysCommand:
      return { type: "get_state_keys", completionId: need(f.completionId, "result_completion_id") };
    case MessageType.GetEagerStateKeysCommand:
      return { type: "get_state_keys", keys: f.stateKeys ?? [] };
    case MessageType.SetStateCommand:
      return { type: "set_state", key: stateKey(), value: need(f.value, "value") };
    case MessageType.ClearStateCommand:
      return { type: "clear_state", key: stateKey() };
    case MessageType.ClearAllStateCommand:
      return { type: "clear_all_state" };
    case MessageType.GetPromiseCommand:
    case MessageType.PeekPromiseCommand:
      return {
        type: type === MessageType.GetPromiseCommand ? "promise_get" : "promise_peek",
        name: need(f.keyText, "key"),
        completionId: need(f.completionId, "result_completion_id"),
      };
    case MessageType.CompletePromiseCommand:
      return {
        type: "promise_complete",
        name: need(f.keyText, "key"),
        result: result(),
        completionId: need(f.completionId, "result_completion_id"),
      };
    case MessageType.AttachInvocationCommand:
    case MessageType.GetInvocationOutputCommand: {
      const completionId = need(f.completionId, "result_completion_id");
      const attach = type === MessageType.AttachInvocationCommand;
      // By id, an attach is the same entry onelog's own SDK makes (ctx.attach).
      if (attach && f.targetInvocationId !== undefined) {
        return { type: "attach", invocationId: f.targetInvocationId, completionId };
      }
      const target: Omit<AttachByTargetEntry, "type" | "completionId"> =
        f.targetInvocationId !== undefined
          ? { invocationId: f.targetInvocationId }
          : f.idempotentTarget !== undefined
            ? { idempotentRequest: f.idempotentTarget }
            : { workflowRun: need(f.workflowTarget, "target") };
      return { type: attach ? "attach_target" : "get_output", ...target, completionId };
    }
    case MessageType.CompleteAwakeableCommand:
      return {
        type: "complete_awakeable",
        awakeableId: need(f.awakeableId, "awakeable_id"),
        result: result(),
      };
    case MessageType.SendSignalCommand: {
      const target = need(f.targetInvocationId, "target_invocation_id");
      if (f.signalName !== undefined) {
        return {
          type: "send_named_signal",
          invocationId: target,
          name: f.signalName,
          value:
            f.failure !== undefined
              ? { err: f.failure }
              : f.value !== undefined
                ? { ok: f.value }
                : { void: true },
        };
      }
      const idx = need(f.signalIdx, "signal id");
      if (idx === CANCEL_SIGNAL_ID) return { type: "cancel_invocation", invocationId: target };
      // Any other signal completes the target's awakeable of that id.
      return {
        type: "complete_awakeable",
        awakeableId: awakeableId(target, idx),
        result: f.failure !== undefined ? { err: f.failure } : { ok: f.value ?? new Uint8Array(0) },
      };
    }
    default:
      throw new ProtocolError(`${what} is not supported by onelog (service protocol V5/V6)`);
  }
}

/** Reads one field of a command into `f`; false when the field is not one this type has. */
function readCommandField(type: number, no: number, r: BinaryReader, f: CommandFields, v5: boolean): boolean {
  const T = MessageType;
  if (no === 12) {
    f.name = r.string();
    return true;
  }
  if (no === 11) {
    f.completionId = r.uint32();
    return true;
  }
  switch (type) {
    case T.InputCommand:
      if (no === 1) readHeader(r.bytes(), f.headers);
      else if (no === 14) f.value = readValue(r.bytes());
      else return false;
      return true;
    case T.SleepCommand:
      if (no !== 1) return false;
      f.invokeTime = num(r.uint64());
      return true;
    case T.CallCommand:
    case T.OneWayCallCommand: {
      const call = type === T.CallCommand;
      if (no === 1) f.service = r.string();
      else if (no === 2) f.handler = r.string();
      else if (no === 3) f.parameter = r.bytes();
      else if (no === (call ? 4 : 5)) readHeader(r.bytes(), f.headers);
      else if (no === (call ? 5 : 6)) f.keyText = r.string();
      else if (no === (call ? 6 : 7)) f.idempotencyKey = r.string();
      else if (!call && no === 4) f.invokeTime = num(r.uint64());
      else if (no === 10) f.invocationIdNotification = r.uint32();
      else return false;
      return true;
    }
    case T.GetLazyStateCommand:
    case T.ClearStateCommand:
      if (no !== 1) return false;
      f.key = r.bytes();
      return true;
    case T.GetEagerStateCommand:
      if (no === 1) f.key = r.bytes();
      else if (no === 13) {
        r.bytes(); // Void: an empty message
        f.void = true;
      } else if (no === 14) f.value = readValue(r.bytes());
      else return false;
      return true;
    case T.GetEagerStateKeysCommand:
      if (no !== 14) return false;
      f.stateKeys = readStateKeys(r.bytes());
      return true;
    case T.SetStateCommand:
      if (no === 1) f.key = r.bytes();
      else if (no === 3) f.value = readValue(r.bytes());
      else return false;
      return true;
    case T.GetPromiseCommand:
    case T.PeekPromiseCommand:
      if (no !== 1) return false;
      f.keyText = r.string();
      return true;
    case T.CompletePromiseCommand:
      if (no === 1) f.keyText = r.string();
      else if (no === 2) f.value = readValue(r.bytes());
      else if (no === 3) f.failure = readFailure(r.bytes(), v5);
      else return false;
      return true;
    case T.AttachInvocationCommand:
    case T.GetInvocationOutputCommand:
      // One of the `target` oneof; a later one wins, as protobuf reads a oneof.
      if (no === 1) {
        f.targetInvocationId = r.string();
        f.idempotentTarget = f.workflowTarget = undefined;
      } else if (no === 3) {
        f.idempotentTarget = readIdempotentTarget(r.bytes());
        f.targetInvocationId = f.workflowTarget = undefined;
      } else if (no === 4) {
        f.workflowTarget = readWorkflowTarget(r.bytes());
        f.targetInvocationId = f.idempotentTarget = undefined;
      } else return false;
      return true;
    case T.CompleteAwakeableCommand:
      if (no === 1) f.awakeableId = r.string();
      else if (no === 2) f.value = readValue(r.bytes());
      else if (no === 3) f.failure = readFailure(r.bytes(), v5);
      else return false;
      return true;
    case T.SendSignalCommand:
      if (no === 1) f.targetInvocationId = r.string();
      else if (no === 2) f.signalIdx = r.uint32();
      else if (no === 3) f.signalName = r.string();
      else if (no === 4) r.bytes();
      else if (no === 5) f.value = readValue(r.bytes());
      else if (no === 6) f.failure = readFailure(r.bytes(), v5);
      else return false;
      return true;
    default:
      return false;
  }
}

function decodeNotification(type: number, body: Uint8Array, v5: boolean): NotificationEntry {
  let completionId: number | undefined;
  let signalId: number | undefined;
  let signalName: string | undefined;
  let value: NotificationValue | undefined;
  read(body, "notification", (no, _wt, r) => {
    switch (no) {
      case 1:
        completionId = r.uint32();
        return true;
      case 2:
        signalId = r.uint32();
        return true;
      case 3:
        signalName = r.string();
        return true;
      case 4:
        r.bytes();
        value = { void: true };
        return true;
      case 5:
        value = { ok: readValue(r.bytes()) };
        return true;
      case 6:
        value = { err: readFailure(r.bytes(), v5) };
        return true;
      case 16:
        value = { invocationId: r.string() };
        return true;
      case 17:
        value = { stateKeys: readStateKeys(r.bytes()) };
        return true;
      default:
        return false;
    }
  });
  // A notification without a result field is void (proto3 leaves empty messages out only when unset).
  const v = value ?? { void: true };
  if (signalName !== undefined) return { type: "named_signal", name: signalName, value: v };
  if (type === MessageType.SignalNotification || (completionId === undefined && signalId !== undefined)) {
    if (signalId === undefined) throw new ProtocolError("a signal notification without a signal id");
    return { type: "signal", signalId, value: v };
  }
  if (completionId === undefined) throw new ProtocolError("a notification without a completion id");
  return { type: "completion", completionId, value: v };
}

// ---------------------------------------------------------------------------------------------
// Writing

function message(w: BinaryWriter, no: number, write: (w: BinaryWriter) => void): void {
  w.tag(no, WireType.LengthDelimited).fork();
  write(w);
  w.join();
}

function writeValue(w: BinaryWriter, no: number, content: Uint8Array): void {
  message(w, no, (m) => {
    if (content.length > 0) m.tag(1, WireType.LengthDelimited).bytes(content);
  });
}

/** Writes a Failure; its metadata only when `v5` is not set (V6 added it). */
function writeFailure(w: BinaryWriter, no: number, failure: Failure, v5 = false): void {
  message(w, no, (m) => {
    if (failure.code !== 0) m.tag(1, WireType.Varint).uint32(failure.code);
    if (failure.message !== "") m.tag(2, WireType.LengthDelimited).string(failure.message);
    if (v5) return;
    for (const { key, value } of failure.metadata ?? []) {
      message(m, 3, (e) => {
        str(e, 1, key);
        str(e, 2, value);
      });
    }
  });
}

function writeAttachTarget(w: BinaryWriter, e: Omit<AttachByTargetEntry, "type" | "completionId">): void {
  if (e.idempotentRequest !== undefined) {
    const t = e.idempotentRequest;
    message(w, 3, (m) => {
      str(m, 1, t.service);
      if (t.key !== undefined) m.tag(2, WireType.LengthDelimited).string(t.key);
      str(m, 3, t.handler);
      str(m, 4, t.idempotencyKey);
    });
  } else if (e.workflowRun !== undefined) {
    const t = e.workflowRun;
    message(w, 4, (m) => {
      str(m, 1, t.workflow);
      m.tag(2, WireType.LengthDelimited).string(t.workflowId);
    });
  } else {
    str(w, 1, e.invocationId);
  }
}

function writeResult(w: BinaryWriter, valueNo: number, failureNo: number, result: Result, v5 = false): void {
  if ("ok" in result) writeValue(w, valueNo, result.ok);
  else writeFailure(w, failureNo, result.err, v5);
}

function writeHeaders(w: BinaryWriter, no: number, headers: Readonly<Record<string, string>>): void {
  for (const [key, value] of Object.entries(headers)) {
    message(w, no, (m) =>
      m.tag(1, WireType.LengthDelimited).string(key).tag(2, WireType.LengthDelimited).string(value),
    );
  }
}

function writeStateKeys(w: BinaryWriter, no: number, keys: readonly string[]): void {
  message(w, no, (m) => {
    for (const k of keys) m.tag(1, WireType.LengthDelimited).bytes(utf8Encoder.encode(k));
  });
}

function str(w: BinaryWriter, no: number, s: string | undefined): void {
  if (s !== undefined && s !== "") w.tag(no, WireType.LengthDelimited).string(s);
}

function u32(w: BinaryWriter, no: number, n: number | undefined): void {
  if (n !== undefined && n !== 0) w.tag(no, WireType.Varint).uint32(n);
}

function u64(w: BinaryWriter, no: number, n: number | bigint | undefined): void {
  if (n !== undefined && n !== 0 && n !== 0n) w.tag(no, WireType.Varint).uint64(n);
}

/** Encodes a Start message. */
export function encodeStart(m: StartMessage): Uint8Array {
  const w = new BinaryWriter();
  if (m.id.length > 0) w.tag(1, WireType.LengthDelimited).bytes(m.id);
  str(w, 2, m.debugId);
  u32(w, 3, m.knownEntries);
  for (const [k, v] of m.stateMap) {
    message(w, 4, (e) =>
      e
        .tag(1, WireType.LengthDelimited)
        .bytes(utf8Encoder.encode(k))
        .tag(2, WireType.LengthDelimited)
        .bytes(v),
    );
  }
  if (m.partialState) w.tag(5, WireType.Varint).bool(true);
  str(w, 6, m.key);
  u32(w, 7, m.retryCountSinceLastStoredEntry);
  u64(w, 8, m.durationSinceLastStoredEntryMs);
  u64(w, 9, m.randomSeed);
  return w.finish();
}

/** Encodes a V5/V6 Suspension message. */
export function encodeSuspension(m: SuspensionMessage): Uint8Array {
  const w = new BinaryWriter();
  for (const [no, ids] of [
    [1, m.waitingCompletions],
    [2, m.waitingSignals],
  ] as const) {
    if (ids.length === 0) continue;
    w.tag(no, WireType.LengthDelimited).fork();
    for (const id of ids) w.uint32(id);
    w.join();
  }
  for (const name of m.waitingNamedSignals) w.tag(3, WireType.LengthDelimited).string(name);
  return w.finish();
}

/** Encodes an Error message. */
export function encodeError(m: ErrorMessage): Uint8Array {
  const w = new BinaryWriter();
  u32(w, 1, m.code);
  str(w, 2, m.message);
  str(w, 3, m.stacktrace);
  if (m.relatedCommandIndex !== undefined) w.tag(4, WireType.Varint).uint32(m.relatedCommandIndex);
  if (m.relatedCommandName !== undefined) w.tag(5, WireType.LengthDelimited).string(m.relatedCommandName);
  if (m.relatedCommandType !== undefined) w.tag(6, WireType.Varint).uint32(m.relatedCommandType);
  if (m.nextRetryDelayMs !== undefined) w.tag(8, WireType.Varint).uint64(m.nextRetryDelayMs);
  return w.finish();
}

/** Encodes a ProposeRunCompletion message (`version`: the stream's; V5 drops failure metadata). */
export function encodeProposeRunCompletion(completionId: number, result: Result, version = 6): Uint8Array {
  const w = new BinaryWriter();
  u32(w, 1, completionId);
  if ("ok" in result) w.tag(14, WireType.LengthDelimited).bytes(result.ok);
  else writeFailure(w, 15, result.err, version < 6);
  return w.finish();
}

/** Encodes the Output command, the handler's result (`version`: the stream's; V5 drops failure metadata). */
export function encodeOutput(result: Result, version = 6): Uint8Array {
  const w = new BinaryWriter();
  if ("ok" in result) writeValue(w, 14, result.ok);
  else writeFailure(w, 15, result.err, version < 6);
  return w.finish();
}

/**
 * Encodes a command. A command with `wire` bytes goes out exactly as it came (2); a send's
 * `delayMs` becomes the invoke time `now + delayMs`; `version` is the stream's protocol version
 * (default 6; V5 carries no failure metadata).
 */
export function encodeCommand(entry: CommandEntry, now = Date.now(), version = 6): Frame {
  if (entry.wire !== undefined) return { type: entry.wire.type, flags: 0, body: entry.wire.body };
  const v5 = version < 6;
  const w = new BinaryWriter();
  const T = MessageType;
  let type: number;
  switch (entry.type) {
    case "input":
      writeHeaders(w, 1, entry.headers);
      writeValue(w, 14, entry.argument);
      type = T.InputCommand;
      break;
    case "run":
      u32(w, 11, entry.completionId);
      str(w, 12, entry.name);
      type = T.RunCommand;
      break;
    case "sleep":
      u64(w, 1, entry.wakeUpAt);
      u32(w, 11, entry.completionId);
      type = T.SleepCommand;
      break;
    case "call":
    case "send": {
      const call = entry.type === "call";
      str(w, 1, entry.target.service);
      str(w, 2, entry.target.handler);
      if (entry.argument.length > 0) w.tag(3, WireType.LengthDelimited).bytes(entry.argument);
      if (!call) {
        u64(w, 4, entry.delayMs === undefined ? undefined : now + entry.delayMs);
      }
      writeHeaders(w, call ? 4 : 5, entry.headers);
      str(w, call ? 5 : 6, entry.target.key);
      if (entry.idempotencyKey !== undefined)
        w.tag(call ? 6 : 7, WireType.LengthDelimited).string(entry.idempotencyKey);
      u32(w, 10, entry.invocationIdCompletionId);
      if (call) u32(w, 11, entry.resultCompletionId);
      type = call ? T.CallCommand : T.OneWayCallCommand;
      break;
    }
    case "get_state":
      w.tag(1, WireType.LengthDelimited).bytes(utf8Encoder.encode(entry.key));
      if (entry.completionId !== undefined) {
        u32(w, 11, entry.completionId);
        type = T.GetLazyStateCommand;
      } else {
        if (entry.value === null || entry.value === undefined) message(w, 13, () => {});
        else writeValue(w, 14, entry.value);
        type = T.GetEagerStateCommand;
      }
      break;
    case "get_state_keys":
      if (entry.completionId !== undefined) {
        u32(w, 11, entry.completionId);
        type = T.GetLazyStateKeysCommand;
      } else {
        writeStateKeys(w, 14, entry.keys ?? []);
        type = T.GetEagerStateKeysCommand;
      }
      break;
    case "set_state":
      w.tag(1, WireType.LengthDelimited).bytes(utf8Encoder.encode(entry.key));
      writeValue(w, 3, entry.value);
      type = T.SetStateCommand;
      break;
    case "clear_state":
      w.tag(1, WireType.LengthDelimited).bytes(utf8Encoder.encode(entry.key));
      type = T.ClearStateCommand;
      break;
    case "clear_all_state":
      type = T.ClearAllStateCommand;
      break;
    case "complete_awakeable":
      str(w, 1, entry.awakeableId);
      writeResult(w, 2, 3, entry.result, v5);
      type = T.CompleteAwakeableCommand;
      break;
    case "promise_get":
    case "promise_peek":
      str(w, 1, entry.name);
      u32(w, 11, entry.completionId);
      type = entry.type === "promise_get" ? T.GetPromiseCommand : T.PeekPromiseCommand;
      break;
    case "promise_complete":
      str(w, 1, entry.name);
      writeResult(w, 2, 3, entry.result, v5);
      u32(w, 11, entry.completionId);
      type = T.CompletePromiseCommand;
      break;
    case "attach":
      str(w, 1, entry.invocationId);
      u32(w, 11, entry.completionId);
      type = T.AttachInvocationCommand;
      break;
    case "attach_target":
    case "get_output":
      writeAttachTarget(w, entry);
      u32(w, 11, entry.completionId);
      type = entry.type === "attach_target" ? T.AttachInvocationCommand : T.GetInvocationOutputCommand;
      break;
    case "send_named_signal": {
      str(w, 1, entry.invocationId);
      w.tag(3, WireType.LengthDelimited).string(entry.name);
      const v = entry.value;
      if ("void" in v) message(w, 4, () => {});
      else if ("ok" in v) writeValue(w, 5, v.ok);
      else writeFailure(w, 6, v.err, v5);
      type = T.SendSignalCommand;
      break;
    }
    case "cancel_invocation":
      str(w, 1, entry.invocationId);
      w.tag(2, WireType.Varint).uint32(CANCEL_SIGNAL_ID);
      message(w, 4, () => {});
      type = T.SendSignalCommand;
      break;
  }
  return { type, flags: 0, body: w.finish() };
}

/**
 * Encodes a notification. `completionType` is the notification type of a completion id's
 * command (the protocol has one per command kind; see {@link notificationTypesOf}); `version`
 * the stream's protocol version (default 6; V5 carries no failure metadata).
 */
export function encodeNotification(entry: NotificationEntry, completionType: number, version = 6): Frame {
  const w = new BinaryWriter();
  if (entry.type === "completion") u32(w, 1, entry.completionId);
  else if (entry.type === "signal") w.tag(2, WireType.Varint).uint32(entry.signalId);
  else w.tag(3, WireType.LengthDelimited).string(entry.name);
  const v = entry.value;
  if ("void" in v) message(w, 4, () => {});
  else if ("ok" in v) writeValue(w, 5, v.ok);
  else if ("err" in v) writeFailure(w, 6, v.err, version < 6);
  else if ("invocationId" in v) w.tag(16, WireType.LengthDelimited).string(v.invocationId);
  else writeStateKeys(w, 17, v.stateKeys);
  return {
    type: entry.type === "completion" ? completionType : MessageType.SignalNotification,
    flags: 0,
    body: w.finish(),
  };
}

/** The notification type of each completion id a command waits on. */
export function notificationTypesOf(entry: CommandEntry): [completionId: number, type: number][] {
  const T = MessageType;
  switch (entry.type) {
    case "run":
      return [[entry.completionId, T.RunCompletion]];
    case "sleep":
      return [[entry.completionId, T.SleepCompletion]];
    case "call":
    case "send":
      return entry.resultCompletionId === undefined
        ? [[entry.invocationIdCompletionId, T.CallInvocationIdCompletion]]
        : [
            [entry.invocationIdCompletionId, T.CallInvocationIdCompletion],
            [entry.resultCompletionId, T.CallCompletion],
          ];
    case "get_state":
      return entry.completionId === undefined ? [] : [[entry.completionId, T.GetLazyStateCompletion]];
    case "get_state_keys":
      return entry.completionId === undefined ? [] : [[entry.completionId, T.GetLazyStateKeysCompletion]];
    case "promise_get":
      return [[entry.completionId, T.GetPromiseCompletion]];
    case "promise_peek":
      return [[entry.completionId, T.PeekPromiseCompletion]];
    case "promise_complete":
      return [[entry.completionId, T.CompletePromiseCompletion]];
    case "attach":
    case "attach_target":
      return [[entry.completionId, T.AttachInvocationCompletion]];
    case "get_output":
      return [[entry.completionId, T.GetInvocationOutputCompletion]];
    default:
      return [];
  }
}
