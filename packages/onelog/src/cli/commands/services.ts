/** `onelog services ls|describe` and `onelog deployments ls|register|remove`. */
import type { Command } from "commander";
import { contextOf } from "../context.js";
import { CliError } from "../client.js";
import { keyValues, print, printJson, table } from "../output.js";

interface Handler {
  name: string;
  ty: string | null;
  public: boolean;
  input_content_type: string | null;
  output_content_type: string | null;
  retry_policy: {
    initial_interval: string;
    exponentiation_factor: number;
    max_interval: string;
    max_attempts: number | null;
    on_max_attempts: string;
  };
  idempotency_retention: string;
  journal_retention: string;
  inactivity_timeout: string;
}

interface Service {
  name: string;
  ty: string;
  revision: number;
  public: boolean;
  deployment_id: string;
  handlers: Handler[];
}

interface Deployment {
  id: string;
  ty: string;
  endpoint: string | null;
  created_at: string;
  services: { name: string; revision: number }[];
}

function retry(h: Handler): string {
  const r = h.retry_policy;
  const attempts =
    r.max_attempts === null
      ? "forever"
      : `${r.max_attempts} attempts, then ${r.on_max_attempts.toLowerCase()}`;
  return `${r.initial_interval} ×${r.exponentiation_factor} up to ${r.max_interval}; ${attempts}`;
}

export function registerServices(program: Command): void {
  const services = program.command("services").description("the services this onelog serves");
  services
    .command("ls")
    .alias("list")
    .description("list services with their type and handlers")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const answer = await ctx.client.get<{ services: Service[] }>("/services");
      if (ctx.json) return printJson(answer);
      if (answer.services.length === 0) return print("no services");
      print(
        table(
          ["NAME", "TYPE", "HANDLERS", "PUBLIC", "DEPLOYMENT"],
          answer.services.map((s) => [
            s.name,
            s.ty,
            s.handlers.map((h) => h.name).join(", "),
            s.public ? "yes" : "no",
            s.deployment_id,
          ]),
        ),
      );
    });
  services
    .command("describe")
    .alias("get")
    .argument("<name>", "the service's name")
    .description("show a service and its handlers' options")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const s = await ctx.client.get<Service>(`/services/${encodeURIComponent(name)}`);
      if (ctx.json) return printJson(s);
      print(
        keyValues([
          ["name", s.name],
          ["type", s.ty],
          ["revision", String(s.revision)],
          ["public", s.public ? "yes" : "no"],
          ["deployment", s.deployment_id],
        ]),
      );
      print("");
      print(
        table(
          ["HANDLER", "TYPE", "PUBLIC", "INPUT", "OUTPUT", "RETRY", "INACTIVITY", "RETENTION"],
          s.handlers.map((h) => [
            h.name,
            h.ty ?? "-",
            h.public ? "yes" : "no",
            h.input_content_type ?? "-",
            h.output_content_type ?? "-",
            retry(h),
            h.inactivity_timeout,
            h.idempotency_retention,
          ]),
        ),
      );
    });

  const deployments = program.command("deployments").description("where the handlers run");
  deployments
    .command("ls")
    .alias("list")
    .description("list deployments (embedded: this process's handlers; http: registered by URL)")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const answer = await ctx.client.get<{ deployments: Deployment[] }>("/deployments");
      if (ctx.json) return printJson(answer);
      print(
        table(
          ["ID", "TYPE", "ENDPOINT", "CREATED", "SERVICES"],
          answer.deployments.map((d) => [
            d.id,
            d.ty,
            d.endpoint ?? "in-process",
            d.created_at,
            d.services.map((s) => s.name).join(", "),
          ]),
        ),
      );
    });

  deployments
    .command("register")
    .alias("add")
    .argument(
      "<url>",
      "the deployment's base URL, e.g. http://127.0.0.1:9080 or https://handlers.example.com",
    )
    .description(
      "register a deployment: discover what it serves (GET <url>/discover) and invoke it from now on",
    )
    .option("--force", "replace a deployment already registered at this URL")
    .option(
      "--http1",
      "talk HTTP/1.1 to it (request/response) instead of HTTP/2 (cleartext for http://, ALPN for https://)",
    )
    .option("--header <name=value...>", "send this header with every request to it")
    .action(
      async (url: string, opts: { force?: boolean; http1?: boolean; header?: string[] }, cmd: Command) => {
        const ctx = contextOf(cmd);
        const additional_headers: Record<string, string> = {};
        for (const h of opts.header ?? []) {
          const at = h.indexOf("=");
          if (at <= 0) throw new CliError(`--header ${h}: expected name=value`);
          additional_headers[h.slice(0, at)] = h.slice(at + 1);
        }
        const answer = await ctx.client.request<{ id: string; services: Service[] }>("POST", "/deployments", {
          uri: url,
          force: opts.force === true,
          use_http_11: opts.http1 === true,
          additional_headers,
        });
        if (ctx.json) return printJson(answer);
        print(`registered ${answer.id} at ${url}`);
        print(
          table(
            ["SERVICE", "TYPE", "REVISION", "HANDLERS"],
            answer.services.map((s) => [
              s.name,
              s.ty,
              String(s.revision),
              s.handlers.map((h) => h.name).join(", "),
            ]),
          ),
        );
      },
    );
  deployments
    .command("remove")
    .alias("rm")
    .argument("<id>", "the deployment's id (dp_…), as `onelog deployments ls` shows it")
    .description("remove a deployment: its services are not invoked until one serves them again")
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      await ctx.client.request("DELETE", `/deployments/${encodeURIComponent(id)}`);
      if (ctx.json) return printJson({ id, removed: true });
      print(`removed ${id}`);
    });
}
