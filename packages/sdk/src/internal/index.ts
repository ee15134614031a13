// Engine-facing entry point (`@onelog/sdk/internal`): the journal types and the attempt runner.
// Not for handler code; it may change between minor versions.
export type { Failure, InputEntry, JournalEntry, Result, RunEntry } from "./journal.js";
export { describeEntry } from "./journal.js";
export type { AttemptIO, AttemptOutcome } from "./attempt.js";
export { runAttempt } from "./attempt.js";
export type { ResolvedHandler } from "./definitions.js";
export { DEFAULTS, resolveHandlers } from "./definitions.js";
export { durationMs } from "./duration.js";
