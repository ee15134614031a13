/** The `onelog` command line: every command, on commander. */
import { Command } from "commander";
import { registerInvocations } from "./commands/invocations.js";
import { registerRun } from "./commands/run.js";
import { registerServices } from "./commands/services.js";
import { registerSql } from "./commands/sql.js";
import { registerState } from "./commands/state.js";

/** Builds the program; `main.ts` parses process.argv with it. */
export function buildProgram(): Command {
  const program = new Command("onelog")
    .description("onelog: a durable-execution engine where every effect is a record in one log")
    .version("0.1.0")
    .option("--admin-url <url>", "the admin endpoint (default http://127.0.0.1:9070, env ONELOG_ADMIN_URL)")
    .option("--json", "print JSON instead of tables")
    .showHelpAfterError()
    .addHelpText(
      "after",
      "\nThe admin token, when the endpoint needs one, comes from ONELOG_ADMIN_TOKEN.\nDocs: docs/cli.md",
    );
  registerRun(program);
  registerServices(program);
  registerInvocations(program);
  registerState(program);
  registerSql(program);
  return program;
}
