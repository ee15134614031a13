/**
 * Journal entries: what an invocation recorded, in order, in the shape of the Restate service
 * protocol (V5/V6). The engine stores them; the SDK replays them. Entry 0 is always the input.
 *
 * Two kinds share the journal:
 * - **Commands**, proposed by the handler in the order it issued them; the k-th command of the
 *   journal is the handler's k-th command (the input is command 0). A command that waits for
 *   something carries a **completion id**, allocated by the SDK (1, 2, 3, … in issue order); a
 *   call carries two (the callee's invocation id, and its result).
 * - **Notifications**, appended by the engine: a completion, keyed by completion id (a step's
 *   result, a timer that fired, a call's result or invocation id, a promise, a lazily read state
 *   value), or a signal, keyed by signal id (1 is cancellation; awakeables use 17 and up).
 *
 * A `ctx.run` is a Run command plus a *proposed* completion that the engine appends as the
 * Run's notification once it is durable. Awaits and combinators resolve in notification order,
 * which is journal order, so replays take the same branches as the first attempt did.
 */

/**
 * A terminal failure as it is journaled and returned to callers. `metadata` (service protocol
 * V6, Restate's `TerminalError` `metadata` option) goes wherever the failure goes: the journal,
 * the invocation's result, its callers and attachers; a V5 stream never carries it.
 */
export interface Failure {
  readonly code: number;
  readonly message: string;
  /** Key/value pairs in the order they were given; absent when there are none. */
  readonly metadata?: readonly FailureMetadata[];
}

/** One key/value pair of a failure's metadata. */
export interface FailureMetadata {
  readonly key: string;
  readonly value: string;
}

/** The outcome of a step or of a whole invocation: a value, or a terminal failure. */
export type Result = { readonly ok: Uint8Array } | { readonly err: Failure };

/** Where a call or send goes. */
export interface CallTarget {
  readonly service: string;
  readonly handler: string;
  readonly key?: string;
}

