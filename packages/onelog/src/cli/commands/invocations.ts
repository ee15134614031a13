/** `onelog invocations ls|describe|cancel|kill|purge|pause|resume`. */
import { createInterface } from "node:readline/promises";
import { Command, InvalidArgumentError } from "commander";
import { CliError, type AdminClient } from "../client.js";
import { contextOf } from "../context.js";
import {
  cell,
  clip,
  keyValues,
  print,
  printJson,
  Progress,
  showValue,
  table,
  type ShownValue,
} from "../output.js";

interface InvocationRow {
  id: string;
  target: string;
  status: string;
  attempt_epoch: number;
  retry_count: number;
  idempotency_key: string | null;
  last_failure: string | null;
  completion_result: "success" | "failure" | null;
  completion_failure: string | null;
  completion_value_utf8: string | null;
  created_at: string;
  modified_at: string;
}

interface ShownEntry {
  index: number;
  appended_at?: string | null;
  attempt?: number | null;
  command_index?: number;
  type: string;
  name?: string;
  description: string;
  fields: Record<string, unknown>;
}

/** What `GET /invocations/{id}` answers (the fields the CLI prints). */
interface Described {
  id: string;
  target: string;
  handler_kind: string;
  status: string;
  attempt_epoch: number;
  retry_count: number;
  waiting_on: { completion_ids: number[]; signal_ids: number[]; signal_names?: string[] } | null;
  idempotency_key: string | null;
  invoked_by_id: string | null;
  invoked_by_target: string | null;
  completion_retention: string;
  journal_retention: string | null;
  last_failure: string | null;
  failures: { attempt: number; at: string; message: string }[];
  next_retry_at: string | null;
  created_at: string;
  modified_at: string;
  completed_at: string | null;
  output_value: ShownValue | null;
  failure: { code: number; message: string } | null;
  journal: ShownEntry[];
}

const OPERATIONS = {
  cancel: { past: "cancelled", what: "asks it to stop: the handler sees CancelledError and may compensate" },
  kill: { past: "killed", what: "ends it now, without compensation" },
  purge: { past: "purged", what: "forgets a completed invocation (its status and output)" },
  pause: { past: "paused", what: "stops its attempts until it is resumed" },
  resume: { past: "resumed", what: "starts a paused invocation again" },
} as const;
type Operation = keyof typeof OPERATIONS;

/** A listing row's outcome: the result of a completed one, else the last failure, if any. */
function rowResult(r: InvocationRow): string | null {
  if (r.completion_result === "failure") return `✗ ${r.completion_failure ?? ""}`;
  if (r.completion_result === "success") return `→ ${r.completion_value_utf8 ?? "(bytes)"}`;
  return r.last_failure === null ? null : `last failure: ${r.last_failure}`;
}

function positiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

function shownResult(r: unknown): string {
  if (r === null || r === undefined || typeof r !== "object") return "";
  if ("ok" in r) return `→ ${showValue((r as { ok: ShownValue }).ok) || "(empty)"}`;
  if ("err" in r) {
    const e = (r as { err: { code: number; message: string } }).err;
    return `✗ [${e.code}] ${clip(e.message)}`;
  }
  return "";
}

/** What a journal entry says beyond its description: its value, result, or target. */
function entryDetail(e: ShownEntry): string {
  const f = e.fields;
  switch (e.type) {
    case "input":
      return showValue(f.argument as ShownValue);
    case "completion":
    case "signal":
    case "named_signal": {
      const v = f.value as Record<string, unknown> | undefined;
      if (v === undefined) return "";
      if ("invocation_id" in v) return `→ ${String(v.invocation_id)}`;
      if ("state_keys" in v) return `→ ${JSON.stringify(v.state_keys)}`;
      if ("void" in v) return "→ (void)";
      return shownResult(v);
    }
    case "complete_awakeable":
    case "promise_complete":
      return shownResult(f.result);
    case "get_state":
      return f.value === undefined
        ? ""
        : f.value === null
          ? "→ (none)"
          : `→ ${showValue(f.value as ShownValue)}`;
    case "get_state_keys":
      return f.keys === undefined ? "" : `→ ${JSON.stringify(f.keys)}`;
    case "set_state":
      return `= ${showValue(f.value as ShownValue)}`;
    case "sleep":
      return `until ${typeof f.wake_up_at === "number" ? new Date(f.wake_up_at).toISOString() : "?"}`;
    case "call":
    case "send":
      return `(${showValue(f.argument as ShownValue, 40)})`;
    default:
      return "";
  }
}

