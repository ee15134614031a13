// Proves every invocation attempt and every executed ctx.run step becomes an OpenTelemetry span through @opentelemetry/api — attempts join the trace of the request's traceparent header (also on retries), steps are children of their attempt, replayed steps get no span, and the step span is the active context while the action runs — by registering the SDK's in-memory exporter and a W3C propagator and calling real handlers over HTTP.
import { after, before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  context,
  propagation,
  ROOT_CONTEXT,
  trace,
  type Context,
  type ContextManager,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from "@opentelemetry/sdk-trace-base";
import * as onelog from "onelog";
import { eventually, http, removeTmpDirs, startServer } from "./admin-harness.js";

/** A context manager for synchronous code: enough to see which span is active inside an action. */
class StackContextManager implements ContextManager {
  private stack: Context[] = [];
  active(): Context {
    return this.stack[this.stack.length - 1] ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    this.stack.push(ctx);
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.stack.pop();
    }
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.stack = [];
    return this;
  }
}

const exporter = new InMemorySpanExporter();
const attemptsOf = new Map<string, number>();
const activeInStep = new Map<string, string | undefined>();

const traced = onelog.service({
  name: "Traced",
  handlers: {
    greet: async (ctx: onelog.Context, name: string) => ctx.run("compose", () => `hello ${name}`),
    // Its step is journaled on attempt 1; attempt 1 then fails, attempt 2 replays the step.
    flaky: async (ctx: onelog.Context, key: string) => {
      const value = await ctx.run("once", () => `ran for ${key}`);
      const n = (attemptsOf.get(key) ?? 0) + 1;
      attemptsOf.set(key, n);
      if (n === 1) throw new Error("first attempt fails");
      return value;
    },
    active: async (ctx: onelog.Context, key: string) => {
      await ctx.run("look", () => {
        activeInStep.set(key, trace.getActiveSpan()?.spanContext().spanId);
      });
    },
    refuse: async () => {
      throw new onelog.TerminalError("refused", { errorCode: 403 });
    },
  },
});

let server: onelog.OnelogServer;

before(async () => {
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  context.setGlobalContextManager(new StackContextManager());
  server = await startServer([traced]);
});

after(async () => {
  await server?.stop();
  trace.disable();
  propagation.disable();
  context.disable();
  removeTmpDirs();
});

beforeEach(() => exporter.reset());

const hex = (n: number, seed: string) => seed.repeat(n).slice(0, n);
const traceparent = (traceId: string, spanId: string) => `00-${traceId}-${spanId}-01`;

function spansOf(id: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.attributes["onelog.invocation.id"] === id);
}

describe("tracing", () => {
  it("an attempt continues the request's trace, and its step is a child span", async () => {
    const traceId = hex(32, "4bf92f3577b34da6");
    const parentId = hex(16, "00f067aa0ba902b7");
    const r = await http("POST", `${server.ingressUrl}/Traced/greet`, '"Ada"', {
      traceparent: traceparent(traceId, parentId),
    });
    assert.equal(r.status, 200);
    const id = r.headers.get("x-restate-id")!;
    const spans = await eventually("attempt and step spans ended", () => {
      const s = spansOf(id);
      return s.length === 2 ? s : undefined;
    });
    const attempt = spans.find((s) => s.name === "attempt Traced/greet")!;
    const step = spans.find((s) => s.name === "step compose")!;
    assert.ok(attempt && step, spans.map((s) => s.name).join(", "));
    assert.equal(attempt.spanContext().traceId, traceId);
    assert.equal(attempt.parentSpanContext?.spanId, parentId);
    assert.equal(attempt.attributes["onelog.invocation.target"], "Traced/greet");
    assert.equal(attempt.attributes["onelog.attempt"], 1);
    assert.equal(attempt.attributes["onelog.attempt.outcome"], "completed");
    assert.equal(step.spanContext().traceId, traceId);
    assert.equal(step.parentSpanContext?.spanId, attempt.spanContext().spanId);
    assert.equal(step.attributes["onelog.step.name"], "compose");
  });

  it("every attempt of a retried invocation joins the same trace; the replayed step has no second span", async () => {
    const traceId = hex(32, "a1b2c3d4e5f60718");
    const parentId = hex(16, "1122334455667788");
    const r = await http("POST", `${server.ingressUrl}/Traced/flaky`, '"k1"', {
      traceparent: traceparent(traceId, parentId),
    });
    assert.equal(r.status, 200);
    assert.equal(r.body, "ran for k1");
    const id = r.headers.get("x-restate-id")!;
    const spans = await eventually("both attempts ended", () => {
      const s = spansOf(id).filter((x) => x.name.startsWith("attempt "));
      return s.length === 2 ? spansOf(id) : undefined;
    });
    const attempts = spans
      .filter((s) => s.name === "attempt Traced/flaky")
      .sort((a, b) => Number(a.attributes["onelog.attempt"]) - Number(b.attributes["onelog.attempt"]));
    assert.deepEqual(
      attempts.map((a) => [a.attributes["onelog.attempt"], a.attributes["onelog.attempt.outcome"]]),
      [
        [1, "failed"],
        [2, "completed"],
      ],
    );
    assert.equal(attempts[0]!.status.code, 2); // SpanStatusCode.ERROR
    assert.match(attempts[0]!.status.message ?? "", /first attempt fails/);
    for (const a of attempts) {
      assert.equal(a.spanContext().traceId, traceId);
      assert.equal(a.parentSpanContext?.spanId, parentId);
    }
    const steps = spans.filter((s) => s.name === "step once");
    assert.equal(steps.length, 1);
    assert.equal(steps[0]!.parentSpanContext?.spanId, attempts[0]!.spanContext().spanId);
  });

  it("without a traceparent the attempt starts a new trace; a terminal failure is an error", async () => {
    const r = await http("POST", `${server.ingressUrl}/Traced/refuse`, '""');
    assert.equal(r.status, 403);
    const id = r.headers.get("x-restate-id") ?? "";
    const [attempt] = await eventually("the attempt ended", () => {
      const s = exporter.getFinishedSpans().filter((x) => x.name === "attempt Traced/refuse");
      return s.length === 1 ? s : undefined;
    });
    if (id !== "") assert.equal(attempt!.attributes["onelog.invocation.id"], id);
    assert.equal(attempt!.parentSpanContext, undefined);
    assert.match(attempt!.spanContext().traceId, /^[0-9a-f]{32}$/);
    assert.equal(attempt!.attributes["onelog.attempt.outcome"], "terminal_failure");
    assert.equal(attempt!.status.message, "[403] refused");
  });

  it("while a step's action runs, its span is the active one", async () => {
    const r = await http("POST", `${server.ingressUrl}/Traced/active`, '"k2"');
    assert.equal(r.status, 200);
    const id = r.headers.get("x-restate-id")!;
    const step = await eventually("the step span ended", () =>
      spansOf(id).find((s) => s.name === "step look"),
    );
    assert.equal(activeInStep.get("k2"), step.spanContext().spanId);
  });
});
