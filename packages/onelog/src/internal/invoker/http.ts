/**
 * The HTTP invoker: runs attempts on remote deployments over the Restate service protocol
 * (V5/V6). For each attempt it opens `POST {deployment}/invoke/{service}/{handler}`, sends Start,
 * the journal and (streaming) each new notification; it appends what comes back — commands, step
 * results, and the one outcome (End, Suspension or Error) — as records carrying the attempt's
 * epoch, exactly as the in-process invoker does. It implements the {@link Invoker} contract
 * (invoker.ts).
 *
 * Invariants:
 * 1. At most one attempt per invocation runs here; starting a newer epoch aborts the older one,
 *    and an aborted attempt's stream is cancelled and proposes nothing more.
 * 2. Every attempt that is not aborted proposes exactly one outcome: `end`, `suspend` or
 *    `attempt_failed` — a deployment that is unreachable, answers an HTTP error, sends a frame
 *    that cannot be read, or closes the stream without ending fails its attempt (retryable),
 *    never the server.
 * 3. Commands are appended in the order the deployment sent them, with consecutive command
 *    indexes after the journal's.
 * 4. An attempt with no message either way for the handler's inactivity timeout is asked to
 *    suspend (its request body is closed, as Restate does; a request/response attempt's is closed
 *    from the start); if it has not ended after the abort timeout, it is cancelled and fails.
 * 5. In a cluster, an attempt whose deployment is not known here is failed only after the
 *    cluster's latest registry was read once (deployments.ts, 6): it may have been registered
 *    on another node a moment ago. Until then the invocation waits as if queued; an abort or a
 *    newer invoke ends the wait.
 */
import {
  FrameDecoder,
  MessageType,
  ProtocolError,
  decodeMessage,
  encodeCommand,
  encodeFrame,
  encodeNotification,
  encodeStart,
  isNotification,
  notificationTypesOf,
  type CommandEntry,
  type Frame,
  type HandlerInfo,
  type NotificationEntry,
  type ProtocolMessage,
  type Result,
} from "@onelog/sdk/internal";
import { logAttemptFailed, logTerminalFailure } from "../ops/attempt-log.js";
import type { PinnedDeployment, RecordBody } from "../partition/records.js";
import type { InvocationStatus } from "../partition/store/store.js";
import {
  EntryTooLargeError,
  MAX_ENTRY_BYTES,
  MAX_RUNNING_ATTEMPTS,
  WaitingAttempts,
  eagerState,
  entryBytes,
  outcomeRecord,
  proposeOutcome,
  resultBytes,
  tooLarge,
  unregisteredTarget,
} from "./checks.js";
import type { DeploymentClient, InvocationStream } from "./deployment-client.js";
import { protocolVersionFor, type Deployment, type Deployments } from "./deployments.js";
import type { Invoker, InvokerFactory, InvokerHost } from "./invoker.js";
import type { DeploymentSlots } from "./slots.js";

/** How long an attempt asked to suspend may take to end before it is cancelled. */
export const DEFAULT_ABORT_TIMEOUT_MS = 60_000;

/** What the HTTP invoker needs besides its host. */
export interface HttpInvokerOptions {
  readonly deployments: Deployments;
  readonly client: DeploymentClient;
  /** The handler a target names (kinds, inactivity timeout). */
  readonly handler: (service: string, handler: string) => HandlerInfo | undefined;
  /** Whether any deployment (or this process) serves a call's target. */
  readonly isRegistered: (service: string, handler: string) => boolean;
  /** At most so many attempts per deployment at once, across partitions (backpressure); unset: no limit. */
  readonly slots?: DeploymentSlots;
  /** Ask every attempt to suspend at once (request/response): the test mode of ONELOG_SUSPEND_ALWAYS. */
  readonly suspendAlways?: boolean;
  readonly abortTimeoutMs?: number;
  readonly maxRunning?: number;
}

