// `npm run doc-examples`: runs every shell example in README.md, docs/cli.md and docs/admin.md,
// in order, against one server started as the README says (`npm start`, on a fresh data
// directory), and fails when a command exits non-zero or prints something other than the output
// the doc shows for it. CI runs it after `npm test` (.ci/run).
//
// What runs:
// - Every ```sh, ```bash and ```shell block, except one preceded by
//   `<!-- doc-examples: skip (why) -->`: the reason shows in the doc and in this script's output.
// - Each command line of a block (lines ending in `\` join the next); `#` lines are not commands.
// - A `# …` line right after a command is its documented output. It is compared with what the
//   command prints: `…` stands for anything, `inv_…`/`awk_…` ids for any id (random ones
//   differ from run to run), and a note after three spaces, `   (202)`, is not part of it. A
//   line that is only a note, `# (200, empty body)`, means the command prints nothing.
// - `onelog` runs the CLI from the sources (as `npm run onelog` does). The server listens on
//   8080 and 9070 as the docs say when both are free; otherwise on free ports, and the commands
//   are rewritten to match (ONELOG_ADMIN_URL tells the CLI).
// - After a command that answers an invocation id (a send), the next one waits until that
//   invocation has settled (it is done, waiting or scheduled), as a person typing would.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** The docs whose examples run, in this order, against one server. */
const FILES = ["README.md", "docs/cli.md", "docs/admin.md"];
const COMMAND_TIMEOUT_MS = 60_000;
const SETTLE_TIMEOUT_MS = 10_000;
const SKIP = /^<!--\s*doc-examples:\s*skip\s*\((.+)\)\s*-->$/;

/** One command of a doc, with the output the doc shows for it (if any). */
export interface Example {
  readonly file: string;
  /** 1-based line of the command's first line. */
  readonly line: number;
  readonly command: string;
  /** The documented output line (`# …` after the command, without `# `), if there is one. */
  readonly output?: { readonly line: number; readonly text: string };
}

/** A shell block that does not run, and why. */
export interface Skipped {
  readonly file: string;
  readonly line: number;
  readonly reason: string;
}

/**
 * The shell commands of one markdown file, and its blocks marked as skipped. Throws when a skip
 * marker is not right before a shell block (a marker must never hide anything else).
 *
 * @example
 * parseExamples("README.md", "```sh\ncurl -s localhost:8080/x\n# 5\n```\n").examples[0].output?.text; // "5"
 */
export function parseExamples(file: string, text: string): { examples: Example[]; skipped: Skipped[] } {
  const lines = text.split("\n");
  const examples: Example[] = [];
  const skipped: Skipped[] = [];
  let marker: { line: number; reason: string } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const skip = SKIP.exec(line.trim());
    if (skip !== null) {
      marker = { line: i + 1, reason: skip[1]! };
      continue;
    }
    const fence = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(line);
    if (fence === null) {
      if (line.trim() !== "" && marker !== undefined) {
        throw new Error(
          `${file}:${marker.line}: a doc-examples skip marker must be right before a shell block`,
        );
      }
      continue;
    }
    // The block's body, up to its closing fence.
    const close = fence[2]!;
    const body: { line: number; text: string }[] = [];
    let j = i + 1;
    while (j < lines.length && !lines[j]!.trim().startsWith(close)) {
      body.push({ line: j + 1, text: lines[j]! });
      j++;
    }
    const lang = fence[3]!.toLowerCase();
    const shell = lang === "sh" || lang === "bash" || lang === "shell";
    if (marker !== undefined) {
      if (!shell)
        throw new Error(
          `${file}:${marker.line}: a doc-examples skip marker must be right before a shell block`,
        );
      skipped.push({ file, line: i + 1, reason: marker.reason });
      marker = undefined;
    } else if (shell) {
      examples.push(...commandsOf(file, body));
    }
    i = j;
  }
  if (marker !== undefined)
    throw new Error(`${file}:${marker.line}: a doc-examples skip marker at the end of the file`);
  return { examples, skipped };
}

