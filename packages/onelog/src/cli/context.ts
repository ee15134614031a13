/** What every admin command needs: the client, and whether to print JSON. */
import type { Command } from "commander";
import { AdminClient, DEFAULT_ADMIN_URL } from "./client.js";

export interface CommandContext {
  readonly client: AdminClient;
  /** `--json`: print the admin API's answer as JSON instead of tables. */
  readonly json: boolean;
}

/** Reads the global options: --admin-url (or ONELOG_ADMIN_URL), --json, and ONELOG_ADMIN_TOKEN. */
export function contextOf(cmd: Command): CommandContext {
  const o = cmd.optsWithGlobals<{ adminUrl?: string; json?: boolean }>();
  const url = o.adminUrl ?? (process.env.ONELOG_ADMIN_URL || DEFAULT_ADMIN_URL);
  return { client: new AdminClient(url, process.env.ONELOG_ADMIN_TOKEN), json: o.json === true };
}
