// Shared plumbing of the SIGKILL end-to-end tests: a seeded PRNG, child processes that run an onelog server script on a data dir and print `READY <url>`, and a fetch wrapper that tells answers from broken connections.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** The repository root: children run with it as their working directory. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** mulberry32: a small seeded PRNG, so the schedule of a failing run can be replayed. Integers in [lo, hi]. */
export function prng(seed: number): (lo: number, hi: number) => number {
  let a = seed >>> 0;
  return (lo, hi) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const r = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return lo + Math.floor(r * (hi - lo + 1));
  };
}

/** The seed in env `name`, else a random one (the test prints it so the run can be replayed). */
export function seedFrom(name: string): number {
  return Number(process.env[name] ?? Math.floor(Math.random() * 2 ** 31));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One lifetime of a child server process. */
export interface Child {
  readonly proc: ChildProcess;
  readonly url: string;
  /** Which process lifetime this is: 0 for the first start, +1 per restart. */
  readonly life: number;
  readonly exited: Promise<void>;
}

/** A stderr line of a child, tagged with its lifetime. */
export interface StderrLine {
  readonly life: number;
  readonly line: string;
}

export interface ChildrenOptions {
  /** The server script, run with tsx from the repository root. */
  readonly script: string;
  /** Added to the test's own environment (minus NODE_TEST_CONTEXT). PORT is set to 0. */
  readonly env: Readonly<Record<string, string>>;
  readonly readyTimeoutMs: number;
}

/**
 * Starts lifetimes of one server script. Each lifetime listens on a new port (PORT=0), so no
 * pooled connection outlives its process. Every stderr line of every lifetime is kept.
 */
export class Children {
  readonly stderr: StderrLine[] = [];
  private readonly spawned = new Set<ChildProcess>();

  constructor(private readonly o: ChildrenOptions) {}

  /** Spawns lifetime `life`; resolves once it printed READY, rejects if it exits or times out first. */
  async start(life: number): Promise<Child> {
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.o.env, PORT: "0" };
    delete env.NODE_TEST_CONTEXT;
    const proc = spawn(process.execPath, ["--conditions=onelog-source", "--import", "tsx", this.o.script], {
      cwd: REPO,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.spawned.add(proc);
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    createInterface({ input: proc.stderr }).on("line", (line) => this.stderr.push({ life, line }));
    const lines = createInterface({ input: proc.stdout });
    const timeoutMs = this.o.readyTimeoutMs;
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`child ${life} not READY after ${timeoutMs} ms`)),
        timeoutMs,
      );
      lines.on("line", (line) => {
        const m = /^READY (\S+)$/.exec(line);
        if (m !== null) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        const err = this.stderr.filter((l) => l.life === life).map((l) => l.line);
        reject(
          new Error(
            `child ${life} exited (${proc.exitCode ?? proc.signalCode}) before READY:\n${err.join("\n")}`,
          ),
        );
      });
    });
    return { proc, url, life, exited };
  }

  /** SIGKILLs every child that is still alive and waits until each is gone. */
  async killAll(): Promise<void> {
    for (const proc of this.spawned) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGKILL");
        await new Promise((r) => proc.once("exit", r));
      }
    }
  }
}

/** SIGKILLs one lifetime and waits until the process is gone. */
export async function kill(child: Child): Promise<void> {
  child.proc.kill("SIGKILL");
  await child.exited;
}

/** Stderr lines that mean the engine broke: logged errors, failed invariants, stopped partitions. */
export function errorLines(stderr: readonly StderrLine[]): StderrLine[] {
  return stderr.filter((l) => /"level":"error"|InvariantError|partition processor stopped/.test(l.line));
}

/** What one HTTP request got: an answer with a status, or no answer at all. */
export type Reply =
  | { readonly answered: true; readonly status: number; readonly body: string; readonly headers: Headers }
  /** The connection broke or timed out: the request may or may not have been taken. */
  | { readonly answered: false; readonly reason: string };

/** One HTTP request that never throws: network failures and timeouts come back as `answered: false`. */
export async function request(
  url: string,
  init: { method: "GET" | "POST"; body?: unknown; headers?: Record<string, string>; timeoutMs: number },
): Promise<Reply> {
  try {
    const res = await fetch(url, {
      method: init.method,
      headers: {
        ...(init.body === undefined ? {} : { "content-type": "application/json" }),
        ...init.headers,
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      signal: AbortSignal.timeout(init.timeoutMs),
    });
    return { answered: true, status: res.status, body: await res.text(), headers: res.headers };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    return { answered: false, reason: err.cause?.code ?? err.name };
  }
}