/** The factory of HTTP invokers for an engine: one per partition, sharing deployments and sessions. */
export function httpInvokers(options: HttpInvokerOptions): InvokerFactory {
  return (host) => new HttpInvoker(host, options);
}

interface Attempt {
  readonly id: string;
  readonly epoch: number;
  readonly status: InvocationStatus;
  readonly deployment: Deployment;
  readonly version: number;
  /** Sent with each command while the invocation is not pinned yet. */
  pin: PinnedDeployment | undefined;
  readonly bidi: boolean;
  stream: InvocationStream | undefined;
  /** Gives the deployment's slot back (or leaves its queue). */
  releaseSlot: (() => void) | undefined;
  readonly decoder: FrameDecoder;
  /** Journal entries sent with Start: later notifications below this position were in it. */
  knownEntries: number;
  nextCommandIndex: number;
  /** The notification type of each completion id (the protocol has one per command kind). */
  readonly completionTypes: Map<number, number>;
  output: Result | undefined;
  finished: boolean;
  inputOpen: boolean;
  httpStatus: number;
  /** A 429 or 503's `Retry-After`, in ms. */
  retryAfterMs: number | undefined;
  errorBody: string;
  lastActivity: number;
  inactivity: unknown;
  abortTimer: unknown;
}

export class HttpInvoker implements Invoker {
  private readonly attempts = new Map<string, Attempt>();
  private readonly waiting: WaitingAttempts;
  /** Invocations waiting for a read of the cluster's registry (5), with the epoch to start. */
  private readonly syncing = new Map<string, number>();
  private stopped = false;

  constructor(
    private readonly host: InvokerHost,
    private readonly options: HttpInvokerOptions,
  ) {
    this.waiting = new WaitingAttempts(options.maxRunning ?? MAX_RUNNING_ATTEMPTS);
  }

  get running(): number {
    return this.attempts.size;
  }

  invoke(invocationId: string, epoch: number): void {
    this.start(invocationId, epoch, false);
  }

  private start(invocationId: string, epoch: number, synced: boolean): void {
    this.abort(invocationId); // 1
    if (!this.waiting.admit(invocationId, epoch, this.attempts.size)) return;
    const status = this.host.store.getStatus(invocationId);
    if (status === undefined || status.attemptEpoch !== epoch) return; // a stale invoke: nothing to run
    const { service, handler } = status.target;
    // An invocation whose journal was made on a deployment stays there (1 of deployments.ts).
    const pinned = status.pinnedDeployment;
    const deployment =
      pinned === undefined
        ? this.options.deployments.forService(service)
        : this.options.deployments.get(pinned.deploymentId);
    if (deployment === undefined && !synced && this.options.deployments.isShared) {
      this.syncing.set(invocationId, epoch); // 5
      const again = () => {
        if (this.stopped || this.syncing.get(invocationId) !== epoch) return;
        this.syncing.delete(invocationId);
        this.start(invocationId, epoch, true);
      };
      this.options.deployments.sync().then(again, again);
      return;
    }
    if (deployment === undefined) {
      const message =
        pinned === undefined
          ? `no handler ${service}/${handler} is registered in this process or by a deployment (register one with POST /deployments)`
          : `the deployment ${pinned.deploymentId} this invocation's journal was made with is no longer registered: register it again (force, same URI) or kill the invocation`;
      logAttemptFailed(this.host.logger, status, {
        invocationId,
        attemptEpoch: epoch,
        message,
        registered: pinned !== undefined,
      });
      proposeOutcome(
        this.host,
        outcomeRecord(invocationId, epoch, { type: "failed", message }),
        () => this.stopped,
      );
      return;
    }
    const bidi =
      deployment.protocolMode === "BIDI_STREAM" &&
      !deployment.useHttp11 &&
      this.options.suspendAlways !== true;
    const version = pinned?.protocolVersion ?? protocolVersionFor(deployment);
    const attempt: Attempt = {
      id: invocationId,
      epoch,
      status,
      deployment,
      version,
      pin: pinned === undefined ? { deploymentId: deployment.id, protocolVersion: version } : undefined,
      bidi,
      stream: undefined,
      releaseSlot: undefined,
      decoder: new FrameDecoder(MAX_ENTRY_BYTES + 64 * 1024),
      knownEntries: 0,
      nextCommandIndex: status.commandCount,
      completionTypes: new Map(),
      output: undefined,
      finished: false,
      inputOpen: true,
      httpStatus: 0,
      retryAfterMs: undefined,
      errorBody: "",
      lastActivity: this.host.clock.now(),
      inactivity: undefined,
      abortTimer: undefined,
    };
    this.attempts.set(invocationId, attempt);
    // Backpressure: the attempt reads its journal and opens its stream once the deployment has a slot.
    attempt.releaseSlot = this.options.slots?.acquire(deployment.id, () => this.begin(attempt));
    if (this.options.slots === undefined) this.begin(attempt);
  }

