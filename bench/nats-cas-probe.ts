/**
 * Does nats-server enforce `expect.lastSubjectSequence` (Nats-Expected-Last-Subject-Sequence)
 * when several writers publish to one subject at once? JetStreamLog's consecutive LSNs across
 * writers rest on it (docs/cluster.md). Three writers, each on its own connection, append 300
 * messages each to one subject with the expectation, re-reading the subject's last message after
 * each refusal, as the log does; each message carries the sequence it expected. Afterwards every
 * stored message must name the one stored before it. Run on a stream of 1 replica (one
 * nats-server) and of 3 (three in a JetStream cluster), with the servers of
 * tests/cluster/nats-harness.ts (NATS_SERVER_BIN picks another binary):
 *
 *   node --conditions=onelog-source --import tsx bench/nats-cas-probe.ts
 *
 * With Debian's nats-server 2.9.10 (2026-12-06, two runs): R1 0 of 900 messages accepted on a stale
 * expectation, R3 65 and 96 of 900 — on a replicated stream two writers can both "win" one position.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers } from "@nats-io/transport-node";
import { startNats } from "../tests/cluster/nats-harness.js";

const WRITERS = 3;
const PER_WRITER = 300;

let failed = false;
for (const servers of [1, 3] as const) {
  const nats = await startNats({ servers });
  try {
    const conns = await Promise.all(
      Array.from({ length: WRITERS }, (_, i) => connect({ servers: nats.urls[i % nats.urls.length]! })),
    );
    const jsm = await jetstreamManager(conns[0]!);
    await jsm.streams.add({ name: "cas", subjects: ["cas.>"], num_replicas: servers });
    let refused = 0;
    await Promise.all(
      conns.map(async (nc, w) => {
        const js = jetstream(nc);
        const manager = await jetstreamManager(nc);
        let last = 0;
        for (let i = 0; i < PER_WRITER;) {
          const h = headers();
          h.set("Expected", String(last));
          try {
            const ack = await js.publish("cas.p", `w${w}-${i}`, {
              expect: { lastSubjectSequence: last },
              headers: h,
            });
            last = ack.seq;
            i++;
          } catch {
            refused++;
            last = (await manager.streams.getMessage("cas", { last_by_subj: "cas.p" }))?.seq ?? 0;
          }
        }
      }),
    );
    let previous = 0;
    let stored = 0;
    let stale = 0;
    const info = await jsm.streams.info("cas");
    for (let seq = 1; seq <= info.state.last_seq; seq++) {
      const msg = await jsm.streams.getMessage("cas", { seq });
      if (msg === null) continue;
      stored++;
      if (Number(msg.header.get("Expected")) !== previous) stale++;
      previous = seq;
    }
    failed ||= stale > 0;
    console.log(
      `R${servers}: ${WRITERS} writers, ${stored} messages stored, ${refused} publishes refused; ` +
        `${stale} stored although the subject's last sequence was not the one they expected`,
    );
    await Promise.all(conns.map((c) => c.close()));
  } finally {
    await nats.stop();
  }
}
process.exitCode = failed ? 1 : 0;
