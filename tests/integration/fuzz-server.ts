// The child process of fuzz.test.ts: onelog embedded on a temp DATA_DIR with a small maxRequestBytes, serving a plain service, an object Counter and a workflow; prints `READY <ingressUrl> <adminUrl>` and logs warnings and errors to stderr as JSON lines.
import * as onelog from "onelog";

const dataDir = process.env.DATA_DIR;
if (dataDir === undefined || dataDir === "") throw new Error("fuzz-server: env DATA_DIR is required");
const maxRequestBytes = Number(process.env.MAX_REQUEST_BYTES ?? String(64 * 1024));

/** A plain service: echoes JSON, and bytes for a binary handler. */
const echo = onelog.service({
  name: "Echo",
  handlers: {
    echo: async (_ctx: onelog.Context, value: unknown) => value,
    bytes: onelog.handlers.handler(
      { input: onelog.serde.binary, output: onelog.serde.binary },
      async (_ctx: onelog.Context, bytes: Uint8Array) => bytes,
    ),
  },
});

/** A keyed counter. `add` takes a safe integer and answers the new total; anything else is a TerminalError 400. */
const counter = onelog.object({
  name: "Counter",
  handlers: {
    add: async (ctx: onelog.ObjectContext, n: unknown) => {
      if (typeof n !== "number" || !Number.isSafeInteger(n)) {
        throw new onelog.TerminalError(`add takes a safe integer, not ${JSON.stringify(n)}`, {
          errorCode: 400,
        });
      }
      const total = ((await ctx.get<number>("count")) ?? 0) + n;
      ctx.set("count", total);
      return total;
    },
    get: onelog.handlers.object.shared(
      async (ctx: onelog.ObjectSharedContext) => (await ctx.get<number>("count")) ?? 0,
    ),
  },
});

/** A workflow whose run answers at once; `peek` reads what run stored. */
const flow = onelog.workflow({
  name: "Flow",
  handlers: {
    run: async (ctx: onelog.WorkflowContext, input: unknown) => {
      ctx.set("input", input ?? null);
      return { workflowId: ctx.key, input: input ?? null };
    },
    peek: async (ctx: onelog.WorkflowSharedContext) => (await ctx.get<unknown>("input")) ?? null,
  },
});

/** A private service: the ingress must refuse it. */
const hidden = onelog.service({
  name: "Hidden",
  options: { ingressPrivate: true },
  handlers: { peek: async () => "secret" },
});

const line = (level: string, obj: object, msg: string | undefined) => {
  const out: Record<string, unknown> = { level, msg };
  for (const [k, v] of Object.entries(obj)) {
    out[k] = v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : v;
  }
  process.stderr.write(JSON.stringify(out) + "\n");
};
const logger: onelog.Logger = {
  debug() {},
  info() {},
  warn: (obj, msg) => line("warn", obj, msg),
  error: (obj, msg) => line("error", obj, msg),
};

const server = await onelog.start({
  services: [echo, counter, flow, hidden],
  dataDir,
  ingressPort: 0,
  adminPort: 0,
  host: "127.0.0.1",
  maxRequestBytes,
  logger,
});
process.stdout.write(`READY ${server.ingressUrl} ${server.adminUrl}\n`);