function commandsOf(file: string, body: readonly { line: number; text: string }[]): Example[] {
  const out: Example[] = [];
  for (let k = 0; k < body.length; k++) {
    const first = body[k]!;
    const trimmed = first.text.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    let command = first.text.trimEnd();
    while (command.endsWith("\\") && k + 1 < body.length) {
      k++;
      command = `${command}\n${body[k]!.text.trimEnd()}`;
    }
    const next = body[k + 1];
    const output = next !== undefined && /^#( |$)/.test(next.text) ? next.text.slice(2) : undefined;
    out.push({
      file,
      line: first.line,
      command: command.trim(),
      ...(output === undefined ? {} : { output: { line: next!.line, text: output } }),
    });
  }
  return out;
}

/**
 * What a documented output line asks for: undefined when it says nothing about the output (a
 * comment), else a pattern the whole output must match.
 *
 * @example
 * expectedOutput('{"invocationId":"inv_ab12","status":"Accepted"}   (202)')?.test('{"invocationId":"inv_ff00","status":"Accepted"}'); // true
 */
export function expectedOutput(text: string): RegExp | undefined {
  const note = /^\s*\((.*)\)\s*$/.exec(text);
  if (note !== null) return /empty body/.test(note[1]!) ? /^$/ : undefined;
  const shown = text.replace(/ {3,}\(.*\)\s*$/, "").trim();
  if (shown === "") return undefined;
  const pattern = shown
    .split(/(…|inv_[0-9a-f]+|awk_[0-9a-zA-Z]+)/)
    .map((part, i) => {
      if (i % 2 === 0) return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      if (part === "…") return ".*?";
      return part.startsWith("inv_") ? "inv_[0-9a-f]+" : "awk_[0-9a-zA-Z]+";
    })
    .join("");
  return new RegExp(`^${pattern}$`, "s");
}

/** True when nothing listens on the port on 127.0.0.1 right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs one command with bash in its own process group; kills the group after the timeout. */
function runShell(
  command: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-o", "pipefail", "-c", command], { cwd: ROOT, env, detached: true });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, "SIGKILL");
    }, COMMAND_TIMEOUT_MS);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

/** Waits until the invocation is done, waiting, scheduled or paused: no longer making progress. */
async function settle(adminUrl: string, id: string): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  let last = "";
  let since = Date.now();
  while (Date.now() < deadline) {
    const res = await fetch(`${adminUrl}/invocations/${id}`).catch(() => undefined);
    if (res === undefined || res.status === 404) return; // gone: completed and not retained
    const d = (await res.json()) as { status?: string; journal_size?: number };
    if (d.status !== "invoked" && d.status !== "inboxed") return;
    const now = `${d.status}/${d.journal_size}`;
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (d.status === "invoked" && Date.now() - since >= 300) {
      return; // running, but waiting: its journal has not grown for a while
    }
    await sleep(50);
  }
}

