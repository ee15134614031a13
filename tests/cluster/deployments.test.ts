// Proves deployments registered by URL are the whole cluster's, on three real nats-servers (R3, each onelog node on its own server) and onelog nodes started through the `serve --cluster` wiring: a deployment (onelog SDK endpoint) registered on node 1 is listed by node 3 and invoked through node 2's and node 3's ingress the moment the registration is answered, is seen by every node's routing without anyone asking (the KV watch), keeps a running invocation pinned to it from being removed on another node (409) unless forced, and once removed on node 2 is gone on node 1; registrations racing on two nodes keep both, with the services' revisions counted across nodes; and a node started later loads them all.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as onelog from "onelog";
import { listenEndpoint, type EndpointServer } from "@onelog/sdk/internal";
import { connectCluster } from "../../packages/nats/src/index.js";
import { startServer } from "../../packages/onelog/src/internal/embedded/start.js";
import type { ClusterBackend } from "../../packages/onelog/src/internal/embedded/cluster.js";
import { eventually, http, query, removeTmpDirs, tmpDir } from "../integration/admin-harness.js";
import { natsSkip, startNats, type NatsCluster } from "./nats-harness.js";
import { counter, greeter, sleeper } from "./services.js";

const skip = natsSkip();
const PARTITIONS = 4;

const alpha = onelog.service({
  name: "Alpha",
  handlers: { hi: async (_ctx: onelog.Context) => "alpha" },
});
const beta = onelog.service({
  name: "Beta",
  handlers: { hi: async (_ctx: onelog.Context) => "beta" },
});

/**
 * How late the registry's watch tells nodes 2, 3 and 4 of a change. In one process the watch is
 * faster than an HTTP answer, so without this delay the answers below would not show whether a
 * node reads the registry when a lookup misses (read-your-writes) or merely heard of it in time.
 */
const WATCH_DELAY_MS = 1500;

/** The cluster with its deployment registry's watch delivering each revision `delayMs` late. */
function lateWatch(cluster: ClusterBackend, delayMs: number): ClusterBackend {
  if (delayMs === 0) return cluster;
  const records = cluster.deployments;
  return {
    ...cluster,
    deployments: {
      latest: () => records.latest(),
      replace: (revision, deployments) => records.replace(revision, deployments),
      watch: (onRevision) => records.watch((r) => void setTimeout(() => onRevision(r), delayMs)),
    },
  };
}

interface Deployed {
  readonly id: string;
  readonly uri: string;
  readonly services: readonly { readonly name: string; readonly revision: number }[];
}

