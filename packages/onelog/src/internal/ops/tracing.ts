/**
 * OpenTelemetry spans for invocation attempts and their steps, through `@opentelemetry/api`
 * only. Without an OpenTelemetry SDK registered by the program, the API's tracer does nothing,
 * and this costs one non-recording span per attempt.
 *
 * - Each attempt is a span `attempt {service}/{handler}`. Its parent is the trace context in
 *   the invocation's input headers (`traceparent`, `tracestate`), read with the program's
 *   registered propagator. The headers are journaled with the input, so every attempt of an
 *   invocation, also after a restart, joins the trace of the request that started it.
 * - Each `ctx.run` step that executes is a child span `step {name}`, from the moment its action
 *   starts until its result is durable, or it fails. A replayed step does not execute and has
 *   no span. Failed tries of a step with retry options are recorded on its span.
 * - While the handler runs the attempt span is the active context, and while a step's action
 *   runs its step span is, so the program's own spans nest under them (when the program
 *   registered a context manager, as the OpenTelemetry Node SDK does).
 */
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type Tracer,
} from "@opentelemetry/api";
import type { AttemptOutcome, JournalEntry, ResolvedHandler } from "@onelog/sdk/internal";
import type { Target } from "../partition/records.js";

/** How an attempt ended, for its span. */
export type AttemptEnd = AttemptOutcome | "suspended" | "aborted";

/** The tracing of one attempt. */
export interface AttemptTrace {
  /** The handler to run: the same one, or, while the span records, one whose steps get spans. */
  handler(h: ResolvedHandler): ResolvedHandler;
  /** Ends the attempt's span; only the first call counts. */
  end(how: AttemptEnd): void;
}

const NOOP: AttemptTrace = { handler: (h) => h, end: () => {} };

/** The tracer's name in the program's OpenTelemetry setup. */
export const TRACER_NAME = "onelog";

/**
 * Starts the span of an attempt; a no-op object unless a tracer records it (then it costs about
 * half a microsecond).
 *
 * @example
 * const t = startAttemptTrace({ invocationId, attemptEpoch, target, journal });
 * const handle = startAttempt(t.handler(handler), io);
 * t.end(await handle.outcome);
 */
export function startAttemptTrace(o: {
  readonly invocationId: string;
  readonly attemptEpoch: number;
  readonly target: Target;
  readonly journal: readonly JournalEntry[];
}): AttemptTrace {
  const tracer = trace.getTracer(TRACER_NAME);
  const input = o.journal[0];
  const parent = propagation.extract(ROOT_CONTEXT, input?.type === "input" ? input.headers : {});
  const { service, handler, key } = o.target;
  const target = `${service}/${key === undefined ? "" : `${key}/`}${handler}`;
  const span = tracer.startSpan(
    `attempt ${service}/${handler}`,
    {
      kind: SpanKind.SERVER,
      attributes: {
        "onelog.invocation.id": o.invocationId,
        "onelog.invocation.target": target,
        "onelog.service": service,
        "onelog.handler": handler,
        "onelog.attempt": o.attemptEpoch,
        ...(key === undefined ? {} : { "onelog.key": key }),
      },
    },
    parent,
  );
  if (!span.isRecording()) return NOOP;
  const active = trace.setSpan(parent, span);
  let ended = false;
  return {
    handler: (h) => ({
      ...h,
      fn: (ctx: unknown, arg: unknown) =>
        context.with(active, () => h.fn(withStepSpans(ctx, tracer, active, o.invocationId), arg)),
    }),
    end(how) {
      if (ended) return;
      ended = true;
      if (how === "suspended" || how === "aborted") {
        span.setAttribute("onelog.attempt.outcome", how);
      } else if (how.type === "failed") {
        span.setAttribute("onelog.attempt.outcome", "failed");
        span.setStatus({ code: SpanStatusCode.ERROR, message: how.message });
      } else if ("err" in how.result) {
        span.setAttribute("onelog.attempt.outcome", "terminal_failure");
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: `[${how.result.err.code}] ${how.result.err.message}`,
        });
      } else {
        span.setAttribute("onelog.attempt.outcome", "completed");
        span.setStatus({ code: SpanStatusCode.OK });
      }
      span.end();
    },
  };
}

/** A context whose `run` puts each executed step in a span; everything else is the SDK's own. */
function withStepSpans(ctx: unknown, tracer: Tracer, parent: Context, invocationId: string): unknown {
  if (ctx === null || typeof ctx !== "object") return ctx;
  const run = (ctx as { run?: unknown }).run;
  if (typeof run !== "function") return ctx;
  const traceRun = (nameOrAction: unknown, action?: unknown, options?: unknown): unknown => {
    const name = typeof nameOrAction === "string" ? nameOrAction : "";
    const fn = typeof nameOrAction === "function" ? nameOrAction : action;
    if (typeof fn !== "function") return run.call(ctx, nameOrAction, action, options); // the SDK says what is wrong
    let span: Span | undefined;
    const traced = async (): Promise<unknown> => {
      span ??= tracer.startSpan(
        `step ${name === "" ? "run" : name}`,
        {
          kind: SpanKind.INTERNAL,
          attributes: { "onelog.invocation.id": invocationId, "onelog.step.name": name },
        },
        parent,
      );
      try {
        return await context.with(trace.setSpan(parent, span), fn as () => unknown);
      } catch (e) {
        span.recordException(e instanceof Error ? e : String(e));
        throw e;
      }
    };
    const promise = (
      typeof nameOrAction === "function"
        ? run.call(ctx, traced)
        : run.call(ctx, nameOrAction, traced, options)
    ) as PromiseLike<unknown>;
    promise.then(
      () => span?.end(),
      (e: unknown) => {
        if (span === undefined) return;
        span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
        span.end();
      },
    );
    return promise;
  };
  // The SDK's context is a plain object of closures: a derived object sees all of it.
  return Object.create(ctx, { run: { value: traceRun, enumerable: true } }) as unknown;
}
