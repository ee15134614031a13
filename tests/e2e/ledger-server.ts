// The child process of ledger-crash.test.ts: onelog embedded on DATA_DIR with 4 partitions, serving the ledger example (Account, Transfer) and SlowTransfer, a Transfer that sleeps on a durable timer between debit and credit.
import * as onelog from "onelog";
import { account, transfer, type TransferRequest } from "../../examples/ledger.js";

const dataDir = mustEnv("DATA_DIR");
const port = Number(process.env.PORT ?? "0");

function mustEnv(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === "") throw new Error(`ledger-server: env ${name} is required`);
  return v;
}

export interface SlowTransferRequest extends TransferRequest {
  /** How long the money is in neither account: a timer the crash can land on. */
  readonly sleepMs: number;
}

/**
 * examples/ledger.ts's Transfer with a `ctx.sleep` between the debit and the credit, so that a
 * SIGKILL often finds the transfer suspended on a timer with the money taken from `from` and not
 * yet given to `to`. Same outcomes as Transfer: 200 with the request, or 409 when `from` lacks
 * the funds (nothing moved) or `to` is closed (the debit was given back).
 */
const slowTransfer = onelog.workflow({
  name: "SlowTransfer",
  handlers: {
    run: async (ctx: onelog.WorkflowContext, req: SlowTransferRequest) => {
      ctx.set("status", "debiting");
      await ctx.objectClient(account, req.from).withdraw(req.amount);
      ctx.set("status", "sleeping");
      await ctx.sleep(req.sleepMs);
      ctx.set("status", "crediting");
      try {
        await ctx.objectClient(account, req.to).credit(req.amount);
      } catch (e) {
        if (!onelog.isTerminalError(e)) throw e;
        ctx.set("status", "compensating");
        await ctx.objectClient(account, req.from).deposit(req.amount);
        ctx.set("status", "failed");
        throw new onelog.TerminalError(`transfer ${ctx.key} failed and was rolled back: ${e.message}`, {
          errorCode: 409,
        });
      }
      ctx.set("status", "done");
      return { id: ctx.key, ...req };
    },
    status: async (ctx: onelog.WorkflowSharedContext) => (await ctx.get<string>("status")) ?? "unknown",
  },
});

/** Warnings and errors go to stderr as JSON lines (the driver checks them); the rest is dropped. */
const logger: onelog.Logger = {
  debug() {},
  info() {},
  warn(obj, msg) {
    process.stderr.write(JSON.stringify({ level: "warn", msg, ...serializable(obj) }) + "\n");
  },
  error(obj, msg) {
    process.stderr.write(JSON.stringify({ level: "error", msg, ...serializable(obj) }) + "\n");
  },
};

function serializable(obj: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    out[k] = v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : v;
  }
  return out;
}

const server = await onelog.start({
  services: [account, transfer, slowTransfer],
  dataDir,
  ingressPort: port,
  adminPort: false,
  host: "127.0.0.1",
  partitions: 4,
  logger,
});
process.stdout.write(`READY ${server.ingressUrl}\n`);
