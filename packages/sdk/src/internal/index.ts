// Engine-facing entry point (`@onelog/sdk/internal`): the journal types and the attempt runner.
// Not for handler code; it may change between minor versions.
export type {
  CallEntry,
  CallTarget,
  CommandEntry,
  CompletionEntry,
  Failure,
  InputEntry,
  JournalEntry,
  NotificationEntry,
  Result,
  RunEntry,
} from "./journal.js";
export { awaitsCompletion, awakeableId, describeEntry, isNotification, parseAwakeableId } from "./journal.js";
export type { Applied, AttemptHandle, AttemptIO, AttemptOutcome, EagerState } from "./attempt.js";
export { runAttempt, startAttempt } from "./attempt.js";
export type { AnyDefinition, DefinitionParts, HandlerKind, ResolvedHandler } from "./definitions.js";
export { DEFAULTS, definitionParts, resolveHandlers } from "./definitions.js";
export { durationMs } from "./duration.js";