  /** Sends Start and the journal as they are now, and opens the stream. */
  private begin(attempt: Attempt): void {
    if (attempt.finished) return;
    const { id: invocationId, status, deployment, version, bidi } = attempt;
    const { service, handler } = status.target;
    const journal = this.host.store.getJournal(invocationId);
    attempt.knownEntries = journal.length;
    attempt.lastActivity = this.host.clock.now();
    const frames: Uint8Array[] = [];
    const now = this.host.clock.now();
    const key = status.target.key;
    const state = key === undefined ? undefined : eagerState(this.host.store, service, key);
    frames.push(
      encodeFrame(
        MessageType.Start,
        encodeStart({
          id: idBytes(invocationId),
          debugId: invocationId,
          knownEntries: journal.length,
          stateMap: state === undefined ? [] : [...state.values],
          partialState: state !== undefined && !state.complete,
          key: key ?? "",
          retryCountSinceLastStoredEntry: status.retryCount,
          durationSinceLastStoredEntryMs: Math.max(0, now - status.modifiedAt),
          ...(version >= 6 ? { randomSeed: seedOf(invocationId) } : {}),
        }),
      ),
    );
    for (const entry of journal) {
      let frame: Frame;
      if (isNotification(entry)) {
        frame = this.notificationFrame(attempt, entry);
      } else {
        this.learnCompletions(attempt, entry);
        frame = encodeCommand(entry, now, version);
      }
      frames.push(encodeFrame(frame.type, frame.body));
    }
    const path = `/invoke/${encodeURIComponent(service)}/${encodeURIComponent(handler)}`;
    const contentType = `application/vnd.restate.invocation.v${version}`;
    attempt.stream = this.options.client.invoke(
      deployment,
      path,
      { "content-type": contentType, accept: contentType },
      {
        onResponse: (httpStatus, headers) => {
          attempt.httpStatus = httpStatus;
          attempt.retryAfterMs = retryAfterMs(headers["retry-after"], this.host.clock.now());
        },
        onData: (chunk) => this.received(attempt, chunk),
        onEnd: () => this.streamEnded(attempt),
        onError: (e) => this.fail(attempt, `cannot reach deployment ${deployment.uri}: ${e.message}`),
      },
    );
    // One write: Start and the journal leave in as few DATA frames as the flow-control window allows.
    attempt.stream.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
    if (!bidi) this.closeInput(attempt);
    this.armInactivity(attempt);
  }

  ack(): void {
    // The protocol has no command acks (V5/V6): a deployment learns nothing from them.
  }

  notify(invocationId: string, epoch: number, entry: NotificationEntry, position: number): void {
    const a = this.attempts.get(invocationId);
    if (a === undefined || a.epoch !== epoch || a.finished || a.stream === undefined) return; // not begun: its Start will carry it
    if (position < a.knownEntries || !a.inputOpen) return; // sent with Start, or the next attempt replays it
    const frame = this.notificationFrame(a, entry);
    a.stream?.write(encodeFrame(frame.type, frame.body));
    this.activity(a);
  }