/** `npm start` on a fresh data directory, in its own process group; resolves once /health answers 200. */
async function startServer(ingressPort: number, adminPort: number, dataDir: string) {
  const child = spawn("npm", ["start"], {
    cwd: ROOT,
    env: {
      ...process.env,
      ONELOG_INGRESS_PORT: String(ingressPort),
      ONELOG_ADMIN_PORT: String(adminPort),
      ONELOG_DATA_DIR: dataDir,
    },
    detached: true,
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${output}`);
    const res = await fetch(`http://127.0.0.1:${adminPort}/health`).catch(() => undefined);
    if (res?.status === 200) break;
    if (Date.now() > deadline) {
      killGroup(child, "SIGKILL");
      throw new Error(`npm start did not answer /health within 120 s:\n${output}`);
    }
    await sleep(200);
  }
  return {
    output: () => output,
    async stop(): Promise<void> {
      killGroup(child, "SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const indent = (text: string) =>
  text
    .trimEnd()
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");

async function main(): Promise<number> {
  const all: Example[] = [];
  for (const file of FILES) {
    const { examples, skipped } = parseExamples(file, fs.readFileSync(path.join(ROOT, file), "utf8"));
    all.push(...examples);
    for (const s of skipped) console.log(`skip ${s.file}:${s.line}: ${s.reason}`);
  }

  const fixed = (await portFree(8080)) && (await portFree(9070));
  const ingressPort = fixed ? 8080 : await freePort();
  const adminPort = fixed ? 9070 : await freePort();
  const ports = new Map([
    ["8080", String(ingressPort)],
    ["9070", String(adminPort)],
  ]);
  const rewrite = (command: string) =>
    fixed
      ? command
      : command.replace(
          /\b(localhost|127\.0\.0\.1):(8080|9070)\b/g,
          (_m, host: string, port: string) => `${host}:${ports.get(port)}`,
        );
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  console.log(
    fixed
      ? "server: npm start on the documented ports 8080 and 9070"
      : `server: 8080 or 9070 is taken here, so npm start listens on ${ingressPort} and ${adminPort}, and the commands are rewritten to match`,
  );

  const work = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-doc-examples-"));
  // `onelog` as the docs write it: the CLI from the sources, as `npm run onelog` runs it.
  const bin = path.join(work, "bin");
  fs.mkdirSync(bin);
  const cliMain = path.join(ROOT, "packages/onelog/src/cli/main.ts");
  fs.writeFileSync(
    path.join(bin, "onelog"),
    `#!/bin/sh\nexec "${process.execPath}" --conditions=onelog-source --import tsx "${cliMain}" "$@"\n`,
    { mode: 0o755 },
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}`,
    ...(fixed ? {} : { ONELOG_ADMIN_URL: adminUrl }),
  };
  delete env.ONELOG_ADMIN_TOKEN;

  const server = await startServer(ingressPort, adminPort, path.join(work, "data"));
  const failures: string[] = [];
  try {
    for (const ex of all) {
      const command = rewrite(ex.command);
      const where = `${ex.file}:${ex.line}`;
      const r = await runShell(command, env);
      const printed = r.stdout.trimEnd();
      const shown = `${printed}${r.stderr.trim() === "" ? "" : `\n${r.stderr.trimEnd()}`}`;
      let failure: string | undefined;
      if (r.timedOut) failure = `did not finish within ${COMMAND_TIMEOUT_MS / 1000} s`;
      else if (r.code !== 0) failure = `exited with ${r.code}`;
      else if (ex.output !== undefined) {
        const want = expectedOutput(ex.output.text);
        if (want !== undefined && !want.test(printed)) {
          failure = `printed something else than ${ex.file}:${ex.output.line} shows:\n    ${ex.output.text}`;
        }
      }
      if (failure === undefined) {
        console.log(`ok   ${where}: ${ex.command.split("\n")[0]}`);
      } else {
        console.log(`FAIL ${where}: ${ex.command.split("\n")[0]}`);
        failures.push(
          `${where}: ${failure}\n  command:\n${indent(command)}\n  output:\n${indent(shown || "(none)")}`,
        );
      }
      const sent = /"invocationId":"(inv_[0-9a-f]+)"/.exec(printed);
      if (sent !== null) await settle(adminUrl, sent[1]!);
    }
  } finally {
    await server.stop();
    if (failures.length > 0) console.log(`\nserver output (npm start):\n${indent(server.output())}`);
    fs.rmSync(work, { recursive: true, force: true });
  }
  if (failures.length > 0) {
    console.error(
      `\ndoc-examples: ${failures.length} of ${all.length} commands failed:\n\n${failures.join("\n\n")}`,
    );
    return 1;
  }
  console.log(`\ndoc-examples: all ${all.length} commands ran as documented`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`doc-examples: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
}
