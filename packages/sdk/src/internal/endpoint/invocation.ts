/**
 * One invocation attempt over the Restate service protocol (V5/V6), free of any transport: it
 * reads the request's byte stream (Start, then `known_entries` journal entries, then live
 * notifications), runs the handler through the journal state machine (attempt.ts), and writes
 * the response's messages: each new command, each proposed step result, then exactly one of
 * Output + End, Suspension, or Error.
 *
 * Journal positions are counted here, as the server counts them: the replayed entries take
 * 0 … n-1, and from there every command sent and every notification received takes the next
 * position. The server sends no command acks (V5/V6), so a command counts as applied once sent.
 *
 * Invariants:
 * 1. The response carries at most one final message (End, Suspension or Error), and nothing
 *    after it.
 * 2. The attempt suspends only once the request stream has ended (request/response mode, or the
 *    server closed its side to ask for suspension) and the handler waits on notifications only;
 *    a step result proposed and not yet notified counts as waited on (the server journals it and
 *    resumes the invocation with it).
 * 3. A stream that cannot be read (garbled frames, a message not allowed here) fails this
 *    invocation with Error 571 while the response is writable, and nothing else: it never
 *    throws out of {@link runInvocation}.
 */
import { startAttempt, type AttemptHandle, type AttemptIO, type AttemptOutcome } from "../attempt.js";
import type { ResolvedHandler } from "../definitions.js";
import { protocolAwakeableId, type JournalEntry } from "../journal.js";
import {
  DEFAULT_MAX_FRAME_BYTES,
  FrameDecoder,
  MessageType,
  ProtocolError,
  ProtocolErrorCode,
  encodeFrame,
  type Frame,
} from "../protocol/frames.js";
import {
  decodeMessage,
  encodeCommand,
  encodeError,
  encodeOutput,
  encodeProposeRunCompletion,
  encodeSuspension,
  type ProtocolMessage,
  type StartMessage,
} from "../protocol/messages.js";
import { userConsole, type LoggerContext, type LoggerTransport } from "./logger.js";

/** The two ends of an invocation's HTTP stream, as a transport hands them over. */
export interface InvocationStream {
  /** The request body. Ending it is the server's way to ask the attempt to suspend. */
  readonly input: AsyncIterable<Uint8Array>;
  /** Writes bytes to the response body; a streaming transport sends them at once. */
  write(bytes: Uint8Array): void;
  /** Ends the response body. */
  end(): void;
}

/** How an attempt ended, as this endpoint saw it (for logs and tests). */
export type InvocationResult =
  | { readonly type: "end" }
  | { readonly type: "suspended"; readonly waitingCompletions: number[]; readonly waitingSignals: number[] }
  | { readonly type: "error"; readonly code: number; readonly message: string }
  /** The transport went away; nothing more could be written. */
  | { readonly type: "aborted" };

export interface InvocationOptions {
  readonly logger: LoggerTransport;
  /** The largest message accepted (default 32 MiB). */
  readonly maxFrameBytes?: number;
  /** Aborted when the transport closed: the attempt writes nothing more. */
  readonly signal?: AbortSignal;
  /** The stream's protocol version (default 6): V5 carries no failure metadata. */
  readonly version?: number;
}

/** The `version` option for a stream of this content type (`application/vnd.restate.invocation.v6` → 6). */
export function versionOption(contentType: string): { version?: number } {
  const m = /\.v(\d+)$/.exec(contentType);
  return m === null ? {} : { version: Number(m[1]) };
}

/**
 * Runs one attempt of `handler` over `stream`. Resolves once the response is complete (or the
 * transport went away); never rejects (invariant 3).
 *
 * @example
 * res.writeHead(200, { "content-type": "application/vnd.restate.invocation.v6" });
 * await runInvocation(handler, { input: req, write: (b) => res.write(b), end: () => res.end() }, { logger });
 */
export function runInvocation(
  handler: ResolvedHandler,
  stream: InvocationStream,
  options: InvocationOptions,
): Promise<InvocationResult> {
  return new Invocation(handler, stream, options).run();
}

/** The next turn of the event loop (setImmediate where there is one: not every runtime has it). */
const later: (f: () => void) => void =
  typeof setImmediate === "function" ? (f) => void setImmediate(f) : (f) => void setTimeout(f, 0);

