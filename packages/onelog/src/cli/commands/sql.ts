/** `onelog sql "<query>"`: read-only SQL over the introspection views. */
import { Command } from "commander";
import { contextOf } from "../context.js";
import { cell, print, printJson, table } from "../output.js";

export function registerSql(program: Command): void {
  program
    .command("sql")
    .argument("<query>", 'one read-only statement, e.g. "SELECT id, status FROM sys_invocation"')
    .description(
      "run SQL over sys_invocation, sys_journal, state, sys_inbox, sys_promise, sys_service, sys_deployment",
    )
    .action(async (query: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const answer = await ctx.client.request<{ rows: Record<string, unknown>[]; truncated: boolean }>(
        "POST",
        "/query",
        { query },
      );
      if (ctx.json) return printJson(answer);
      const columns = [...new Set(answer.rows.flatMap((r) => Object.keys(r)))];
      if (columns.length > 0)
        print(
          table(
            columns,
            answer.rows.map((r) => columns.map((c) => cell(r[c], 80))),
          ),
        );
      const n = answer.rows.length;
      print(`(${n} row${n === 1 ? "" : "s"}${answer.truncated ? "; more rows were left out" : ""})`);
    });
}