void describe("deployments shared by the cluster (3 nats-servers, R3)", { skip, timeout: 180_000 }, () => {
  let nats: NatsCluster;
  const endpoints: EndpointServer[] = [];
  const nodes: onelog.OnelogServer[] = [];
  const problems: string[] = [];
  const logger: onelog.Logger = {
    debug() {},
    info() {},
    warn: (o, m) => void problems.push(`warn ${String(m)} ${JSON.stringify(o)}`),
    error: (o, m) => void problems.push(`error ${String(m)} ${JSON.stringify(o)}`),
  };
  /** A onelog cluster node with no services of its own (`onelog serve --cluster`), on nats-server i % 3. */
  const node = async (i: number): Promise<onelog.OnelogServer> =>
    startServer(
      {
        services: [],
        dataDir: tmpDir(`cluster-node${i}`),
        ingressPort: 0,
        adminPort: 0,
        logger,
        partitions: PARTITIONS,
      },
      lateWatch(
        await connectCluster({
          servers: [nats.urls[i % 3]!],
          node: `node-${i}`,
          partitions: PARTITIONS,
          replicas: 3,
          leaseMs: 1500,
        }),
        i === 0 ? 0 : WATCH_DELAY_MS,
      ),
    );
  const serve = async (...services: onelog.AnyDefinition[]): Promise<string> => {
    let e = onelog.endpoint();
    for (const s of services) e = e.bind(s);
    const server = await listenEndpoint(
      e.setLogger(() => {}),
      { port: 0, host: "127.0.0.1" },
    );
    endpoints.push(server);
    return `http://127.0.0.1:${server.port}`;
  };
  const admin = (i: number) => nodes[i]!.adminUrl!;
  const ingress = (i: number) => nodes[i]!.ingressUrl;
  const listed = async (i: number): Promise<Deployed[]> => {
    const r = await http("GET", `${admin(i)}/deployments`);
    assert.equal(r.status, 200, r.text);
    return (r.body as { deployments: (Deployed & { ty: string })[] }).deployments.filter(
      (d) => d.ty === "http",
    );
  };
  const register = async (i: number, uri: string, force = false) => {
    const r = await http("POST", `${admin(i)}/deployments`, { uri, ...(force ? { force } : {}) });
    assert.ok(r.status === 201 || r.status === 200, `register ${uri} on node ${i}: ${r.status} ${r.text}`);
    return r.body as { id: string };
  };
  /** Calls through node i's ingress with a JSON body; the answer's status and body. */
  const call = async (i: number, path: string, body: unknown) =>
    http("POST", `${ingress(i)}/${path}`, JSON.stringify(body), { "content-type": "application/json" });

  /** How many partitions each node leads, by its /health. */
  const ledPerNode = () =>
    Promise.all(
      nodes.map(
        async (n) =>
          ((await http("GET", `${n.adminUrl!}/health`)).body.partitions as { leader: boolean }[]).filter(
            (p) => p.leader,
          ).length,
      ),
    );

  before(async () => {
    nats = await startNats({ servers: 3 });
    // The first node creates the stream and buckets; the others find them.
    nodes.push(await node(0));
    nodes.push(...(await Promise.all([1, 2].map((i) => node(i)))));
    // Each node leads some partitions (2/1/1), so the calls below go through every node's invoker.
    await eventually(
      "the partitions spread over the three nodes",
      async () => (await ledPerNode()).every((n) => n > 0),
      30_000,
    );
  });
  after(async () => {
    for (const n of nodes) await n.stop();
    for (const e of endpoints) await e.close();
    await nats?.stop();
    removeTmpDirs();
  });

  void it("registered on node 1: invoked through the others and listed by them at once; removed on node 2, gone on node 1", async (t) => {
    const uri = await serve(greeter, counter);
    const registeredAt = Date.now();
    const { id } = await register(0, uri);
    // Through node 1, which made the registration: the leaders of the other partitions have not
    // heard of it yet (their watch is late) and read the registry before they fail an attempt.
    for (let k = 0; k < 8; k++) {
      const r = await call(0, `Counter/k${k}/add`, k);
      assert.equal(r.status, 200, `Counter/k${k}: ${r.status} ${r.text}`);
      assert.equal(r.body, k);
    }
    t.diagnostic(
      `8 objects over the partitions called ${Date.now() - registeredAt} ms after the registration`,
    );
    assert.deepEqual(
      problems.filter((p) => p.includes("no handler")),
      [],
      "no attempt failed for want of the deployment on a leader that had not heard of it",
    );
    for (const via of [1, 2]) {
      const r = await call(via, "Greeter/greet", `node ${via + 1}`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body, `hello node ${via + 1}`);
    }

    // Read-your-writes at the admin API and the ingress: node 3 lists, and node 2 invokes, what
    // node 1 registered a moment ago, before their watch told them.
    const sleeperUri = await serve(sleeper);
    const { id: sleeperId } = await register(0, sleeperUri);
    assert.deepEqual(
      (await listed(2)).map((d) => [d.id, d.uri]),
      [
        [id, uri],
        [sleeperId, sleeperUri],
      ],
      "node 3 lists the deployment node 1 just registered",
    );
    const sent = await call(1, "Sleeper/nap/send", null);
    assert.equal(sent.status, 202, `node 2 knows Sleeper at once: ${sent.text}`);
    // The watch: each node's routing learns of it without being asked (/restate/health does not read the registry).
    for (let i = 0; i < 3; i++) {
      await eventually(`node ${i + 1}'s ingress knows Sleeper`, async () =>
        ((await http("GET", `${ingress(i)}/restate/health`)).body.services as string[]).includes("Sleeper"),
      );
    }

    // Removal on node 2 follows the single-node rules: a running invocation pinned to the
    // deployment keeps it (409)…
    const invocation = (sent.body as { invocationId: string }).invocationId;
    await eventually(
      "node 2 sees the nap pinned to its deployment",
      async () =>
        (
          await query(admin(1), "SELECT pinned_deployment_id AS d FROM sys_invocation WHERE id = ?", [
            invocation,
          ])
        )[0]?.d === sleeperId,
    );
    const refused = await http("DELETE", `${admin(1)}/deployments/${sleeperId}`);
    assert.equal(refused.status, 409, refused.text);
    assert.match(refused.text, /running invocation/);
    // …unless forced.
    assert.equal((await http("DELETE", `${admin(1)}/deployments/${sleeperId}?force=true`)).status, 202);

    const removed = await http("DELETE", `${admin(1)}/deployments/${id}`);
    assert.equal(removed.status, 202, removed.text);
    assert.deepEqual(await listed(0), [], "node 1 no longer lists what node 2 removed");
    await eventually(
      "node 1's ingress no longer knows Greeter",
      async () => (await call(0, "Greeter/greet", "x")).status === 404,
    );
    assert.deepEqual(
      problems.filter((p) => p.startsWith("error")),
      [],
    );
  });

  void it("registrations racing on two nodes keep both; a node started later loads them", async (t) => {
    const [alphaUri, betaUri] = await Promise.all([serve(alpha), serve(beta)]);
    const ROUNDS = 5;
    const ids = new Set<string>();
    for (let round = 1; round <= ROUNDS; round++) {
      // The same endpoints under new path prefixes are new deployments of the same services.
      const [a, b] = await Promise.all([
        register(0, `${alphaUri}/r${round}`),
        register(1, `${betaUri}/r${round}`),
      ]);
      ids.add(a.id).add(b.id);
    }
    const all = await listed(2);
    assert.deepEqual(
      new Set(all.map((d) => d.id)),
      ids,
      `node 3 lists all ${2 * ROUNDS} deployments registered in pairs at once on nodes 1 and 2`,
    );
    // The services' revisions count every registration, whichever node made it.
    for (const name of ["Alpha", "Beta"]) {
      const s = await http("GET", `${admin(2)}/services/${name}`);
      assert.equal(s.body.revision, ROUNDS, `${name}'s revision: ${s.text}`);
    }
    assert.equal((await call(2, "Alpha/hi", null)).body, "alpha");
    assert.equal((await call(0, "Beta/hi", null)).body, "beta");

    const startedAt = Date.now();
    nodes.push(await node(3));
    t.diagnostic(`node 4 started in ${Date.now() - startedAt} ms`);
    assert.deepEqual(
      (await listed(3)).map((d) => d.id).sort(),
      [...ids].sort(),
      "node 4 lists what the cluster has",
    );
    // Its routing has them from the start (no lookup miss needed).
    const health = (await http("GET", `${ingress(3)}/restate/health`)).body.services as string[];
    assert.ok(health.includes("Alpha") && health.includes("Beta"), JSON.stringify(health));
    assert.equal((await call(3, "Alpha/hi", null)).body, "alpha");
    assert.equal((await call(3, "Beta/hi", null)).body, "beta");
    assert.deepEqual(
      problems.filter((p) => p.startsWith("error")),
      [],
    );
  });
});
