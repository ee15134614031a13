// Proves the JetStream log keeps the Log contract (log.ts invariants 1–6) by running the same conformance suite as the memory and SQLite logs against real nats-server processes — an R1 stream on one server and an R3 stream on a 3-server cluster — then its own behaviour: writers racing on one partition, retried publishes stored once, trimming that purges, a refused partition count.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { LogError } from "../../packages/onelog/src/internal/log/log.js";
import { JetStreamLog, type JetStreamLogOptions } from "../../packages/nats/src/index.js";
import {
  logConformance,
  range,
  readN,
  rec,
  tagOf,
  type Factory,
  type Subject,
} from "../integration/log-conformance-suite.js";
import { eventually } from "../integration/admin-harness.js";
import { natsSkip, startNats, type NatsCluster } from "./nats-harness.js";

const skip = natsSkip();
let streams = 0;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A factory of fresh logs (each on its own stream) over a connection opened in `before`. */
function jetStreamFactory(
  connection: () => NatsConnection,
  extra: Omit<JetStreamLogOptions, "connection" | "partitions" | "stream"> = {},
): Factory {
  return ({ partitions }) => {
    const stream = `conf_${process.pid}_${++streams}`;
    const open = () => new JetStreamLog({ connection: connection(), partitions, stream, ...extra });
    let log = open();
    const subject: Subject = {
      log,
      restart: async () => {
        await log.close();
        log = open();
        subject.log = log;
        return log;
      },
      dispose: () => log.close(),
    };
    return subject;
  };
}

for (const servers of [1, 3] as const) {
  void describe(
    `JetStreamLog on ${servers} nats-server${servers === 1 ? " (R1)" : "s (R3)"}`,
    { skip },
    () => {
      let nats: NatsCluster;
      let nc: NatsConnection;
      before(async () => {
        nats = await startNats({ servers });
        nc = await connect({ servers: nats.urls });
      });
      after(async () => {
        await nc?.close();
        await nats?.stop();
      });
      logConformance(
        `JetStreamLog R${servers}`,
        jetStreamFactory(() => nc, { replicas: servers }),
      );
    },
  );
}

// ---------------------------------------------------------------------------------------------
// The JetStream log's own behaviour.

