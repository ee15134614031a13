/**
 * Journal entries: what an attempt of an invocation recorded, in order. The engine stores them;
 * the SDK replays them. Entry 0 is always the input.
 *
 * A value is the serialized bytes the serde produced; a failure is a terminal error.
 */

/** A terminal failure as it is journaled and returned to callers. */
export interface Failure {
  readonly code: number;
  readonly message: string;
}

/** The outcome of a step or of a whole invocation: a value, or a terminal failure. */
export type Result = { readonly ok: Uint8Array } | { readonly err: Failure };

/** Entry 0: the invocation's argument and the headers it came with. */
export interface InputEntry {
  readonly type: "input";
  readonly argument: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

/** A `ctx.run` step together with its result: one entry, proposed by the SDK once the step ended. */
export interface RunEntry {
  readonly type: "run";
  readonly name: string;
  readonly result: Result;
}

export type JournalEntry = InputEntry | RunEntry;

/** A short human description of an entry for error messages: `Run 'compose'`. */
export function describeEntry(entry: JournalEntry): string {
  switch (entry.type) {
    case "input":
      return "Input";
    case "run":
      return `Run '${entry.name}'`;
  }
}
