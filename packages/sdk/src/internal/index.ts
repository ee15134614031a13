// Engine-facing entry point (`@onelog/sdk/internal`): the journal types and the attempt runner.
// Not for handler code; it may change between minor versions.
export type {
  AttachByTargetEntry,
  CallEntry,
  CallTarget,
  CommandEntry,
  CompletionEntry,
  Failure,
  FailureMetadata,
  IdempotentRequestTarget,
  InputEntry,
  JournalEntry,
  NotificationEntry,
  NotificationValue,
  Result,
  NamedSignalEntry,
  RunEntry,
  SignalEntry,
  WorkflowRunTarget,
} from "./journal.js";
export {
  CANCEL_SIGNAL_ID,
  FIRST_AWAKEABLE_SIGNAL_ID,
  VOID,
  attachTargetName,
  awakeableId,
  completionIdsOf,
  describeEntry,
  isAwakeableId,
  isNotification,
  parseAwakeableId,
  protocolAwakeableId,
  resultOf,
} from "./journal.js";
export type { Applied, AttemptHandle, AttemptIO, AttemptOutcome, EagerState, WaitingOn } from "./attempt.js";
export { runAttempt, startAttempt } from "./attempt.js";
export type { AnyDefinition, DefinitionParts, HandlerKind, ResolvedHandler } from "./definitions.js";
export { DEFAULTS, definitionParts, resolveHandlers } from "./definitions.js";
export { durationMs } from "./duration.js";
export type { EndpointManifest, HandlerInfo, HandlerManifest, ServiceManifest } from "./manifest.js";
export {
  MAX_PROTOCOL_VERSION,
  MIN_PROTOCOL_VERSION,
  endpointManifest,
  handlersOfManifest,
} from "./manifest.js";
export type { WireCommand } from "./journal.js";
export type { Frame } from "./protocol/frames.js";
export {
  DEFAULT_MAX_FRAME_BYTES,
  FrameDecoder,
  MessageType,
  ProtocolError,
  ProtocolErrorCode,
  encodeFrame,
} from "./protocol/frames.js";
export type { ErrorMessage, ProtocolMessage, StartMessage, SuspensionMessage } from "./protocol/messages.js";
export {
  decodeMessage,
  encodeCommand,
  encodeError,
  encodeNotification,
  encodeOutput,
  encodeProposeRunCompletion,
  encodeStart,
  encodeSuspension,
  notificationTypesOf,
} from "./protocol/messages.js";
export {
  IDENTITY_V1_PREFIX,
  generateIdentityKeyPair,
  identityVerifier,
  parsePublicKeyV1,
  signRequestV1,
} from "./endpoint/identity.js";
export type { IdentityVerifier } from "./endpoint/identity.js";
export { discover, manifestForVersion } from "./endpoint/discovery.js";
export { runInvocation } from "./endpoint/invocation.js";
export type { InvocationResult, InvocationStream } from "./endpoint/invocation.js";
export { listenEndpoint } from "./endpoint/node-endpoint.js";
export type { EndpointServer } from "./endpoint/node-server.js";