void describe(
  "JetStreamLog: racing writers, trims, limits (1 nats-server)",
  { skip, timeout: 60_000 },
  () => {
    let nats: NatsCluster;
    const connections: NatsConnection[] = [];
    const conn = async (): Promise<NatsConnection> => {
      const nc = await connect({ servers: nats.urls });
      connections.push(nc);
      return nc;
    };
    before(async () => {
      nats = await startNats({ servers: 1 });
    });
    after(async () => {
      for (const nc of connections) await nc.close();
      await nats?.stop();
    });

    void it("two writers on one partition get consecutive, distinct LSNs; readers see every entry once (1, 2)", async () => {
      await racingWriters([await conn(), await conn()], `race_${process.pid}`, 1);
    });

    void it("a writer that fell behind gets the next LSNs, also when the LSNs it would claim were trimmed (invariant 1)", async () => {
      const stream = `stale_${process.pid}`;
      const a = await JetStreamLog.open({ connection: await conn(), partitions: 1, stream, producer: "a" });
      const b = await JetStreamLog.open({ connection: await conn(), partitions: 1, stream, producer: "b" });
      try {
        assert.deepEqual(await a.append(0, [rec("a1")]), [1]);
        assert.deepEqual(await b.append(0, [rec("b2")]), [2]);
        // a still believes LSN 1 is the last: the id of the message it sends names LSN 2, b's.
        assert.deepEqual(await a.append(0, [rec("a3")]), [3]);
        for (let i = 4; i <= 7; i++) await b.append(0, [rec(`b${i}`)]);
        await b.trim(0, 6);
        // Now the message a's next id names (LSN 4) is purged.
        assert.deepEqual(await a.append(0, [rec("a8")]), [8]);
        const read = await readN(b, 0, 7, 2);
        assert.deepEqual(
          read.map((e) => [e.lsn, tagOf(e)]),
          [
            [7, "b7"],
            [8, "a8"],
          ],
        );
      } finally {
        await a.close();
        await b.close();
      }
    });

    void it("trim purges whole messages below the trim point but keeps the last one (invariant 5)", async () => {
      const stream = `trim_${process.pid}`;
      const nc = await conn();
      const log = await JetStreamLog.open({ connection: nc, partitions: 1, stream });
      try {
        for (let i = 1; i <= 10; i++) await log.append(0, [rec(`r${i}`)]);
        const jsm = await jetstreamManager(nc);
        const count = async () =>
          (await jsm.streams.info(stream, { subjects_filter: `${stream}.log.0` })).state.subjects?.[
            `${stream}.log.0`
          ];
        assert.equal(await count(), 10);
        await log.trim(0, 4);
        assert.equal(await count(), 6);
        await log.trim(0, 10);
        assert.equal(await count(), 1, "the last message stays: it carries the tail");
        assert.deepEqual(await log.findTail(0), { tailLsn: 10, trimmedLsn: 10 });
        assert.deepEqual(await log.append(0, [rec("r11")]), [11]);
      } finally {
        await log.close();
      }
    });

    void it("a reader that ends deletes its ephemeral consumer", async () => {
      const stream = `consumers_${process.pid}`;
      const nc = await conn();
      const log = await JetStreamLog.open({ connection: nc, partitions: 2, stream });
      try {
        for (let i = 1; i <= 3; i++) await log.append(i % 2, [rec(`r${i}`)]);
        const jsm = await jetstreamManager(nc);
        const consumers = async () => (await jsm.consumers.list(stream).next()).length;
        for (let round = 0; round < 3; round++) {
          const stops = [0, 1].map(() => new AbortController());
          const firsts = await Promise.all(
            [0, 1].map(async (p) => {
              for await (const batch of log.read(p, 1, stops[p]!.signal)) return batch[0]!.lsn;
              return undefined;
            }),
          );
          assert.deepEqual(firsts, [1, 1]);
          for (const s of stops) s.abort();
        }
        await eventually(
          "the readers' consumers are deleted",
          async () => ((await consumers()) === 0 ? true : undefined),
          5_000,
        );
      } finally {
        await log.close();
      }
    });

    void it("a tailing reader keeps nothing it yielded (a long-lived reader's memory stays flat)", async (t) => {
      // Node's gc(), turned on at run time (scripts/test.mjs passes no --expose-gc).
      v8.setFlagsFromString("--expose-gc");
      const gc = vm.runInNewContext("gc") as () => void;
      const nc = await conn();
      const log = await JetStreamLog.open({ connection: nc, partitions: 1, stream: `tail_${process.pid}` });
      const MESSAGES = 100;
      const SIZE = 256 * 1024;
      const stop = new AbortController();
      let seen = 0;
      let allSeen!: () => void;
      const all = new Promise<void>((r) => (allSeen = r));
      const reading = (async () => {
        for await (const batch of log.read(0, 1, stop.signal)) {
          seen += batch.length; // keeps nothing
          if (seen === MESSAGES + 1) allSeen();
        }
      })();
      try {
        gc();
        const before = process.memoryUsage().arrayBuffers;
        for (let i = 0; i < MESSAGES; i++)
          await log.append(0, [{ header: {}, payload: new Uint8Array(SIZE).fill(i) }]);
        // A small last entry: the reader may hold its latest batch until the next one comes.
        await log.append(0, [{ header: {}, payload: new Uint8Array(1) }]);
        await all;
        // Twice, with a pause: backing stores of collected buffers are freed by a later task.
        for (let i = 0; i < 3; i++) {
          await sleep(100);
          gc();
        }
        const retained = process.memoryUsage().arrayBuffers - before;
        t.diagnostic(
          `read ${(MESSAGES * SIZE) / 2 ** 20} MiB; the reader, still tailing, retains ${(retained / 2 ** 20).toFixed(1)} MiB`,
        );
        assert.ok(retained < (MESSAGES * SIZE) / 4, `retained ${(retained / 2 ** 20).toFixed(1)} MiB`);
      } finally {
        stop.abort();
        await reading;
        await log.close();
      }
    });

    void it("refuses a stream created with another partition count", async () => {
      const stream = `count_${process.pid}`;
      const nc = await conn();
      await (await JetStreamLog.open({ connection: nc, partitions: 2, stream })).close();
      await assert.rejects(
        JetStreamLog.open({ connection: nc, partitions: 3, stream }),
        /created with 2 partitions/,
      );
    });

    void it("rejects an append larger than one message with LogError 'io', and stays usable", async () => {
      const log = await JetStreamLog.open({
        connection: await conn(),
        partitions: 1,
        stream: `big_${process.pid}`,
        maxMessageBytes: 64 * 1024,
      });
      try {
        const tooBig = log.append(0, [{ header: {}, payload: new Uint8Array(100 * 1024) }]);
        const fine = log.append(0, [rec("small")]);
        await assert.rejects(
          tooBig,
          (e: unknown) => e instanceof LogError && e.code === "io" && /max_payload/.test(e.message),
        );
        assert.deepEqual(await fine, [1]);
        // Appends that together exceed one message go out in several, each atomic.
        const many = await Promise.all(
          range(1, 6).map(() => log.append(0, [{ header: {}, payload: new Uint8Array(20_000) }])),
        );
        assert.deepEqual(many.flat(), range(2, 7));
        assert.ok(log.stats.commits >= 3);
      } finally {
        await log.close();
      }
    });
  },
);