  abort(invocationId: string): void {
    this.waiting.drop(invocationId);
    this.syncing.delete(invocationId);
    const a = this.attempts.get(invocationId);
    if (a === undefined) return;
    this.release(a);
    a.stream?.abort();
  }

  stop(): void {
    this.stopped = true;
    this.waiting.clear();
    this.syncing.clear();
    for (const id of [...this.attempts.keys()]) this.abort(id);
  }

  /** Forgets an attempt: it proposes nothing more; a waiting invocation may start. */
  private release(a: Attempt): void {
    a.finished = true;
    a.releaseSlot?.();
    a.releaseSlot = undefined;
    if (this.attempts.get(a.id) === a) this.attempts.delete(a.id);
    if (a.inactivity !== undefined) this.host.clock.clearTimeout(a.inactivity);
    if (a.abortTimer !== undefined) this.host.clock.clearTimeout(a.abortTimer);
    for (let n; !this.stopped && (n = this.waiting.next(this.attempts.size)) !== undefined;) {
      this.invoke(n[0], n[1]);
    }
  }

  private notificationFrame(a: Attempt, entry: NotificationEntry): Frame {
    const type =
      entry.type === "completion"
        ? (a.completionTypes.get(entry.completionId) ?? MessageType.RunCompletion)
        : MessageType.SignalNotification;
    return encodeNotification(entry, type, a.version);
  }

  private learnCompletions(a: Attempt, entry: CommandEntry): void {
    for (const [completionId, type] of notificationTypesOf(entry)) a.completionTypes.set(completionId, type);
  }

  private received(a: Attempt, chunk: Uint8Array): void {
    if (a.finished) return;
    if (a.httpStatus !== 200) {
      if (a.errorBody.length < 2_000) a.errorBody += Buffer.from(chunk).toString("utf8");
      return;
    }
    this.activity(a);
    let frames: Frame[];
    try {
      frames = a.decoder.push(chunk);
    } catch (e) {
      this.fail(a, this.garbled(a, e));
      return;
    }
    for (const frame of frames) {
      if (a.finished) return;
      let m: ProtocolMessage;
      try {
        m = decodeMessage(frame, { keepWire: true, now: this.host.clock.now(), version: a.version });
      } catch (e) {
        this.fail(a, this.garbled(a, e));
        return;
      }
      this.handle(a, m);
    }
  }

  private garbled(a: Attempt, e: unknown): string {
    const why = e instanceof ProtocolError ? e.message : String(e);
    return `deployment ${a.deployment.uri} broke the service protocol: ${why}`;
  }

