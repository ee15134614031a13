// Proves that SIGKILL mid-load loses no acknowledged output and runs no acknowledged step again: a driver keeps 16 idempotent calls in flight against onelog in a child process (tests/e2e/crash-server.ts), kills and restarts it on the same data dir several times, retries what was not acknowledged, then checks every output and the side-effect file the steps append to.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Children, REPO, errorLines, kill, prng, seedFrom, sleep, type Child } from "./harness.js";

/** The child's script; overridable so the assertions can be checked against a broken server. */
const SERVER = process.env.ONELOG_CRASH_SERVER ?? path.join(REPO, "tests/e2e/crash-server.ts");
const KEYS = 300;
const IN_FLIGHT = 16;
const KILLS = 5;
/** A kill comes after this many (seeded, uniform) acknowledged responses since the last restart. */
const ACKS_BETWEEN_KILLS = [30, 55] as const;
/** After the threshold is reached, the kill waits this many ms (seeded) so it lands mid-request. */
const KILL_JITTER_MS = [0, 25] as const;
const REQUEST_TIMEOUT_MS = 15_000;
const MAX_TRIES_PER_KEY = 40;
const LOAD_DEADLINE_MS = 100_000;
const READY_TIMEOUT_MS = 30_000;
const SEED = seedFrom("ONELOG_CRASH_SEED");

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-crash-"));
const dataDir = path.join(workDir, "data");
const sideEffectFile = path.join(workDir, "side-effects.txt");
const children = new Children({
  script: SERVER,
  env: { DATA_DIR: dataDir, SIDE_EFFECT_FILE: sideEffectFile },
  readyTimeoutMs: READY_TIMEOUT_MS,
});

