// The child process of storage-faults.test.ts: onelog embedded on DATA_DIR (with its admin endpoint, whose URL it writes to ADMIN_URL_FILE; log compaction every COMPACT_INTERVAL_MS if set), serving a service whose two steps (in `step` back to back, in `gated` after GATE_FILE appears, in `slow` with a 1 s durable sleep between) each append one line to SIDE_EFFECT_FILE, so the driver can count how often each step ran.
import { randomUUID } from "node:crypto";
import { appendFileSync, existsSync, writeFileSync } from "node:fs";
import * as onelog from "onelog";

const dataDir = mustEnv("DATA_DIR");
const sideEffectFile = mustEnv("SIDE_EFFECT_FILE");
const adminUrlFile = mustEnv("ADMIN_URL_FILE");
const gateFile = mustEnv("GATE_FILE");
const port = Number(process.env.PORT ?? "0");
const SLOW_SLEEP_MS = 1_000;

function mustEnv(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === "") throw new Error(`storage-server: env ${name} is required`);
  return v;
}

/**
 * Each step appends `<step> <key> <nonce>` and returns the nonce, so the output names exactly
 * which run of each step was journaled, and a step that ran again leaves a second line.
 * SIDE_EFFECT_FILE must not be on the filesystem the test fills.
 */
const storage = onelog.service({
  name: "Storage",
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
    /**
     * The same steps, but the first one returns only once GATE_FILE exists (at most 30 s), so the
     * driver can make the disk full while the step's result is on its way to the log.
     */
    gated: async (ctx: onelog.Context, key: string) => {
      const first = await ctx.run("effect", async () => {
        const nonce = randomUUID();
        appendFileSync(sideEffectFile, `effect ${key} ${nonce}\n`);
        for (let i = 0; i < 1_500 && !existsSync(gateFile); i++) await new Promise((r) => setTimeout(r, 20));
        return nonce;
      });
      const second = await ctx.run("second", () => {
        const nonce = randomUUID();
        appendFileSync(sideEffectFile, `second ${key} ${nonce}\n`);
        return nonce;
      });
      return `${key}:${first}:${second}`;
    },
    /** The same steps with a durable sleep between them, so a call can be in flight across a fault. */
    slow: async (ctx: onelog.Context, key: string) => {
      const first = await ctx.run("effect", () => {
        const nonce = randomUUID();
        appendFileSync(sideEffectFile, `effect ${key} ${nonce}\n`);
        return nonce;
      });
      await ctx.sleep(SLOW_SLEEP_MS);
      const second = await ctx.run("second", () => {
        const nonce = randomUUID();
        appendFileSync(sideEffectFile, `second ${key} ${nonce}\n`);
        return nonce;
      });
      return `${key}:${first}:${second}`;
    },
  },
});

/** Warnings and errors go to stderr as JSON lines (the driver reads them); the rest is dropped. */
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
    out[k] =
      v instanceof Error ? { name: v.name, message: v.message, code: (v as { code?: unknown }).code } : v;
  }
  return out;
}

// Under an injected RLIMIT_FSIZE a write past the limit must fail with EFBIG, not kill the process.
process.on("SIGXFSZ", () => {});

const server = await onelog.start({
  services: [storage],
  dataDir,
  ingressPort: port,
  adminPort: 0,
  host: "127.0.0.1",
  logger,
  ...(process.env.COMPACT_INTERVAL_MS === undefined
    ? {}
    : { compactIntervalMs: Number(process.env.COMPACT_INTERVAL_MS) }),
});
writeFileSync(adminUrlFile, server.adminUrl ?? "");
process.stdout.write(`READY ${server.ingressUrl}\n`);
