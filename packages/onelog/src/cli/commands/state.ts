/** `onelog state get|set`: one object key's (or workflow's) state. */
import { Command } from "commander";
import { CliError } from "../client.js";
import { contextOf } from "../context.js";
import { print, printJson, showValue, table, type ShownValue } from "../output.js";

interface StateAnswer {
  service: string;
  key: string;
  state: Record<string, ShownValue>;
}

function printState(a: StateAnswer): void {
  const names = Object.keys(a.state);
  if (names.length === 0) return print(`${a.service}/${a.key} has no state`);
  print(
    table(
      ["NAME", "VALUE"],
      names.map((n) => [n, showValue(a.state[n], 100)]),
    ),
  );
}

/** `name=json` → [name, value]; a value that is not JSON is taken as a string. */
function assignment(text: string): [string, unknown] {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new CliError(`expected name=value, got ${JSON.stringify(text)}`);
  const raw = text.slice(eq + 1);
  try {
    return [text.slice(0, eq), JSON.parse(raw)];
  } catch {
    return [text.slice(0, eq), raw];
  }
}

export function registerState(program: Command): void {
  const state = program.command("state").description("the state of virtual objects and workflows");
  state
    .command("get")
    .argument("<service>", "the object or workflow")
    .argument("<key>", "the object key or workflow id")
    .description("show one key's state")
    .action(async (service: string, key: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const a = await ctx.client.get<StateAnswer>(
        `/state/${encodeURIComponent(service)}/${encodeURIComponent(key)}`,
      );
      if (ctx.json) return printJson(a);
      printState(a);
    });
  state
    .command("set")
    .argument("<service>", "the object or workflow")
    .argument("<key>", "the object key or workflow id")
    .argument(
      "<assignments...>",
      "name=value, the value as JSON (count=5, name='\"Ada\"'); name=null deletes",
    )
    .description("change one key's state through the log; refused while an invocation holds the key's lock")
    .action(async (service: string, key: string, assignments: string[], _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const changes = Object.fromEntries(assignments.map(assignment));
      const a = await ctx.client.request<StateAnswer>(
        "PATCH",
        `/state/${encodeURIComponent(service)}/${encodeURIComponent(key)}`,
        changes,
      );
      if (ctx.json) return printJson(a);
      printState(a);
    });
}