void describe(
  "JetStreamLog: a stream leader SIGKILLed under load (3 nats-servers, R3)",
  { skip, timeout: 120_000 },
  () => {
    void it("loses nothing acknowledged, stores every append once, and keeps LSNs consecutive (1, 3, invariant 4)", async (t) => {
      const nats = await startNats({ servers: 3 });
      const nc = await connect({ servers: nats.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
      const stream = `kill_${process.pid}`;
      const log = await JetStreamLog.open({
        connection: nc,
        partitions: 2,
        stream,
        replicas: 3,
        requestTimeoutMs: 1000,
      });
      try {
        const jsm = await jetstreamManager(nc);
        const acked = new Map<string, number>();
        const failed: string[] = [];
        let stop = false;
        const writers = [0, 1].map(async (partition) => {
          for (let i = 0; !stop; i++) {
            const tag = `p${partition}-${i}`;
            try {
              const [lsn] = await log.append(partition, [rec(tag)]);
              acked.set(tag, lsn!);
            } catch (error) {
              failed.push(`${tag}: ${String(error)}`);
            }
          }
        });
        await new Promise((r) => setTimeout(r, 500));
        const leader = (await jsm.streams.info(stream)).cluster?.leader;
        const index = nats.nodes.findIndex((n) => n.name === leader);
        assert.ok(index >= 0, `stream leader ${leader} is one of ours`);
        const before = acked.size;
        const killedAt = Date.now();
        await nats.kill(index);
        // R3: two of three servers are a quorum, so appends resume once a new stream leader is elected.
        while (acked.size < before + 50 && Date.now() - killedAt < 30_000)
          await new Promise((r) => setTimeout(r, 50));
        const resumedMs = Date.now() - killedAt;
        const duringKill = acked.size - before;
        await nats.restart(index);
        await new Promise((r) => setTimeout(r, 1000));
        stop = true;
        await Promise.all(writers);
        t.diagnostic(
          `stream leader ${leader} SIGKILLed after ${before} acknowledged appends; 50 more acknowledged ${resumedMs} ms later ` +
            `while it was down (${duringKill}); ${acked.size} in all after its restart; ${failed.length} failed`,
        );
        assert.ok(duringKill >= 50, "appends went on while the old leader was down");
        for (const partition of [0, 1]) {
          const mine = [...acked].filter(([tag]) => tag.startsWith(`p${partition}-`));
          const { tailLsn } = await log.findTail(partition);
          const read = await readN(log, partition, 1, tailLsn);
          assert.deepEqual(
            read.map((e) => e.lsn),
            range(1, tailLsn),
            "LSNs consecutive",
          );
          const tags = read.map(tagOf);
          assert.equal(new Set(tags).size, tags.length, "no append stored twice");
          for (const [tag, lsn] of mine)
            assert.equal(tags[lsn - 1], tag, `acknowledged ${tag} at LSN ${lsn}`);
        }
      } finally {
        await log.close();
        await nc.close();
        await nats.stop();
      }
    });
  },
);

/**
 * Writers (one per connection) append 200 times in all to one partition at once; every LSN is
 * given once and reads back as what was appended there.
 */
async function racingWriters(connections: NatsConnection[], stream: string, replicas: number): Promise<void> {
  const writers: JetStreamLog[] = [];
  // One after the other: the first creates the stream, which answers once it has a leader.
  for (const [i, connection] of connections.entries())
    writers.push(await JetStreamLog.open({ connection, partitions: 2, stream, producer: `w${i}`, replicas }));
  try {
    const appends: Promise<{ tag: string; lsns: number[] }>[] = [];
    for (let i = 0; i < 200; i++) {
      const w = i % writers.length;
      const name = `w${w}-`;
      const entries = i % 7 === 0 ? [rec(`${name}${i}.0`), rec(`${name}${i}.1`)] : [rec(`${name}${i}`)];
      appends.push(writers[w]!.append(0, entries).then((lsns) => ({ tag: `${name}${i}`, lsns })));
      if (i % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    const results = await Promise.all(appends);
    const all = results.flatMap((r) => r.lsns).sort((x, y) => x - y);
    assert.deepEqual(all, range(1, all.length), "every LSN given once, none skipped");
    for (const r of results) assert.deepEqual(r.lsns, range(r.lsns[0]!, r.lsns[0]! + r.lsns.length - 1));
    const read = await readN(writers[0]!, 0, 1, all.length);
    const byLsn = new Map(read.map((e) => [e.lsn, tagOf(e)]));
    for (const r of results) {
      r.lsns.forEach((lsn, i) =>
        assert.equal(byLsn.get(lsn), r.lsns.length === 1 ? r.tag : `${r.tag}.${i}`, `LSN ${lsn}`),
      );
    }
    const commits = writers.reduce((n, w) => n + w.stats.commits, 0);
    assert.ok(commits < 200, "waiting appends share messages (group commit)");
  } finally {
    for (const w of writers) await w.close();
  }
}

void describe(
  "JetStreamLog: racing writers on an R3 stream (3 nats-servers)",
  { skip, timeout: 60_000 },
  () => {
    let nats: NatsCluster;
    const connections: NatsConnection[] = [];
    before(async () => {
      nats = await startNats({ servers: 3 });
    });
    after(async () => {
      for (const nc of connections) await nc.close();
      await nats?.stop();
    });

    // nats-server 2.9 lets concurrent publishes with the same expected last subject sequence all
    // succeed on a replicated stream (the check does not see proposals in flight): writers then
    // stored messages with the same LSNs, and readers dropped one.
    void it("three writers on one partition, one per server, get consecutive, distinct LSNs (invariant 1)", async () => {
      const ncs = await Promise.all(nats.urls.map((url) => connect({ servers: [url] })));
      connections.push(...ncs);
      for (let round = 0; round < 5; round++) await racingWriters(ncs, `race3_${process.pid}_${round}`, 3);
    });

    // Nodes started together, each on its own server: one creates the stream, the others find it
    // before its replicas answer on their servers ("stream not found" for a moment).
    void it("three logs opened at once on a new R3 stream, one per server, all open and agree", async () => {
      const ncs = await Promise.all(nats.urls.map((url) => connect({ servers: [url] })));
      connections.push(...ncs);
      // Short requests: a server that does not know the new stream yet times out sooner, and the
      // open asks again (the default 5 s made each round take 5 s or more).
      for (let round = 0; round < 3; round++) {
        const stream = `open3_${process.pid}_${round}`;
        const logs = await Promise.all(
          ncs.map((connection, i) =>
            JetStreamLog.open({
              connection,
              partitions: 2,
              stream,
              producer: `o${i}`,
              replicas: 3,
              requestTimeoutMs: 1000,
            }),
          ),
        );
        try {
          const lsns = await Promise.all(logs.map((l, i) => l.append(0, [rec(`o${i}`)])));
          assert.deepEqual(lsns.flat().sort(), [1, 2, 3], `round ${round}`);
          const jsm = await jetstreamManager(ncs[0]!);
          const metas = (await jsm.streams.info(stream, { subjects_filter: `${stream}.meta` })).state
            .subjects;
          assert.equal(metas?.[`${stream}.meta`], 1, `round ${round}: one meta message`);
        } finally {
          for (const l of logs) await l.close();
        }
      }
    });

    // The same race on the trim point's subject could let a lower trim point be stored last.
    void it("three trimmers racing, one per server: the recorded trim point only grows (invariant 5)", async () => {
      const ncs = await Promise.all(nats.urls.map((url) => connect({ servers: [url] })));
      connections.push(...ncs);
      const stream = `trimrace_${process.pid}`;
      const trimmers: JetStreamLog[] = [];
      for (const [i, connection] of ncs.entries())
        trimmers.push(
          await JetStreamLog.open({ connection, partitions: 1, stream, producer: `t${i}`, replicas: 3 }),
        );
      const observer = await JetStreamLog.open({ connection: ncs[0]!, partitions: 1, stream, replicas: 3 });
      try {
        for (let i = 0; i < 20; i++)
          await trimmers[0]!.append(
            0,
            range(1, 10).map((j) => rec(`e${i}.${j}`)),
          );
        const rounds = 40;
        for (let round = 0; round < rounds; round++) {
          // Each trimmer asks for its own point; the highest of the round must be what is kept.
          const points = trimmers.map((_, i) => 1 + round * 4 + i);
          await Promise.all(trimmers.map((t, i) => t.trim(0, points[i]!)));
          const { trimmedLsn } = await observer.findTail(0);
          assert.equal(trimmedLsn, Math.max(...points), `round ${round}: the highest trim point is recorded`);
        }
      } finally {
        for (const t of trimmers) await t.close();
        await observer.close();
      }
    });
  },
);

void describe(
  "JetStreamLog: a nats-server killed for good (3 nats-servers, R3)",
  { skip, timeout: 120_000 },
  () => {
    void it("every reader follows the log on, also those whose consumer was on the dead server", async (t) => {
      const nats = await startNats({ servers: 3 });
      // The readers' connection is to server 0 first, and fails over; the writer's is to server 1.
      const readerNc = await connect({
        servers: nats.urls,
        noRandomize: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
      });
      const writerNc = await connect({ servers: [nats.urls[1]!] });
      const P = 9;
      const stream = `dead_${process.pid}`;
      const writer = await JetStreamLog.open({ connection: writerNc, partitions: P, stream, replicas: 3 });
      const reading = await JetStreamLog.open({ connection: readerNc, partitions: P, stream, replicas: 3 });
      const stop = new AbortController();
      const seen = Array.from({ length: P }, () => 0);
      const readers = Array.from({ length: P }, async (_, p) => {
        for await (const batch of reading.read(p, 1, stop.signal)) seen[p] = batch[batch.length - 1]!.lsn;
      });
      try {
        for (let p = 0; p < P; p++) await writer.append(p, [rec(`first ${p}`)]);
        await eventually(
          "every reader saw LSN 1",
          async () => (seen.every((s) => s >= 1) ? true : undefined),
          20_000,
        );
        // Ephemeral R1 consumers land on any server: some of these readers' are on server 0.
        const jsm = await jetstreamManager(writerNc);
        let onDead = 0;
        for await (const c of jsm.consumers.list(stream))
          if (c.cluster?.leader === nats.nodes[0]!.name) onDead++;
        await nats.kill(0); // not restarted
        const killedAt = Date.now();
        for (let p = 0; p < P; p++) {
          await eventually(
            `partition ${p}'s second append stored`,
            async () =>
              writer.append(p, [rec(`second ${p}`)]).then(
                () => true,
                () => undefined,
              ),
            30_000,
          );
        }
        const storedAt = Date.now();
        await eventually(
          "every reader saw LSN 2",
          async () => (seen.every((s) => s >= 2) ? true : undefined),
          60_000,
        );
        t.diagnostic(
          `${onDead} of ${P} readers' consumers were on the killed server; the ${P} next entries were stored ${storedAt - killedAt} ms after the kill (the stream's election and retried appends), and all ${P} readers saw them ${Date.now() - storedAt} ms later`,
        );
      } finally {
        stop.abort();
        await Promise.race([Promise.all(readers), sleep(5_000)]);
        await reading.close();
        await writer.close();
        await readerNc.close();
        await writerNc.close();
        await nats.stop();
      }
    });
  },
);
