// A CLI process for the CLI tests: spawned in its own process group (as a shell runs a
// foreground command, so Ctrl-C can signal the group and nothing outlives the test), with its
// output collected and its banner awaited.
import { spawn, type ChildProcess } from "node:child_process";
import { eventually } from "./admin-harness.js";

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
    );
  }
}