after(async () => {
  await children.killAll();
  fs.rmSync(workDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// The side-effect file

interface Line {
  readonly step: "effect" | "second";
  readonly key: string;
  readonly nonce: string;
}

function readLines(): Line[] {
  let text: string;
  try {
    text = fs.readFileSync(sideEffectFile, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const m = /^(effect|second) (k\d+) ([0-9a-f-]{36})$/.exec(l);
      assert.ok(m, `side-effect file has a line that no step writes: ${JSON.stringify(l)}`);
      return { step: m[1] as Line["step"], key: m[2]!, nonce: m[3]! };
    });
}

function countsOf(lines: readonly Line[], key: string): { effect: number; second: number } {
  let effect = 0;
  let second = 0;
  for (const l of lines) {
    if (l.key !== key) continue;
    if (l.step === "effect") effect++;
    else second++;
  }
  return { effect, second };
}

// ---------------------------------------------------------------------------------------------
// The driver

interface Ack {
  readonly output: string;
  readonly invocationId: string | null;
  /** Lines of the key in the side-effect file when the 200 arrived (its result was durable before). */
  readonly atAck: { effect: number; second: number };
  readonly life: number;
}

type Outcome =
  | { readonly ok: true; readonly output: string; readonly invocationId: string | null }
  | { readonly ok: false; readonly reason: string; readonly status?: number; readonly body?: string };

async function call(url: string, key: string): Promise<Outcome> {
  try {
    const res = await fetch(`${url}/Crash/step`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify(key),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const body = await res.text();
    if (res.status !== 200) return { ok: false, reason: `http ${res.status}`, status: res.status, body };
    return { ok: true, output: JSON.parse(body) as string, invocationId: res.headers.get("x-restate-id") };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    return { ok: false, reason: err.cause?.code ?? err.name };
  }
}

void test(
  "SIGKILL mid-load: acknowledged outputs survive, each key completes once, no acknowledged step runs again",
  { timeout: 180_000 },
  async (t) => {
    const rand = prng(SEED);
    const keys = Array.from({ length: KEYS }, (_, i) => `k${i}`);
    const acks = new Map<string, Ack>();
    const tries = new Map<string, number>();
    const failures = new Map<string, number>();
    const unexpected: string[] = [];
    /** Line counts of the side-effect file when each child was dead: lifetime boundaries. */
    const boundaries: number[] = [];
    const pending = [...keys];
    let kills = 0;
    let acksSinceRestart = 0;
    let threshold = rand(...ACKS_BETWEEN_KILLS);
    let restarting = false;
    let requests = 0;

    let current: Promise<Child> = children.start(0);
    current.catch(() => {});

    /** SIGKILLs the current child (waiting for it to be gone), then starts the next lifetime. */
    async function killAndRestart(): Promise<Child> {
      const old = await current;
      await kill(old);
      boundaries.push(readLines().length);
      return children.start(old.life + 1);
    }

    function maybeCrash(): void {
      if (restarting || kills >= KILLS || acksSinceRestart < threshold) return;
      restarting = true;
      void (async () => {
        await sleep(rand(...KILL_JITTER_MS));
        kills++;
        current = killAndRestart();
        current.catch(() => {}); // surfaces through the workers awaiting it
        await current.catch(() => {});
        acksSinceRestart = 0;
        threshold = rand(...ACKS_BETWEEN_KILLS);
        restarting = false;
      })();
    }

    const deadline = Date.now() + LOAD_DEADLINE_MS;
    let givenUp = false; // one worker failed: the others stop too, so the process can exit
    async function worker(): Promise<void> {
      while (acks.size < KEYS && !givenUp) {
        if (Date.now() > deadline) {
          throw new Error(
            `deadline: ${acks.size}/${KEYS} keys acknowledged after ${LOAD_DEADLINE_MS} ms; pending ${pending.join(",")}`,
          );
        }
        const key = pending.shift();
        if (key === undefined) {
          await sleep(10); // the rest are in flight in other workers
          continue;
        }
        const n = (tries.get(key) ?? 0) + 1;
        tries.set(key, n);
        if (n > MAX_TRIES_PER_KEY)
          throw new Error(`key ${key} not acknowledged after ${MAX_TRIES_PER_KEY} tries`);
        const child = await current;
        requests++;
        const r = await call(child.url, key);
        if (r.ok) {
          acks.set(key, {
            output: r.output,
            invocationId: r.invocationId,
            atAck: countsOf(readLines(), key),
            life: child.life,
          });
          acksSinceRestart++;
          maybeCrash();
          continue;
        }
        failures.set(r.reason, (failures.get(r.reason) ?? 0) + 1);
        if (r.status !== undefined && r.status < 500) unexpected.push(`${key}: ${r.reason} ${r.body ?? ""}`);
        pending.push(key); // not acknowledged: retried, by then usually on the next lifetime
        await sleep(20);
      }
    }
    await Promise.all(Array.from({ length: IN_FLIGHT }, () => worker())).catch((e: unknown) => {
      givenUp = true;
      throw e;
    });
    assert.deepEqual(
      unexpected,
      [],
      "requests were refused with a 4xx: the test sends something the ingress rejects",
    );
    assert.equal(acks.size, KEYS);

    // One more crash after everything was acknowledged, then every key is asked again.
    while (restarting) await sleep(10);
    const finalChild = await killAndRestart();
    const again = new Map<string, Outcome>();
    const queue = [...keys];
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        for (let key = queue.shift(); key !== undefined; key = queue.shift())
          again.set(key, await call(finalChild.url, key));
      }),
    );
    await kill(finalChild);
    const lines = readLines();

    const violations: string[] = [];
    const lifeOf = (index: number) => boundaries.filter((b) => b <= index).length;
    let effectRanTwice = 0;
    let secondRanTwice = 0;
    let resumedBetweenSteps = 0;
    for (const key of keys) {
      const ack = acks.get(key)!;
      const mine = lines.map((l, i) => ({ ...l, index: i, life: lifeOf(i) })).filter((l) => l.key === key);
      const effects = mine.filter((l) => l.step === "effect");
      const seconds = mine.filter((l) => l.step === "second");
      if (effects.length > 1) effectRanTwice++;
      if (seconds.length > 1) secondRanTwice++;

      // (a) The acknowledged output survives the final crash; (b) one invocation per key.
      const a = again.get(key)!;
      if (!a.ok)
        violations.push(`${key}: re-request after the final restart failed: ${a.reason} ${a.body ?? ""}`);
      else {
        if (a.output !== ack.output)
          violations.push(`${key}: acknowledged ${ack.output}, after restart ${a.output}`);
        if (a.invocationId !== ack.invocationId) {
          violations.push(
            `${key}: acknowledged as invocation ${ack.invocationId}, after restart ${a.invocationId}`,
          );
        }
      }
      if (ack.invocationId === null) violations.push(`${key}: its 200 had no x-restate-id`);

      // Each step ran at least once, and the output names the run that was journaled: the last one.
      if (effects.length === 0 || seconds.length === 0) {
        violations.push(
          `${key}: acknowledged but its steps ran effect ${effects.length}, second ${seconds.length} times`,
        );
        continue;
      }
      const expected = `${key}:${effects.at(-1)!.nonce}:${seconds.at(-1)!.nonce}`;
      if (ack.output !== expected) {
        violations.push(
          `${key}: acknowledged ${ack.output}, but the last runs of its steps were ${expected} (a step ran after its result was journaled, or the output is not the journaled one)`,
        );
      }

      // (c) Nothing ran again after the 200: the line counts did not move since the ack.
      const final = { effect: effects.length, second: seconds.length };
      if (final.effect !== ack.atAck.effect || final.second !== ack.atAck.second) {
        violations.push(
          `${key}: at its ack effect ran ${ack.atAck.effect}× and second ${ack.atAck.second}×, at the end ${final.effect}× and ${final.second}×`,
        );
      }
      // Step "second" starts only after "effect" returned, i.e. after its result was durable: from then
      // on "effect" must never run again, even if the invocation itself was not finished at a crash.
      const firstSecond = seconds[0]!.index;
      const late = effects.filter((e) => e.index > firstSecond);
      if (late.length > 0) {
        violations.push(
          `${key}: step "effect" ran again (lifetime ${late.map((e) => e.life).join(",")}) after step "second" had started (lifetime ${seconds[0]!.life})`,
        );
      }
      // Without a crash nothing re-runs a step: at most one run of each step per process lifetime.
      for (const steps of [effects, seconds]) {
        const lives = steps.map((s) => s.life);
        if (new Set(lives).size !== lives.length) {
          violations.push(
            `${key}: step "${steps[0]!.step}" ran more than once in one process lifetime (lifetimes ${lives.join(",")})`,
          );
        }
      }
      if (effects.at(-1)!.life < seconds[0]!.life) resumedBetweenSteps++;
    }

    const errors = errorLines(children.stderr);
    const warnings = children.stderr.filter((l) => !errors.includes(l));
    const totalTries = [...tries.values()].reduce((s, n) => s + n, 0);
    t.diagnostic(`seed ${SEED} (set ONELOG_CRASH_SEED to replay the kill schedule)`);
    t.diagnostic(
      `kills mid-load ${kills}, plus 1 after all acks; lifetimes ${boundaries.length + 1}; requests ${requests}; retried requests ${totalTries - KEYS}`,
    );
    t.diagnostic(`unacknowledged attempts by reason: ${JSON.stringify(Object.fromEntries(failures))}`);
    t.diagnostic(
      `keys whose "effect" step ran more than once (crash before its result was durable): ${effectRanTwice}; "second": ${secondRanTwice}`,
    );
    t.diagnostic(
      `keys resumed after a crash between their steps (journaled "effect" replayed, not re-run): ${resumedBetweenSteps}`,
    );
    t.diagnostic(`child stderr: ${errors.length} error lines, ${warnings.length} other lines`);
    for (const w of warnings.slice(0, 5)) t.diagnostic(`  life ${w.life}: ${w.line.slice(0, 300)}`);

    assert.ok(kills >= 4, `only ${kills} kills happened mid-load; the test did not exercise what it claims`);
    assert.deepEqual(violations.slice(0, 20), [], `${violations.length} violations`);
    assert.deepEqual(
      errors.map((e) => `life ${e.life}: ${e.line}`),
      [],
      "the child logged errors",
    );
  },
);