  private handle(a: Attempt, m: ProtocolMessage): void {
    switch (m.kind) {
      case "command":
        this.command(a, m.entry);
        return;
      case "propose_run": {
        if (resultBytes(m.result) > MAX_ENTRY_BYTES) {
          this.finish(
            a,
            tooLarge(new EntryTooLargeError(`the result of step ${m.completionId}`, resultBytes(m.result))),
          );
          return;
        }
        this.append(a, {
          type: "run_completion",
          invocationId: a.id,
          attemptEpoch: a.epoch,
          completionId: m.completionId,
          result: m.result,
        });
        return;
      }
      case "output":
        if ("ok" in m.result && m.result.ok.length > MAX_ENTRY_BYTES) {
          this.finish(a, tooLarge(new EntryTooLargeError("the output", m.result.ok.length)));
          return;
        }
        a.output = m.result;
        return;
      case "end":
        this.finish(a, { type: "end", result: a.output ?? { ok: new Uint8Array(0) } }, "graceful");
        return;
      case "suspension":
        if (
          m.waitingCompletions.length === 0 &&
          m.waitingSignals.length === 0 &&
          m.waitingNamedSignals.length === 0
        ) {
          this.fail(a, "the deployment suspended waiting for nothing");
          return;
        }
        this.release(a);
        this.closeGracefully(a);
        proposeOutcome(
          this.host,
          {
            type: "suspend",
            invocationId: a.id,
            attemptEpoch: a.epoch,
            waitingCompletions: m.waitingCompletions,
            waitingSignals: m.waitingSignals,
            // What the deployment has seen for sure is the journal sent with Start; a named signal
            // forwarded later may still be on its way to it.
            ...(m.waitingNamedSignals.length === 0
              ? {}
              : { waitingNamedSignals: m.waitingNamedSignals, seenJournalLength: a.knownEntries }),
          },
          () => this.stopped,
        );
        return;
      case "error":
        this.finish(
          a,
          {
            type: "failed",
            message: m.code === 500 || m.code === 0 ? m.message : `[${m.code}] ${m.message}`,
            ...(m.stacktrace === "" ? {} : { stack: m.stacktrace }),
            ...(m.nextRetryDelayMs === undefined ? {} : { retryAfterMs: m.nextRetryDelayMs }),
          },
          "graceful",
        );
        return;
      case "start":
      case "notification":
      case "command_ack":
        this.fail(a, this.garbled(a, new ProtocolError(`a deployment must not send a ${m.kind} message`)));
        return;
    }
  }

  private command(a: Attempt, received: CommandEntry): void {
    let entry = received;
    const bytes = entryBytes(entry);
    if (bytes > MAX_ENTRY_BYTES) {
      this.finish(a, tooLarge(new EntryTooLargeError(`command ${a.nextCommandIndex}`, bytes)));
      return;
    }
    if (entry.type === "call" || entry.type === "send") {
      const refused = unregisteredTarget(entry, this.options.isRegistered);
      if (refused !== undefined) {
        this.fail(a, refused);
        return;
      }
      // The wire has no "no key": an object or workflow may have the empty key.
      const info = this.options.handler(entry.target.service, entry.target.handler);
      const keyed = info !== undefined && info.serviceKind !== "service";
      entry = {
        ...entry,
        target: keyed ? { ...entry.target, key: entry.target.key ?? "" } : entry.target,
        ...(info?.kind === "workflow" && entry.target.key !== undefined ? { workflow: true } : {}),
      };
    }
    if (entry.type === "input") {
      this.fail(a, this.garbled(a, new ProtocolError("a deployment must not send an Input command")));
      return;
    }
    this.learnCompletions(a, entry);
    const commandIndex = a.nextCommandIndex++; // 3
    this.append(a, {
      type: "entry",
      invocationId: a.id,
      attemptEpoch: a.epoch,
      commandIndex,
      entry,
      ...(a.pin === undefined ? {} : { pin: a.pin }),
    });
  }

  /** Appends a command or a step result; a failed append ends the attempt (a gap would follow). */
  private append(a: Attempt, body: RecordBody): void {
    this.host.propose(body).catch((e: unknown) => {
      if (!a.finished) this.fail(a, `appending a journal entry failed: ${String(e)}`);
    });
  }

  private streamEnded(a: Attempt): void {
    if (a.finished) return;
    if (a.httpStatus !== 200) {
      const body = a.errorBody.trim();
      const busy = a.httpStatus === 429 || a.httpStatus === 503;
      this.finish(a, {
        type: "failed",
        message: `deployment ${a.deployment.uri} answered HTTP ${a.httpStatus}${body === "" ? "" : `: ${body.slice(0, 500)}`}`,
        // A busy deployment says when to come back: that delay replaces the policy's, once.
        ...(busy && a.retryAfterMs !== undefined ? { retryAfterMs: a.retryAfterMs } : {}),
      });
      return;
    }
    this.fail(
      a,
      a.decoder.buffered > 0
        ? this.garbled(a, new ProtocolError("the stream ended inside a message"))
        : `deployment ${a.deployment.uri} closed the stream without ending the invocation`,
    );
  }

