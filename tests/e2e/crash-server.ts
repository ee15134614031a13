// The child process of crash.test.ts: onelog embedded on DATA_DIR, serving a service whose two steps each append one line to SIDE_EFFECT_FILE, so the driver can count how often each step ran.
import { randomUUID } from "node:crypto";
import { appendFileSync } from "node:fs";
import * as onelog from "onelog";

const dataDir = mustEnv("DATA_DIR");
const sideEffectFile = mustEnv("SIDE_EFFECT_FILE");
const port = Number(process.env.PORT ?? "0");

function mustEnv(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === "") throw new Error(`crash-server: env ${name} is required`);
  return v;
}

/**
 * Each step appends `<step> <key> <nonce>` and returns the nonce. The nonce is random per run of
 * the step, so the invocation's output names exactly which run of each step was journaled; a
 * step that ran again after its result was durable would leave a second line for its key.
 * appendFileSync is a write(2): the line is in the page cache, and survives SIGKILL, before the
 * step returns.
 */
const crash = onelog.service({
  name: "Crash",
  handlers: {
    step: async (ctx: onelog.Context, key: string) => {
      const first = await ctx.run("effect", () => {
        const nonce = randomUUID();
        appendFileSync(sideEffectFile, `effect ${key} ${nonce}\n`);
        return nonce;
      });
      const second = await ctx.run("second", () => {
        const nonce = randomUUID();
        appendFileSync(sideEffectFile, `second ${key} ${nonce}\n`);
        return nonce;
      });
      return `${key}:${first}:${second}`;
    },
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
  services: [crash],
  dataDir,
  ingressPort: port,
  adminPort: false,
  host: "127.0.0.1",
  logger,
});
process.stdout.write(`READY ${server.ingressUrl}\n`);
