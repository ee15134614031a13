// Proves https:// deployments work with `onelog serve` as a real process trusting a test CA through NODE_EXTRA_CA_CERTS: discovery and invocations over TLS with ALPN (HTTP/2 when the deployment offers it, HTTP/1.1 request/response when it speaks only that, HTTP/1.1 when registered with use_http_11), and a certificate it cannot trust is a 400 JSON registration error that says so; certificates are made for the test with openssl.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { endpoint, service, type Context } from "@onelog/sdk";
import { eventually, freePort, http, removeTmpDirs, tmpDir } from "./admin-harness.js";
import { CLI_NODE_ARGS, GroupProcess, ROOT, cleanEnv } from "./cli-harness.js";

after(() => removeTmpDirs());

const hasOpenssl = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/** A CA and a certificate it signed for 127.0.0.1 and localhost, as PEM files in `dir`. */
function makeCerts(dir: string, name: string): { ca: string; key: string; cert: string } {
  const f = (n: string) => path.join(dir, `${name}-${n}`);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  ssl(
    "req",
    "-x509",
    ...ec,
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.pem"),
    "-days",
    "2",
    "-subj",
    `/CN=onelog test CA ${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
  );
  ssl("req", ...ec, "-keyout", f("key.pem"), "-out", f("csr.pem"), "-subj", "/CN=localhost");
  fs.writeFileSync(f("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  ssl(
    "x509",
    "-req",
    "-in",
    f("csr.pem"),
    "-CA",
    f("ca.pem"),
    "-CAkey",
    f("ca.key"),
    "-CAcreateserial",
    "-out",
    f("cert.pem"),
    "-days",
    "2",
    "-extfile",
    f("ext.cnf"),
  );
  return {
    ca: f("ca.pem"),
    key: fs.readFileSync(f("key.pem"), "utf8"),
    cert: fs.readFileSync(f("cert.pem"), "utf8"),
  };
}

const greeter = (name: string) =>
  service({
    name,
    handlers: { greet: async (ctx: Context, who: string) => ctx.run("compose", () => `hello ${who}`) },
  });

/** An https deployment; `versions` lists the HTTP version of every request it got, with its path. */
interface TlsDeployment {
  readonly port: number;
  readonly seen: string[];
  readonly close: () => Promise<void>;
}

async function listen(
  server: http2.Http2SecureServer | https.Server,
  seen: string[],
): Promise<TlsDeployment> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise((resolve) => {
        (server as https.Server).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** HTTP/2 and HTTP/1.1 on one TLS port (ALPN decides), as a deployment behind most TLS terminators. */
function bothVersions(
  tls: { key: string; cert: string },
  svc: ReturnType<typeof greeter>,
): Promise<TlsDeployment> {
  const seen: string[] = [];
  const handle = endpoint().bind(svc).handler();
  const server = http2.createSecureServer({ ...tls, allowHTTP1: true }, (req, res) => {
    seen.push(`${req.httpVersion} ${req.url}`);
    handle(req, res);
  });
  return listen(server, seen);
}

/** HTTP/1.1 only (no ALPN h2). */
function http1Only(
  tls: { key: string; cert: string },
  svc: ReturnType<typeof greeter>,
): Promise<TlsDeployment> {
  const seen: string[] = [];
  const handle = endpoint().bind(svc).http1Handler();
  const server = https.createServer(tls, (req, res) => {
    seen.push(`${req.httpVersion} ${req.url}`);
    handle(req, res);
  });
  return listen(server, seen);
}

describe(
  "https deployments (onelog serve, a test CA in NODE_EXTRA_CA_CERTS)",
  { skip: hasOpenssl ? false : "openssl is not installed" },
  () => {
    let server: GroupProcess | undefined;
    let admin = "";
    let ingress = "";
    const deployments: TlsDeployment[] = [];
    let trusted: { ca: string; key: string; cert: string };
    let untrusted: { ca: string; key: string; cert: string };

    before(async () => {
      const dir = tmpDir("https-certs-");
      trusted = makeCerts(dir, "trusted");
      untrusted = makeCerts(dir, "untrusted");
      const [ingressPort, adminPort] = await Promise.all([freePort(), freePort()]);
      server = new GroupProcess(
        [
          ...CLI_NODE_ARGS,
          "serve",
          "--ingress-port",
          String(ingressPort),
          "--admin-port",
          String(adminPort),
          "--data-dir",
          tmpDir("https-data-"),
        ],
        { cwd: ROOT, env: cleanEnv({ ONELOG_LOG_LEVEL: "warn", NODE_EXTRA_CA_CERTS: trusted.ca }) },
      );
      await server.banner();
      admin = `http://127.0.0.1:${adminPort}`;
      ingress = `http://127.0.0.1:${ingressPort}`;
    });

    after(async () => {
      if (server !== undefined) {
        process.kill(-server.child.pid!, "SIGTERM");
        await server.exited;
      }
      await Promise.all(deployments.map((d) => d.close()));
    });

    it("registers and invokes over HTTP/2 when the deployment offers h2", async () => {
      const d = await bothVersions(trusted, greeter("TlsGreeter"));
      deployments.push(d);
      const reg = await http("POST", `${admin}/deployments`, { uri: `https://127.0.0.1:${d.port}` });
      assert.equal(reg.status, 201, reg.text);
      assert.deepEqual(
        (reg.body as { services: { name: string }[] }).services.map((s) => s.name),
        ["TlsGreeter"],
      );
      const answer = await http("POST", `${ingress}/TlsGreeter/greet`, '"Ada"');
      assert.deepEqual([answer.status, answer.body], [200, "hello Ada"]);
      // One bidirectional stream; under ONELOG_SUSPEND_ALWAYS=1 (request/response, a step
      // proposed by one attempt and replayed by the next) two or more, all HTTP/2.
      const invokes = d.seen.slice(1);
      assert.equal(d.seen[0], "2.0 /discover");
      assert.ok(
        invokes.length >= 1 &&
          (process.env.ONELOG_SUSPEND_ALWAYS === "1" || invokes.length === 1) &&
          invokes.every((s) => s === "2.0 /invoke/TlsGreeter/greet"),
        d.seen.join(", "),
      );
    });

    it("talks HTTP/1.1 request/response to a deployment that speaks only that", async () => {
      const d = await http1Only(trusted, greeter("TlsH1"));
      deployments.push(d);
      const reg = await http("POST", `${admin}/deployments`, { uri: `https://localhost:${d.port}/svc` });
      assert.equal(reg.status, 201, reg.text);
      const answer = await http("POST", `${ingress}/TlsH1/greet`, '"Bo"');
      assert.deepEqual([answer.status, answer.body], [200, "hello Bo"]);
      // A step in request/response mode: one attempt proposes it, the next replays it.
      assert.ok(d.seen.length >= 2 && d.seen.every((s) => s.startsWith("1.1 /svc/")), d.seen.join(", "));
    });

    it("uses HTTP/1.1 over TLS when registered with use_http_11, even if h2 is offered", async () => {
      const d = await bothVersions(trusted, greeter("TlsForced"));
      deployments.push(d);
      const reg = await http("POST", `${admin}/deployments`, {
        uri: `https://127.0.0.1:${d.port}`,
        use_http_11: true,
      });
      assert.equal(reg.status, 201, reg.text);
      const answer = await http("POST", `${ingress}/TlsForced/greet`, '"Cy"');
      assert.deepEqual([answer.status, answer.body], [200, "hello Cy"]);
      assert.ok(d.seen.length >= 2 && d.seen.every((s) => s.startsWith("1.1 ")), d.seen.join(", "));
    });

    it("refuses a certificate it cannot trust with a 400 that says so, and registers nothing", async () => {
      const d = await bothVersions(untrusted, greeter("Untrusted"));
      deployments.push(d);
      const reg = await http("POST", `${admin}/deployments`, { uri: `https://127.0.0.1:${d.port}` });
      assert.equal(reg.status, 400, reg.text);
      assert.equal((reg.body as { onelog_code: string }).onelog_code, "OL1032");
      assert.match(
        (reg.body as { message: string }).message,
        /TLS certificate is not trusted.*NODE_EXTRA_CA_CERTS/,
      );
      assert.deepEqual(d.seen, []);
      const list = await http("GET", `${admin}/deployments`);
      const names = (list.body as { deployments: { services: { name: string }[] }[] }).deployments.flatMap(
        (x) => x.services.map((s) => s.name),
      );
      assert.ok(!names.includes("Untrusted"), names.join(", "));
      await eventually(
        "nothing else broke",
        async () => (await http("POST", `${ingress}/TlsGreeter/greet`, '"Di"')).status === 200,
      );
    });
  },
);