/**
 * The journal as a timeline: position, time since the invocation was created, the attempt that
 * proposed the entry, command index, what happened, and its value.
 */
export function timeline(
  journal: readonly ShownEntry[],
  createdAt?: string,
  journalRetention?: string | null,
): string {
  if (journal.length === 0) {
    return journalRetention === undefined || journalRetention === null
      ? "journal: none"
      : `journal: none kept (journal retention ${journalRetention}, or it has expired)`;
  }
  const start = createdAt === undefined ? NaN : Date.parse(createdAt);
  const rows = journal.map((e) => {
    const at = e.appended_at === undefined || e.appended_at === null ? NaN : Date.parse(e.appended_at);
    return [
      String(e.index),
      Number.isFinite(at) && Number.isFinite(start) ? `+${formatMs(at - start)}` : "",
      e.attempt === undefined || e.attempt === null ? "" : String(e.attempt),
      e.command_index === undefined ? "" : `cmd ${e.command_index}`,
      e.description,
      entryDetail(e),
    ];
  });
  return `journal (${journal.length} entries):\n${table(
    ["#", "AT", "ATTEMPT", "COMMAND", "ENTRY", "VALUE"],
    rows,
  )
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n")}`;
}

/** `850ms`, `12.3s`, `4m 10s`: a short elapsed time. */
function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(ms / 60_000)}m ${Math.round((ms % 60_000) / 1000)}s`;
}

function describeText(d: Described): string {
  const status =
    d.status === "suspended" && d.waiting_on !== null
      ? `suspended (waiting on ${[
          ...d.waiting_on.completion_ids.map((c) => `completion ${c}`),
          ...d.waiting_on.signal_ids.filter((g) => g !== 1).map((g) => `signal ${g}`),
          ...(d.waiting_on.signal_names ?? []).map((n) => `signal '${n}'`),
        ].join(", ")})`
      : d.status === "backing-off" && d.next_retry_at !== null
        ? `backing-off (next attempt at ${d.next_retry_at})`
        : d.status;
  const outcome =
    d.failure !== null
      ? `failed [${d.failure.code}] ${d.failure.message}`
      : d.output_value !== null
        ? showValue(d.output_value, 200) || "(empty)"
        : undefined;
  return [
    keyValues([
      ["id", d.id],
      ["target", d.target],
      ["kind", d.handler_kind],
      ["status", status],
      ["attempts", `${d.attempt_epoch} started, ${d.retry_count} failed since start or resume`],
      ["idempotency key", d.idempotency_key ?? undefined],
      [
        "invoked by",
        d.invoked_by_id === null ? "ingress" : `${d.invoked_by_target ?? "?"} (${d.invoked_by_id})`,
      ],
      ["created", d.created_at],
      ["modified", d.modified_at],
      ["completed", d.completed_at ?? undefined],
      [
        "kept",
        d.status === "completed"
          ? `status and result ${d.completion_retention}, journal ${d.journal_retention ?? "0s"} after completion`
          : undefined,
      ],
      ["last failure", d.last_failure ?? undefined],
      ["result", outcome],
    ]),
    ...(d.failures.length === 0
      ? []
      : [
          "",
          `failed attempts (${d.failures.length === 10 ? "the last 10" : d.failures.length}):`,
          ...d.failures.map((f) => `  attempt ${f.attempt} at ${f.at}: ${clip(f.message, 200)}`),
        ]),
    "",
    timeline(d.journal, d.created_at, d.journal_retention),
  ].join("\n");
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/** Runs `op` on every id, a few at a time, with a progress bar; returns the failures. */
async function operateAll(
  client: AdminClient,
  op: Operation,
  ids: readonly string[],
  concurrency: number,
): Promise<{ id: string; error: string }[]> {
  const progress = new Progress(ids.length, op);
  const failures: { id: string; error: string }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      try {
        await client.request("PATCH", `/invocations/${encodeURIComponent(id)}/${op}`);
      } catch (e) {
        failures.push({ id, error: e instanceof Error ? e.message : String(e) });
      }
      progress.tick();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  progress.finish();
  return failures;
}

export function registerInvocations(program: Command): void {
  const invocations = program.command("invocations").description("invocations: list, inspect, operate");
  invocations
    .command("ls")
    .alias("list")
    .description("list invocations, newest first: running ones and the completed ones still kept")
    .option(
      "--status <status>",
      "only this status: scheduled, inboxed, invoked, suspended, backing-off, paused, completed",
    )
    .option("--service <name>", "only invocations of this service")
    .option("--handler <name>", "only invocations of this handler")
    .option("--key <key>", "only invocations of this object key or workflow id")
    .option("--since <time>", "only invocations created at or after this time (ISO 8601 or ms)")
    .option("--limit <n>", "at most this many", positiveInt, 50)
    .option("--cursor <cursor>", "the page after the one that printed this cursor")
    .action(
      async (
        opts: {
          status?: string;
          service?: string;
          handler?: string;
          key?: string;
          since?: string;
          limit: number;
          cursor?: string;
        },
        cmd: Command,
      ) => {
        const ctx = contextOf(cmd);
        const q = new URLSearchParams({ limit: String(opts.limit) });
        for (const name of ["status", "service", "handler", "key", "since", "cursor"] as const) {
          const v = opts[name];
          if (v !== undefined) q.set(name, v);
        }
        const answer = await ctx.client.get<{ invocations: InvocationRow[]; next_cursor: string | null }>(
          `/invocations?${q.toString()}`,
        );
        if (ctx.json) return printJson(answer);
        if (answer.invocations.length === 0) return print("no invocations");
        print(
          table(
            ["ID", "TARGET", "STATUS", "ATTEMPTS", "CREATED", "RESULT"],
            answer.invocations.map((r) => [
              r.id,
              cell(r.target, 50),
              r.status,
              String(r.attempt_epoch),
              r.created_at,
              cell(rowResult(r), 50),
            ]),
          ),
        );
        if (answer.next_cursor !== null) print(`more: add --cursor ${answer.next_cursor}`);
      },
    );
  invocations
    .command("describe")
    .alias("get")
    .argument("<id>", "the invocation id (inv_…)")
    .description("show an invocation's status and its journal as a timeline")
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const d = await ctx.client.get<Described>(`/invocations/${encodeURIComponent(id)}`);
      if (ctx.json) return printJson(d);
      print(describeText(d));
    });
  for (const op of Object.keys(OPERATIONS) as Operation[]) {
    invocations
      .command(op)
      .argument("[ids...]", "invocation ids")
      .description(`${OPERATIONS[op].what}`)
      .option(
        "--all-matching <where>",
        `every invocation matching a SQL condition on sys_invocation, e.g. "status = 'paused' AND target_service_name = 'Greeter'"`,
      )
      .option("--yes", "do not ask before operating on several invocations")
      .option("--concurrency <n>", "requests in flight at once", positiveInt, 8)
      .action(
        async (
          ids: string[],
          opts: { allMatching?: string; yes?: boolean; concurrency: number },
          cmd: Command,
        ) => {
          const ctx = contextOf(cmd);
          let targets = [...ids];
          if (opts.allMatching !== undefined) {
            const answer = await ctx.client.request<{ rows: { id: string }[]; truncated: boolean }>(
              "POST",
              "/query",
              { query: `SELECT id FROM sys_invocation WHERE ${opts.allMatching} ORDER BY created_at, id` },
            );
            if (answer.truncated) {
              process.stderr.write(
                `note: only the first ${answer.rows.length} matches; run it again for the rest\n`,
              );
            }
            targets.push(...answer.rows.map((r) => r.id));
          }
          targets = [...new Set(targets)];
          if (targets.length === 0) {
            if (opts.allMatching === undefined)
              throw new CliError(`name invocation ids, or use --all-matching`);
            if (ctx.json) return printJson({ operation: op, matched: 0, done: [], failed: [] });
            return print(`no invocation matches: nothing ${OPERATIONS[op].past}`);
          }
          if (targets.length > 1 && opts.yes !== true) {
            const question = `${op} ${targets.length} invocations?`;
            if (!process.stdin.isTTY) throw new CliError(`${question} add --yes to go ahead`);
            if (!(await confirm(question))) throw new CliError("nothing done");
          }
          if (targets.length === 1 && opts.allMatching === undefined) {
            const answer = await ctx.client.request<unknown>(
              "PATCH",
              `/invocations/${encodeURIComponent(targets[0]!)}/${op}`,
            );
            return ctx.json ? printJson(answer) : print(`${OPERATIONS[op].past} ${targets[0]!}`);
          }
          const failed = await operateAll(ctx.client, op, targets, opts.concurrency);
          const bad = new Set(failed.map((f) => f.id));
          const done = targets.filter((id) => !bad.has(id));
          if (ctx.json) {
            printJson({ operation: op, matched: targets.length, done, failed });
          } else {
            print(
              `${OPERATIONS[op].past} ${done.length} of ${targets.length} invocation${targets.length === 1 ? "" : "s"}`,
            );
            for (const f of failed) print(`  ${f.id}: ${f.error}`);
          }
          if (failed.length > 0) process.exitCode = 1;
        },
      );
  }
}