  private fail(a: Attempt, message: string): void {
    this.finish(a, { type: "failed", message });
  }

  /** The attempt's one outcome (2). */
  private finish(
    a: Attempt,
    outcome:
      | { type: "end"; result: Result }
      | { type: "failed"; message: string; stack?: string; retryAfterMs?: number },
    close: "graceful" | "abort" = "abort",
  ): void {
    if (a.finished) return;
    this.release(a);
    if (close === "graceful") this.closeGracefully(a);
    else a.stream?.abort();
    if (outcome.type === "failed") {
      logAttemptFailed(this.host.logger, this.host.store.getStatus(a.id), {
        invocationId: a.id,
        attemptEpoch: a.epoch,
        message: outcome.message,
        stack: outcome.stack,
        retryAfterMs: outcome.retryAfterMs,
        registered: true,
      });
    } else if ("err" in outcome.result) {
      logTerminalFailure(this.host.logger, a.id, a.status, outcome.result.err);
    }
    proposeOutcome(this.host, outcomeRecord(a.id, a.epoch, outcome), () => this.stopped);
  }

  /**
   * After the deployment's last message (End, Suspension, Error) the stream ends normally: the
   * server closes its side and the deployment its own. A reset here would count, for the
   * deployment's HTTP/2 library, as a stream torn down; after about a thousand of them nghttp2
   * takes it for an attack and closes the whole connection, failing every attempt on it. A
   * deployment that does not end its side within 10 s is reset after all.
   */
  private closeGracefully(a: Attempt): void {
    this.closeInput(a);
    const stream = a.stream;
    if (stream === undefined) return;
    const timer = setTimeout(() => stream.abort(), 10_000);
    timer.unref();
    stream.onClosed?.(() => clearTimeout(timer));
  }

  private closeInput(a: Attempt): void {
    if (!a.inputOpen) return;
    a.inputOpen = false;
    a.stream?.endInput();
  }

  private activity(a: Attempt): void {
    a.lastActivity = this.host.clock.now();
  }

  /** Invariant 4. */
  private armInactivity(a: Attempt): void {
    const info = this.options.handler(a.status.target.service, a.status.target.handler);
    const timeoutMs = info?.inactivityTimeoutMs ?? 60_000;
    const abortMs = info?.abortTimeoutMs ?? this.options.abortTimeoutMs ?? DEFAULT_ABORT_TIMEOUT_MS;
    const check = () => {
      a.inactivity = undefined;
      if (a.finished) return;
      const idle = this.host.clock.now() - a.lastActivity;
      if (idle < timeoutMs) {
        a.inactivity = this.host.clock.setTimeout(check, timeoutMs - idle);
        return;
      }
      this.closeInput(a);
      a.abortTimer = this.host.clock.setTimeout(() => {
        a.abortTimer = undefined;
        this.fail(
          a,
          `deployment ${a.deployment.uri} did not end the attempt within ${abortMs} ms after it was asked to suspend (inactivity timeout ${timeoutMs} ms)`,
        );
      }, abortMs);
    };
    a.inactivity = this.host.clock.setTimeout(check, timeoutMs);
  }
}

/** The bytes of an invocation id (`inv_` + hex): what Start carries and awakeable ids embed. */
export function idBytes(invocationId: string): Uint8Array {
  return Buffer.from(invocationId.slice(4), "hex");
}

/** V6's random seed: the invocation id's first 8 bytes, so every attempt draws the same numbers. */
function seedOf(invocationId: string): bigint {
  return Buffer.from(invocationId.slice(4, 20), "hex").readBigUInt64BE(0);
}

/** `Retry-After` as ms from now: seconds, or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | string[] | undefined, nowMs: number): number | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  if (text === undefined || text.trim() === "") return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
