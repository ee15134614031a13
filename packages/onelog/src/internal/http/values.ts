/**
 * How the admin API and SQL views show stored bytes (arguments, step results, state values):
 * as JSON text when the bytes are UTF-8 JSON, else as base64, and never guessed silently. Field
 * names are snake_case, as in Restate's admin API and SQL columns; names that are user data
 * (state names, header names) are kept as they are.
 */
import {
  attachTargetName,
  describeEntry,
  isNotification,
  type JournalEntry,
  type Result,
} from "@onelog/sdk/internal";

/** A stored value: `{ json }` holds JSON text; `{ base64 }` anything else (also empty bytes). */
export type ShownValue = { readonly json: string } | { readonly base64: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The text of UTF-8 bytes, or undefined when they are not valid UTF-8. */
export function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The bytes as JSON text if they parse as JSON, else undefined. */
export function jsonText(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0) return undefined;
  const text = utf8Text(bytes);
  if (text === undefined) return undefined;
  try {
    JSON.parse(text);
    return text;
  } catch {
    return undefined;
  }
}

/** Shows bytes as `{ json }` when they are JSON, else `{ base64 }`. */
export function showBytes(bytes: Uint8Array): ShownValue {
  const json = jsonText(bytes);
  return json !== undefined ? { json } : { base64: Buffer.from(bytes).toString("base64") };
}

/** `wakeUpAt` → `wake_up_at`: an engine field name as the admin API and SQL write it. */
export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Fields whose value is a map keyed by user data (header names): its keys stay as they are. */
const USER_KEYED = new Set(["headers"]);

/**
 * A decoded engine value (a journal entry, its fields) as the admin API shows it: every byte
 * array replaced by its {@link ShownValue}, every field name in snake_case, except the keys of
 * user-keyed maps such as `headers`.
 */
export function showDeep(value: unknown): unknown {
  if (value instanceof Uint8Array) return showBytes(value);
  if (Array.isArray(value)) return value.map(showDeep);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        snakeCase(k),
        USER_KEYED.has(k) && v !== null && typeof v === "object" ? { ...v } : showDeep(v),
      ]),
    );
  }
  return value;
}

/** A result as the admin API shows it: `{ ok: ShownValue }` or `{ failure: { code, message } }`. */
export function showResult(
  result: Result,
): { ok: ShownValue } | { failure: { code: number; message: string } } {
  return "ok" in result ? { ok: showBytes(result.ok) } : { failure: { ...result.err } };
}

/** The name a journal entry carries: a step's name, a state key, a promise, a call's target. */
export function entryName(e: JournalEntry): string | undefined {
  switch (e.type) {
    case "run":
    case "promise_get":
    case "promise_peek":
    case "promise_complete":
      return e.name;
    case "get_state":
    case "set_state":
    case "clear_state":
      return e.key;
    case "call":
    case "send":
      return `${e.target.service}/${e.target.key === undefined ? "" : `${e.target.key}/`}${e.target.handler}`;
    case "attach":
    case "cancel_invocation":
    case "send_named_signal":
      return e.invocationId;
    case "attach_target":
    case "get_output":
      return attachTargetName(e);
    case "named_signal":
      return e.name;
    case "complete_awakeable":
      return e.awakeableId;
    default:
      return undefined;
  }
}

/** One journal entry as `GET /invocations/{id}` shows it. */
export interface ShownEntry {
  /** Position in the journal (commands and notifications). */
  readonly index: number;
  /** The command's index, for commands (the input is command 0). */
  readonly command_index?: number;
  readonly type: JournalEntry["type"];
  readonly name?: string;
  /** A short description, e.g. `Run 'compose'`. */
  readonly description: string;
  /** The entry's other fields, snake_case, with byte values shown as {@link ShownValue} ({@link showDeep}). */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** Shows a whole journal, numbering commands the way apply does. */
export function showJournal(journal: readonly JournalEntry[]): ShownEntry[] {
  let command = 0;
  return journal.map((entry, index) => {
    const isCommand = !isNotification(entry);
    // `wire` is a remote command's exact bytes, kept for replay: the decoded fields say it all.
    const { type, wire: _wire, ...rest } = entry as JournalEntry & { wire?: unknown };
    const name = entryName(entry);
    return {
      index,
      ...(isCommand ? { command_index: command++ } : {}),
      type,
      ...(name === undefined ? {} : { name }),
      description: describeEntry(entry),
      fields: showDeep(rest) as Record<string, unknown>,
    };
  });
}