/** Entry 0: the invocation's argument and the headers it came with. */
export interface InputEntry {
  readonly type: "input";
  readonly argument: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

/** `ctx.run`: the step's result comes as the notification of `completionId`. */
export interface RunEntry {
  readonly type: "run";
  readonly name: string;
  readonly completionId: number;
}

/** `ctx.sleep`: completed (void) when the timer fires. */
export interface SleepEntry {
  readonly type: "sleep";
  readonly wakeUpAt: number;
  readonly completionId: number;
}

/**
 * A call (awaits the callee's result) or a one-way send. The engine notifies the callee's
 * invocation id on `invocationIdCompletionId`, and a call's result on `resultCompletionId`.
 */
export interface CallEntry {
  readonly type: "call" | "send";
  readonly target: CallTarget;
  readonly argument: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly idempotencyKey?: string;
  /** Set by workflow clients: a `run` target names the workflow's one run invocation. */
  readonly workflow?: boolean;
  /** Sends only: start no earlier than this long after the send is applied. */
  readonly delayMs?: number;
  readonly invocationIdCompletionId: number;
  /** Calls only. */
  readonly resultCompletionId?: number;
}

/**
 * `ctx.get`: with `value` when the SDK knew it (eager state: the bytes, or null when absent);
 * else with `completionId`, and the engine notifies the value (void when absent).
 */
export interface GetStateEntry {
  readonly type: "get_state";
  readonly key: string;
  readonly value?: Uint8Array | null;
  readonly completionId?: number;
}

/** `ctx.stateKeys()`: with `keys` from complete eager state, else notified on `completionId`. */
export interface GetStateKeysEntry {
  readonly type: "get_state_keys";
  readonly keys?: readonly string[];
  readonly completionId?: number;
}

export interface SetStateEntry {
  readonly type: "set_state";
  readonly key: string;
  readonly value: Uint8Array;
}

export interface ClearStateEntry {
  readonly type: "clear_state";
  readonly key: string;
}

export interface ClearAllStateEntry {
  readonly type: "clear_all_state";
}

/** `ctx.resolveAwakeable` / `rejectAwakeable`: the awakeable's signal goes to its invocation. */
export interface CompleteAwakeableEntry {
  readonly type: "complete_awakeable";
  readonly awakeableId: string;
  readonly result: Result;
}

/** `ctx.promise(name).get()`: notified once the promise has a result. */
export interface PromiseGetEntry {
  readonly type: "promise_get";
  readonly name: string;
  readonly completionId: number;
}

/** `ctx.promise(name).peek()`: notified at once with the result, or void when it has none yet. */
export interface PromisePeekEntry {
  readonly type: "promise_peek";
  readonly name: string;
  readonly completionId: number;
}

/** `ctx.promise(name).resolve/reject`: notified void, or a 409 failure if already completed. */
export interface PromiseCompleteEntry {
  readonly type: "promise_complete";
  readonly name: string;
  readonly result: Result;
  readonly completionId: number;
}

/** An idempotent request, named by its target and idempotency key (the protocol's IdempotentRequestTarget). */
export interface IdempotentRequestTarget {
  readonly service: string;
  readonly handler: string;
  /** The object key; absent for a service. */
  readonly key?: string;
  readonly idempotencyKey: string;
}

/** A workflow's run, named by the workflow and its id (the protocol's WorkflowTarget). */
export interface WorkflowRunTarget {
  readonly workflow: string;
  readonly workflowId: string;
}

/** `ctx.attach(id)`: notified with that invocation's result. */
export interface AttachEntry {
  readonly type: "attach";
  readonly invocationId: string;
  readonly completionId: number;
}

/**
 * What a remote SDK attaches to or asks the output of by name rather than by id (the protocol's
 * AttachInvocation and GetInvocationOutput commands): exactly one of `invocationId`,
 * `idempotentRequest` and `workflowRun` is set. `attach` waits for the result; `get_output` is
 * notified at once, with void while the invocation has not completed. Either is a 404 failure
 * when no such invocation is known.
 */
export interface AttachByTargetEntry {
  readonly type: "attach_target" | "get_output";
  readonly invocationId?: string;
  readonly idempotentRequest?: IdempotentRequestTarget;
  readonly workflowRun?: WorkflowRunTarget;
  readonly completionId: number;
}

/**
 * `ctx.invocation(id).signal(name).resolve()` / `.reject()`: sends named signal `name` to
 * another invocation (the protocol's SendSignal with a name), notified there as a
 * {@link NamedSignalEntry}.
 */
export interface SendNamedSignalEntry {
  readonly type: "send_named_signal";
  readonly invocationId: string;
  readonly name: string;
  readonly value: { readonly ok: Uint8Array } | { readonly err: Failure } | { readonly void: true };
}

/** `ctx.cancel(id)`: sends the cancel signal to another invocation. */
export interface CancelInvocationEntry {
  readonly type: "cancel_invocation";
  readonly invocationId: string;
}

/**
 * The exact bytes of a command as a remote deployment sent it (server mode): the engine replays
 * them byte for byte, because Restate's SDKs compare fields on replay (entry names, header order,
 * payloads) that this model does not keep.
 */
export interface WireCommand {
  /** The message type (service protocol). */
  readonly type: number;
  /** The protobuf body. */
  readonly body: Uint8Array;
}

/** A command: something the handler did; `wire` when it came over the service protocol. */
export type CommandEntry = (
  | InputEntry
  | RunEntry
  | SleepEntry
  | CallEntry
  | GetStateEntry
  | GetStateKeysEntry
  | SetStateEntry
  | ClearStateEntry
  | ClearAllStateEntry
  | CompleteAwakeableEntry
  | PromiseGetEntry
  | PromisePeekEntry
  | PromiseCompleteEntry
  | AttachEntry
  | AttachByTargetEntry
  | SendNamedSignalEntry
  | CancelInvocationEntry
) & { readonly wire?: WireCommand };

/**
 * What a notification carries: a value or a terminal failure (a step, a call, a promise, an
 * awakeable), nothing (a timer fired, a promise completed, state absent), a callee's invocation
 * id, or state keys.
 */
export type NotificationValue =
  | { readonly ok: Uint8Array }
  | { readonly err: Failure }
  | { readonly void: true }
  | { readonly invocationId: string }
  | { readonly stateKeys: readonly string[] };

/** A notification: what `completionId` waited for. At most one per completion id. */
export interface CompletionEntry {
  readonly type: "completion";
  readonly completionId: number;
  readonly value: NotificationValue;
}

/** The signal id of cancellation (as in the Restate protocol). */
export const CANCEL_SIGNAL_ID = 1;
/** The first signal id an awakeable gets (lower ids are reserved, as in the Restate protocol). */
export const FIRST_AWAKEABLE_SIGNAL_ID = 17;

/** A notification: signal `signalId` arrived (1: cancel; 17 and up: awakeables). */
export interface SignalEntry {
  readonly type: "signal";
  readonly signalId: number;
  readonly value: NotificationValue;
}

/**
 * A notification: named signal `name` arrived, for `ctx.signal(name)`. Each signal sent is one
 * such entry; several of one name are paired with the handler's waits in journal order.
 */
export interface NamedSignalEntry {
  readonly type: "named_signal";
  readonly name: string;
  readonly value: NotificationValue;
}

export type NotificationEntry = CompletionEntry | SignalEntry | NamedSignalEntry;

export type JournalEntry = CommandEntry | NotificationEntry;

/** The void notification value (a timer fired, a promise completed, absent state). */
export const VOID: NotificationValue = { void: true };

/** True for entries the engine appends (not proposed by the handler). */
export function isNotification(entry: JournalEntry): entry is NotificationEntry {
  return entry.type === "completion" || entry.type === "signal" || entry.type === "named_signal";
}

/** The completion ids a command waits on (none for commands complete in themselves). */
export function completionIdsOf(entry: CommandEntry): number[] {
  switch (entry.type) {
    case "run":
    case "sleep":
    case "promise_get":
    case "promise_peek":
    case "promise_complete":
    case "attach":
    case "attach_target":
    case "get_output":
      return [entry.completionId];
    case "get_state":
    case "get_state_keys":
      return entry.completionId === undefined ? [] : [entry.completionId];
    case "call":
    case "send":
      return entry.resultCompletionId === undefined
        ? [entry.invocationIdCompletionId]
        : [entry.invocationIdCompletionId, entry.resultCompletionId];
    case "input":
    case "set_state":
    case "clear_state":
    case "clear_all_state":
    case "complete_awakeable":
    case "send_named_signal":
    case "cancel_invocation":
      return [];
  }
}

/** A notification value read as a result: void and ids read as empty bytes. */
export function resultOf(value: NotificationValue): Result {
  if ("err" in value || "ok" in value) return value;
  return { ok: new Uint8Array(0) };
}

/** A short human description of an entry for error messages: `Run 'compose'`. */
export function describeEntry(entry: JournalEntry): string {
  switch (entry.type) {
    case "input":
      return "Input";
    case "run":
      return `Run '${entry.name}'`;
    case "sleep":
      return "Sleep";
    case "call":
    case "send":
      return `${entry.type === "call" ? "Call" : "Send"} ${entry.target.service}/${entry.target.key === undefined ? "" : entry.target.key + "/"}${entry.target.handler}`;
    case "get_state":
      return `GetState '${entry.key}'`;
    case "get_state_keys":
      return "GetStateKeys";
    case "set_state":
      return `SetState '${entry.key}'`;
    case "clear_state":
      return `ClearState '${entry.key}'`;
    case "clear_all_state":
      return "ClearAllState";
    case "complete_awakeable":
      return `CompleteAwakeable ${entry.awakeableId}`;
    case "promise_get":
      return `GetPromise '${entry.name}'`;
    case "promise_peek":
      return `PeekPromise '${entry.name}'`;
    case "promise_complete":
      return `CompletePromise '${entry.name}'`;
    case "attach":
      return `Attach ${entry.invocationId}`;
    case "attach_target":
      return `Attach ${attachTargetName(entry)}`;
    case "get_output":
      return `GetInvocationOutput ${attachTargetName(entry)}`;
    case "send_named_signal":
      return `SendSignal '${entry.name}' to ${entry.invocationId}`;
    case "cancel_invocation":
      return `CancelInvocation ${entry.invocationId}`;
    case "completion":
      return `Completion ${entry.completionId}`;
    case "signal":
      return entry.signalId === CANCEL_SIGNAL_ID ? "CancelSignal" : `Signal ${entry.signalId}`;
    case "named_signal":
      return `Signal '${entry.name}'`;
  }
}

/** How an attach or get-output names its target, for people: the id, the idempotent request or the workflow. */
export function attachTargetName(entry: AttachByTargetEntry): string {
  if (entry.idempotentRequest !== undefined) {
    const t = entry.idempotentRequest;
    return `${t.service}/${t.key === undefined ? "" : `${t.key}/`}${t.handler} (idempotency key '${t.idempotencyKey}')`;
  }
  if (entry.workflowRun !== undefined)
    return `workflow ${entry.workflowRun.workflow}/${entry.workflowRun.workflowId}`;
  return entry.invocationId ?? "";
}

/** The awakeable id of signal `signalId` of an invocation: `awk_` + id hex + signal id (base 36). */
export function awakeableId(invocationId: string, signalId: number): string {
  return `awk_${invocationId.slice(4)}${signalId.toString(36)}`;
}

/**
 * The service protocol's awakeable id: `sign_1` + unpadded base64url of the Start message's
 * invocation id bytes followed by the signal id (u32, big-endian). Deployments over the protocol
 * name awakeables this way, whichever SDK they use.
 *
 * @example
 * protocolAwakeableId(start.id, 17); // "sign_1…"
 */
export function protocolAwakeableId(startId: Uint8Array, signalId: number): string {
  const bytes = new Uint8Array(startId.length + 4);
  bytes.set(startId);
  new DataView(bytes.buffer).setUint32(startId.length, signalId);
  return `${PROTOCOL_AWAKEABLE_PREFIX}${base64url(bytes)}`;
}

const PROTOCOL_AWAKEABLE_PREFIX = "sign_1";
const PROTOCOL_AWAKEABLE = /^sign_1([A-Za-z0-9_-]+)$/;

/**
 * Splits an awakeable id into its invocation id and signal id; undefined if malformed. Reads
 * onelog's `awk_` ids and the protocol's `sign_1` ids whose Start id is the 20 bytes of a onelog
 * invocation id (`inv_` + 40 hex digits).
 */
export function parseAwakeableId(id: string): { invocationId: string; signalId: number } | undefined {
  const m = /^awk_([0-9a-f]{40})([0-9a-z]{1,8})$/.exec(id);
  if (m === null) return parseProtocolAwakeableId(id);
  const signalId = Number.parseInt(m[2]!, 36);
  if (signalId < FIRST_AWAKEABLE_SIGNAL_ID) return undefined;
  return { invocationId: `inv_${m[1]!}`, signalId };
}

function parseProtocolAwakeableId(id: string): { invocationId: string; signalId: number } | undefined {
  const m = PROTOCOL_AWAKEABLE.exec(id);
  if (m === null) return undefined;
  const bytes = fromBase64url(m[1]!);
  if (bytes === undefined || bytes.length !== 24) return undefined;
  const signalId = new DataView(bytes.buffer, bytes.byteOffset).getUint32(20);
  if (signalId < FIRST_AWAKEABLE_SIGNAL_ID) return undefined;
  let hex = "";
  for (const x of bytes.subarray(0, 20)) hex += x.toString(16).padStart(2, "0");
  return { invocationId: `inv_${hex}`, signalId };
}

/**
 * Whether a handler may complete this id as an awakeable: onelog's ids, and any protocol
 * `sign_1` id (a Restate server's invocation ids are not onelog's; the server checks them).
 */
export function isAwakeableId(id: string): boolean {
  return parseAwakeableId(id) !== undefined || PROTOCOL_AWAKEABLE.test(id);
}

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function base64url(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let c = 0; c < chars; c++) out += B64URL[(n >> (18 - 6 * c)) & 63];
  }
  return out;
}

function fromBase64url(text: string): Uint8Array | undefined {
  if (text.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((text.length * 6) / 8));
  let bits = 0;
  let acc = 0;
  let at = 0;
  for (const ch of text) {
    const v = B64URL.indexOf(ch);
    if (v < 0) return undefined;
    acc = ((acc << 6) | v) & 0xfff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}
