/**
 * Server child processes of the bench: spawned with an IPC channel (they report their URLs on
 * it and exit when it closes), their stdout and stderr in a log file, their memory and CPU read
 * from /proc. A child may guard a process that is not Node (restate-server): it reports that
 * process's pid, which is then the one measured. Every child, and every process a child
 * reported, is SIGKILLed when the bench exits, however it exits; a guard also stops its process
 * when its IPC channel closes, which covers a bench that was itself SIGKILLed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { alive } from "../tests/support/processes.js";

/** The repository root: children run with it as their working directory. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** restate-server from the npm package @restatedev/restate-server, as tests/compat runs it. */
export const RESTATE_SERVER = path.join(
  REPO,
  "node_modules/@restatedev/restate-server-linux-x64/bin/restate-server",
);

/** The message a server child sends once it listens. */
export interface ChildReady {
  readonly type: "ready";
  readonly url: string;
  readonly adminUrl?: string;
  /** The process to measure, when it is not the child itself (a guarded restate-server). */
  readonly pid?: number;
}

/** What a guard sends as soon as it started its process, before that process is ready. */
export interface ChildGuarding {
  readonly type: "guarding";
  readonly pid: number;
}

const live = new Set<ChildProcess>();
/** Processes children reported (not our own children): killed by pid. */
const guarded = new Set<number>();
process.once("exit", () => {
  for (const proc of live) proc.kill("SIGKILL");
  for (const pid of guarded) killPid(pid);
});

