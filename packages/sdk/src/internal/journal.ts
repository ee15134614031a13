/**
 * Journal entries: what an invocation recorded, in order. The engine stores them; the SDK
 * replays them. Entry 0 is always the input.
 *
 * Two kinds share the journal:
 * - **Commands**, proposed by the handler in the order it issued them; the k-th command of the
 *   journal is the handler's k-th command (the input is command 0). Some commands are complete
 *   in themselves (run, set_state, a get_state the SDK or the engine filled in); others wait for
 *   a notification (sleep, call, awakeable, promise_get, attach).
 * - **Notifications**, appended by the engine when something completes a command (a timer, a
 *   call's response, an awakeable's resolution) or when the invocation is cancelled.
 *
 * Replay delivers notifications in journal order, which is the order in which the attempt that
 * wrote them saw them: which of two awaited commands completed first is therefore journaled.
 */

/** A terminal failure as it is journaled and returned to callers. */
export interface Failure {
  readonly code: number;
  readonly message: string;
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

/** A `ctx.run` step together with its result: one entry, proposed once the step ended. */
export interface RunEntry {
  readonly type: "run";
  readonly name: string;
  readonly result: Result;
}

/** `ctx.sleep`: completed by a notification when the timer fires. */
export interface SleepEntry {
  readonly type: "sleep";
  readonly wakeUpAt: number;
}

/** A call (awaits the callee's result) or a one-way send. Apply fills in the callee's id. */
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
  /** The callee's invocation id; set by apply. */
  readonly invocationId?: string;
}

/** `ctx.get`: the value, or null when absent. The SDK fills it from eager state, else apply does. */
export interface GetStateEntry {
  readonly type: "get_state";
  readonly key: string;
  readonly value?: Uint8Array | null;
}

/** `ctx.stateKeys()`: the keys, filled by the SDK from complete eager state, else by apply. */
export interface GetStateKeysEntry {
  readonly type: "get_state_keys";
  readonly keys?: readonly string[];
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

/** `ctx.awakeable()`: completed by a notification when someone resolves or rejects its id. */
export interface AwakeableEntry {
  readonly type: "awakeable";
}

/** `ctx.resolveAwakeable` / `rejectAwakeable`. */
export interface CompleteAwakeableEntry {
  readonly type: "complete_awakeable";
  readonly awakeableId: string;
  readonly result: Result;
}

/** `ctx.promise(name).get()`: completed by a notification once the promise has a result. */
export interface PromiseGetEntry {
  readonly type: "promise_get";
  readonly name: string;
}

/** `ctx.promise(name).peek()`: apply fills in the result, or null when it has none yet. */
export interface PromisePeekEntry {
  readonly type: "promise_peek";
  readonly name: string;
  readonly result?: Result | null;
}

/** `ctx.promise(name).resolve/reject`: apply fills in the outcome (an error if already completed). */
export interface PromiseCompleteEntry {
  readonly type: "promise_complete";
  readonly name: string;
  readonly result: Result;
  readonly outcome?: Result;
}

/** `ctx.attach(id)`: completed by a notification with that invocation's result. */
export interface AttachEntry {
  readonly type: "attach";
  readonly invocationId: string;
}

/** `ctx.cancel(id)`: asks another invocation to cancel. */
export interface CancelInvocationEntry {
  readonly type: "cancel_invocation";
  readonly invocationId: string;
}

/** A command: something the handler did. */
export type CommandEntry =
  | InputEntry
  | RunEntry
  | SleepEntry
  | CallEntry
  | GetStateEntry
  | GetStateKeysEntry
  | SetStateEntry
  | ClearStateEntry
  | ClearAllStateEntry
  | AwakeableEntry
  | CompleteAwakeableEntry
  | PromiseGetEntry
  | PromisePeekEntry
  | PromiseCompleteEntry
  | AttachEntry
  | CancelInvocationEntry;

/** A notification: command `commandIndex` completed with `result`. */
export interface CompletionEntry {
  readonly type: "completion";
  readonly commandIndex: number;
  readonly result: Result;
}

/** A notification: the invocation was asked to cancel. */
export interface CancelSignalEntry {
  readonly type: "cancel_signal";
}

export type NotificationEntry = CompletionEntry | CancelSignalEntry;

export type JournalEntry = CommandEntry | NotificationEntry;

/** True for entries the engine appends (not proposed by the handler). */
export function isNotification(entry: JournalEntry): entry is NotificationEntry {
  return entry.type === "completion" || entry.type === "cancel_signal";
}

/** True for commands that wait for a completion notification. */
export function awaitsCompletion(entry: CommandEntry): boolean {
  switch (entry.type) {
    case "sleep":
    case "awakeable":
    case "promise_get":
    case "attach":
      return true;
    case "call":
      return true;
    default:
      return false;
  }
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
    case "awakeable":
      return "Awakeable";
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
    case "cancel_invocation":
      return `CancelInvocation ${entry.invocationId}`;
    case "completion":
      return `Completion of command ${entry.commandIndex}`;
    case "cancel_signal":
      return "CancelSignal";
  }
}

/** The awakeable id of command `commandIndex` of an invocation: `awk_` + id hex + index. */
export function awakeableId(invocationId: string, commandIndex: number): string {
  return `awk_${invocationId.slice(4)}${commandIndex.toString(36)}`;
}

/** Splits an awakeable id into its invocation id and command index; undefined if malformed. */
export function parseAwakeableId(id: string): { invocationId: string; commandIndex: number } | undefined {
  const m = /^awk_([0-9a-f]{40})([0-9a-z]{1,8})$/.exec(id);
  if (m === null) return undefined;
  return { invocationId: `inv_${m[1]!}`, commandIndex: Number.parseInt(m[2]!, 36) };
}