class Invocation {
  private readonly decoder: FrameDecoder;
  private result: InvocationResult | undefined;
  private readonly done: Promise<InvocationResult>;
  private resolveDone!: (r: InvocationResult) => void;
  private handle: AttemptHandle | undefined;
  private start: StartMessage | undefined;
  private context: LoggerContext | undefined;
  /** The next journal position (see the module comment). */
  private position = 0;
  private inputEnded = false;
  private checkScheduled = false;

  constructor(
    private readonly handler: ResolvedHandler,
    private readonly stream: InvocationStream,
    private readonly options: InvocationOptions,
  ) {
    this.decoder = new FrameDecoder(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    options.signal?.addEventListener("abort", () => this.close({ type: "aborted" }), { once: true });
  }

  async run(): Promise<InvocationResult> {
    if (this.options.signal?.aborted === true) return { type: "aborted" };
    void this.read();
    return this.done;
  }

  /** Reads the whole request stream: the journal first, then live notifications (3). */
  private async read(): Promise<void> {
    const journal: JournalEntry[] = [];
    const early: ProtocolMessage[] = [];
    try {
      for await (const chunk of this.stream.input) {
        if (this.result !== undefined) continue; // drain what the server still sends
        for (const frame of this.decoder.push(chunk)) {
          const message = this.decode(frame);
          if (this.start === undefined) {
            if (message.kind !== "start") throw new ProtocolError(`expected Start, got ${message.kind}`);
            this.start = message;
          } else if (journal.length < this.start.knownEntries) {
            if (message.kind !== "command" && message.kind !== "notification") {
              throw new ProtocolError(`expected a journal entry, got ${message.kind}`);
            }
            journal.push(message.entry);
          } else if (this.handle === undefined) {
            early.push(message);
          } else {
            this.live(message);
          }
        }
        if (
          this.handle === undefined &&
          this.start !== undefined &&
          journal.length >= this.start.knownEntries
        ) {
          this.begin(this.start, journal);
          for (const m of early.splice(0)) this.live(m);
        }
      }
    } catch (e) {
      if (e instanceof ProtocolError) return this.protocolFailure(e);
      // The transport failed (the server reset the stream): nothing can be written any more.
      return this.close({ type: "aborted" });
    }
    if (this.result !== undefined) return;
    if (this.decoder.buffered > 0) {
      return this.protocolFailure(new ProtocolError("the request stream ended inside a message"));
    }
    if (this.handle === undefined) {
      return this.protocolFailure(
        new ProtocolError(
          this.start === undefined
            ? "the request stream ended before the Start message"
            : `the request stream ended after ${journal.length} of ${this.start.knownEntries} known entries`,
        ),
      );
    }
    this.inputEnded = true;
    this.scheduleCheck();
  }

  private decode(frame: Frame): ProtocolMessage {
    try {
      return decodeMessage(
        frame,
        this.options.version === undefined ? {} : { version: this.options.version },
      );
    } catch (e) {
      if (e instanceof ProtocolError) throw e;
      throw new ProtocolError(`cannot read a message: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** A message after the journal: only notifications (and acks, which V5/V6 servers do not send). */
  private live(message: ProtocolMessage): void {
    if (message.kind === "notification") this.handle!.notify(message.entry, this.position++);
    else if (message.kind !== "command_ack") {
      throw new ProtocolError(`a ${message.kind} message is not allowed after the journal`);
    }
  }

  /** Starts the attempt on the journal the server sent. */
  private begin(start: StartMessage, journal: JournalEntry[]): void {
    this.position = journal.length;
    const h = this.handler;
    const keyed = h.serviceKind !== "service";
    this.context = {
      invocationId: start.debugId,
      serviceName: h.service,
      handlerName: h.name,
      ...(keyed ? { key: start.key } : {}),
      invocationTarget: keyed ? `${h.service}/${start.key}/${h.name}` : `${h.service}/${h.name}`,
    };
    const io: AttemptIO = {
      invocationId: start.debugId,
      journal,
      ...(keyed
        ? { key: start.key, state: { values: new Map(start.stateMap), complete: !start.partialState } }
        : {}),
      propose: (_index, entry) => {
        if (this.result !== undefined) return Promise.reject(new Error("the invocation's stream is closed"));
        const frame = encodeCommand(entry, Date.now(), this.options.version);
        this.stream.write(encodeFrame(frame.type, frame.body));
        const position = this.position++;
        this.scheduleCheck();
        return Promise.resolve({ position });
      },
      proposeRunCompletion: (completionId, result) => {
        if (this.result !== undefined) return Promise.reject(new Error("the invocation's stream is closed"));
        this.stream.write(
          encodeFrame(
            MessageType.ProposeRunCompletion,
            encodeProposeRunCompletion(completionId, result, this.options.version),
          ),
        );
        this.scheduleCheck();
        return Promise.resolve();
      },
      now: () => Date.now(),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      nextTurn: () => new Promise((resolve) => later(resolve)),
      console: userConsole(this.options.logger, this.context),
      onActivity: () => this.scheduleCheck(),
      awakeableId: (signalId) => protocolAwakeableId(start.id, signalId),
    };
    this.handle = startAttempt(h, io);
    this.handle.outcome.then(
      (outcome) => this.finish(outcome),
      // startAttempt's outcome never rejects; this keeps the promise handled all the same.
      (e: unknown) => this.finish({ type: "failed", message: String(e) }),
    );
  }

  /** Looks (once per turn) whether the attempt should suspend now (invariant 2). */
  private scheduleCheck(): void {
    if (!this.inputEnded || this.checkScheduled || this.result !== undefined) return;
    this.checkScheduled = true;
    later(() => {
      this.checkScheduled = false;
      if (this.result !== undefined || this.handle === undefined) return;
      const waiting = this.handle.waitingOn({ includeProposedRuns: true });
      if (waiting === undefined) return;
      const suspension = {
        waitingCompletions: [...waiting.completionIds],
        waitingSignals: [...waiting.signalIds],
        waitingNamedSignals: [...(waiting.signalNames ?? [])],
      };
      this.stream.write(encodeFrame(MessageType.Suspension, encodeSuspension(suspension)));
      this.log("debug", `suspended, waiting on completions [${suspension.waitingCompletions.join(", ")}]`);
      this.close({ type: "suspended", ...suspension });
    });
  }

  private finish(outcome: AttemptOutcome): void {
    if (this.result !== undefined) return; // suspended or failed already: this attempt is over (1)
    if (outcome.type === "end") {
      this.stream.write(
        encodeFrame(MessageType.OutputCommand, encodeOutput(outcome.result, this.options.version)),
      );
      this.stream.write(encodeFrame(MessageType.End, new Uint8Array(0)));
      return this.close({ type: "end" });
    }
    const code = outcome.code ?? 500;
    this.log("warn", `attempt failed: ${outcome.message}`);
    this.stream.write(
      encodeFrame(
        MessageType.Error,
        encodeError({
          code,
          message: outcome.message,
          stacktrace: outcome.stack ?? "",
          ...(outcome.retryAfterMs === undefined ? {} : { nextRetryDelayMs: outcome.retryAfterMs }),
        }),
      ),
    );
    this.close({ type: "error", code, message: outcome.message });
  }

  private protocolFailure(e: ProtocolError): void {
    if (this.result !== undefined) return;
    const code = e.code === ProtocolErrorCode.JournalMismatch ? e.code : ProtocolErrorCode.ProtocolViolation;
    const message = `${this.handler.service}/${this.handler.name}: ${e.message}`;
    this.log("error", `protocol violation: ${message}`);
    this.stream.write(encodeFrame(MessageType.Error, encodeError({ code, message, stacktrace: "" })));
    this.close({ type: "error", code, message });
  }

  /** Ends the response with this result; later writes and proposals are refused (invariant 1). */
  private close(result: InvocationResult): void {
    if (this.result !== undefined) return;
    this.result = result;
    if (result.type !== "aborted") this.stream.end();
    this.resolveDone(result);
  }

  private log(level: "debug" | "warn" | "error", message: string): void {
    this.options.logger(
      {
        source: "SYSTEM",
        level,
        replaying: false,
        ...(this.context === undefined ? {} : { context: this.context }),
      },
      message,
    );
  }
}
