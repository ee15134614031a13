// The CLI for the CLI tests: a short command run to its end, or a long-running process spawned
// in its own process group (as a shell runs a foreground command, so Ctrl-C can signal the group
// and nothing outlives the test), with its output collected and its banner awaited.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { eventually } from "./admin-harness.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const MAIN = path.join(ROOT, "packages/onelog/src/cli/main.ts");
/** node's arguments that run the CLI from the sources. */
export const CLI_NODE_ARGS = ["--conditions=onelog-source", "--import", "tsx", MAIN];

/** The environment the CLI runs in: no admin URL or token from the outside. */
export function cleanEnv(more: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...more };
  for (const name of ["ONELOG_ADMIN_URL", "ONELOG_ADMIN_TOKEN", "ONELOG_PROGRESS"]) {
    if (!(name in more)) delete env[name];
  }
  return env;
}

export type Run = { code: number | null; stdout: string; stderr: string };

/** Runs the CLI to its end. */
export function cli(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI_NODE_ARGS, ...args], { cwd: ROOT, env: cleanEnv(env) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export class GroupProcess {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;

  /** Runs `node ...nodeArgs` in `cwd` with exactly `env`. */
  constructor(nodeArgs: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv }) {
    this.child = spawn(process.execPath, [...nodeArgs], {
      cwd: options.cwd,
      env: options.env,
      detached: true,
    });
    this.child.stdout!.on("data", (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
  }

  /** Waits until the server printed its banner `count` times (restarts print it again). */
  banner(count = 1): Promise<string> {
    return eventually(
      `banner #${count}`,
      () => {
        const lines = this.stdout.split("\n").filter((l) => /^onelog (dev|serve): serving/.test(l));
        return lines.length >= count ? lines[count - 1] : undefined;
      },
      60_000,
    ).catch((e: unknown) => {
      // What the process said explains why it never served (a port taken, a slow start, a crash).
      const said = `${this.stdout.slice(-1500)}\n--- stderr ---\n${this.stderr.slice(-3000)}`;
      throw new Error(
        `${e instanceof Error ? e.message : String(e)}; exit code so far ${this.child.exitCode}; it printed:\n${said}`,
      );
    });
  }
}

/**
 * Writes `<dir>/services.ts` (and a package.json making it ESM), the file the CLI tests serve: a
 * Greeter whose `greet` answers `<greeting> <name>` from a step and whose `slow` sleeps 30 minutes,
 * and a Counter object (default export). Returns its path.
 */
export function servicesFile(dir: string, greeting: string): string {
  fs.writeFileSync(path.join(dir, "package.json"), '{ "type": "module" }\n');
  const file = path.join(dir, "services.ts");
  const onelogSource = pathToFileURL(path.join(ROOT, "packages/onelog/src/index.ts")).href;
  fs.writeFileSync(
    file,
    `import * as onelog from ${JSON.stringify(onelogSource)};
export const greeter = onelog.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx: onelog.Context, name: string) => ctx.run("compose", () => \`${greeting} \${name}\`),
    slow: async (ctx: onelog.Context, name: string) => {
      await ctx.sleep({ minutes: 30 });
      return name;
    },
  },
});
export default [
  onelog.object({
    name: "Counter",
    handlers: {
      add: async (ctx: onelog.ObjectContext, n: number) => {
        const v = ((await ctx.get<number>("count")) ?? 0) + n;
        ctx.set("count", v);
        return v;
      },
    },
  }),
];
`,
  );
  return file;
}