function killPid(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

export interface SpawnOptions {
  /** The server script, relative to the repository root, run with tsx. */
  readonly script: string;
  /** Run `script` as compiled JavaScript with plain node (no tsx, packages from their dist). */
  readonly compiled?: boolean;
  readonly env: Readonly<Record<string, string>>;
  /** Where the child's stdout and stderr go. */
  readonly logFile: string;
  /** Extra node flags, e.g. `--cpu-prof`. */
  readonly nodeFlags?: readonly string[];
  readonly readyTimeoutMs: number;
}

/** A running server child. */
export class ServerChild {
  private constructor(
    readonly proc: ChildProcess,
    readonly url: string,
    readonly adminUrl: string | undefined,
    /** The process measured: the child, or the one it guards. */
    readonly pid: number,
    private readonly exited: Promise<void>,
  ) {}

  /** Spawns the script; resolves once it sent `ready`, rejects (and kills it) if it exits or times out first. */
  static async spawn(o: SpawnOptions): Promise<ServerChild> {
    const log = openSync(o.logFile, "w");
    let proc: ChildProcess;
    try {
      proc = spawn(
        process.execPath,
        o.compiled === true
          ? [...(o.nodeFlags ?? []), o.script]
          : [...(o.nodeFlags ?? []), "--conditions=onelog-source", "--import", "tsx", o.script],
        { cwd: REPO, env: { ...process.env, ...o.env }, stdio: ["ignore", log, log, "ipc"] },
      );
    } finally {
      closeSync(log);
    }
    live.add(proc);
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    void exited.then(() => live.delete(proc));
    let guarding: number | undefined;
    try {
      const ready = await new Promise<ChildReady>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${o.script} not ready after ${o.readyTimeoutMs} ms (see ${o.logFile})`)),
          o.readyTimeoutMs,
        );
        const onMessage = (m: ChildReady | ChildGuarding) => {
          if (m.type === "guarding") {
            guarding = m.pid;
            guarded.add(m.pid);
            return;
          }
          proc.off("message", onMessage);
          clearTimeout(timer);
          resolve(m);
        };
        proc.on("message", onMessage);
        proc.once("exit", (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`${o.script} exited (${code ?? signal}) before ready (see ${o.logFile})`));
        });
      });
      return new ServerChild(proc, ready.url, ready.adminUrl, ready.pid ?? proc.pid!, exited);
    } catch (e) {
      proc.kill("SIGKILL");
      await exited;
      if (guarding !== undefined && guarded.delete(guarding)) killPid(guarding);
      throw e;
    }
  }

  /** Resident memory now (VmRSS) and the peak since start (VmHWM), in bytes. */
  memory(): { rssBytes: number; peakRssBytes: number } {
    const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
    return { rssBytes: kb("VmRSS") * 1024, peakRssBytes: kb("VmHWM") * 1024 };
  }

  /** CPU time the child used so far, in ms. */
  cpu(): { userMs: number; systemMs: number } {
    const stat = readFileSync(`/proc/${this.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of stat (utime, stime) in clock ticks; the slice starts at field 3.
    return {
      userMs: (Number(fields[11]) * 1000) / CLOCK_TICKS,
      systemMs: (Number(fields[12]) * 1000) / CLOCK_TICKS,
    };
  }

  /** True while the child runs (and the process it guards, if any). */
  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null && alive(this.pid);
  }

  /**
   * Asks the child to stop (SIGTERM), SIGKILLs it after `timeoutMs`; resolves once it is gone,
   * and the process it guards too (SIGKILLed if the child left it behind).
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGTERM");
      const timer = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
    if (this.pid !== this.proc.pid && guarded.delete(this.pid) && alive(this.pid)) killPid(this.pid);
  }
}

/** USER_HZ: 100 on every Linux that Node supports. */
const CLOCK_TICKS = 100;

/**
 * User-mode CPU time all processes of the machine used so far (user + nice from /proc/stat), in
 * ms. Less the server's and the driver's own user time, it shows what else ran. Kernel time is
 * left out: loopback TCP and fsyncs make kernel threads and soft interrupts work for the
 * benchmark itself, and that would read as other load.
 */
export function machineUserMs(): number {
  const fields = readFileSync("/proc/stat", "utf8")
    .split("\n", 1)[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const [user = 0, nice = 0] = fields;
  return ((user + nice) * 1000) / CLOCK_TICKS;
}

/**
 * Samples a child's RSS every `intervalMs` until stopped; reports the highest, the mean, and the
 * mean of each tenth of the time (a server whose memory grows under steady load shows there).
 */
export function sampleRss(
  child: ServerChild,
  intervalMs: number,
): () => { maxBytes: number; meanBytes: number; tenthsBytes: number[] } {
  const samples: number[] = [];
  const take = () => {
    try {
      samples.push(child.memory().rssBytes);
    } catch {
      // The child is gone; the caller sees that elsewhere.
    }
  };
  take();
  const timer = setInterval(take, intervalMs);
  return () => {
    clearInterval(timer);
    take();
    return {
      maxBytes: Math.max(...samples),
      meanBytes: samples.reduce((a, b) => a + b, 0) / samples.length,
      tenthsBytes: Array.from({ length: 10 }, (_, i) => {
        const part = samples.slice(
          Math.floor((i * samples.length) / 10),
          Math.max(Math.floor(((i + 1) * samples.length) / 10), Math.floor((i * samples.length) / 10) + 1),
        );
        return Math.round(part.reduce((a, b) => a + b, 0) / part.length);
      }),
    };
  };
}

/**
 * The resident memory the tsx loader adds to a Node process (its hooks run on a thread of their
 * own): the idle RSS of an empty process with `--import tsx` minus that of one without.
 * Every server child of the bench runs under tsx, so its RSS includes this.
 */
export async function tsxLoaderRssBytes(settleMs: number): Promise<number> {
  const idle = async (flags: readonly string[]): Promise<number> => {
    const proc = spawn(
      process.execPath,
      [...flags, "-e", 'process.send("ready"); process.on("disconnect", () => process.exit(0));'],
      { cwd: REPO, stdio: ["ignore", "ignore", "ignore", "ipc"] },
    );
    live.add(proc);
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("idle probe not ready after 30 s")), 30_000);
        proc.once("message", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      await new Promise((r) => setTimeout(r, settleMs));
      const status = readFileSync(`/proc/${proc.pid}/status`, "utf8");
      return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) * 1024;
    } finally {
      proc.kill("SIGKILL");
      await exited;
      live.delete(proc);
    }
  };
  return (await idle(["--import", "tsx"])) - (await idle([]));
}
