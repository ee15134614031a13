// Proves that SIGKILL while objects, workflows, timers and cross-partition calls are in flight neither loses nor duplicates money: a driver funds 20 accounts, keeps 16 seeded transfers (some sleeping on a timer, some overdrawn, some to closed accounts) in flight against tests/e2e/ledger-server.ts, kills and restarts it 5 times, retries each transfer under its own id until it has a final answer, then checks every answer survives a restart and every balance is exactly what the 200s imply.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import {
  Children,
  REPO,
  errorLines,
  kill,
  prng,
  request,
  seedFrom,
  sleep,
  type Child,
  type Reply,
} from "./harness.js";

/** The child's script; overridable so the assertions can be checked against a broken server. */
const SERVER = process.env.ONELOG_LEDGER_SERVER ?? path.join(REPO, "tests/e2e/ledger-server.ts");
const ACCOUNTS = 20;
const INITIAL_BALANCE = 1_000;
const TRANSFERS = 300;
const IN_FLIGHT = 16;
const KILLS = 5;
/** Closed before any transfer: every transfer to it must be compensated (or refused for lack of funds). */
const CLOSED_AT_START = "acct-19";
/** Closed while transfers are in flight, after about a third of them were sent. */
const CLOSED_MID_LOAD = "acct-18";
/** One transfer in this many is sent to one of the two closed accounts on purpose. */
const TO_CLOSED_ONE_IN = 8;
/** One transfer in this many asks for more than an account starts with (most of those get 409). */
const OVERDRAW_ONE_IN = 5;
/** SlowTransfer's sleep between debit and credit (seeded per transfer). */
const SLEEP_MS = [10, 250] as const;
/** A kill comes after this many (seeded) final answers since the last restart. */
const ANSWERS_BETWEEN_KILLS = [20, 45] as const;
/** After the threshold is reached, the kill waits this many ms (seeded) so it lands mid-request. */
const KILL_JITTER_MS = [0, 60] as const;
const REQUEST_TIMEOUT_MS = 15_000;
const MAX_TRIES_PER_JOB = 40;
const LOAD_DEADLINE_MS = 100_000;
const READY_TIMEOUT_MS = 30_000;
const SEED = seedFrom("ONELOG_LEDGER_SEED");

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-ledger-"));
const children = new Children({
  script: SERVER,
  env: { DATA_DIR: path.join(workDir, "data") },
  readyTimeoutMs: READY_TIMEOUT_MS,
});

after(async () => {
  await children.killAll();
  fs.rmSync(workDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// The plan: accounts, transfers (from the seed alone, so a failing run replays the same load)

const accountIds = Array.from({ length: ACCOUNTS }, (_, i) => `acct-${i}`);

type Workflow = "Transfer" | "SlowTransfer";

interface TransferRequest {
  readonly from: string;
  readonly to: string;
  readonly amount: number;
  readonly sleepMs?: number;
}

interface PlannedTransfer {
  readonly id: string;
  readonly workflow: Workflow;
  readonly req: TransferRequest;
  readonly job: Job;
}

/** Something the driver sends until it gets a final answer; a transfer keeps its id for its whole life. */
interface Job {
  readonly name: string;
  readonly path: string;
  readonly body: unknown;
  readonly idempotencyKey?: string;
  /** Statuses that end the job; anything else in 5xx (or no answer) is retried, other 4xx are a defect. */
  readonly finalStatuses: readonly number[];
  /** Where to attach when a retried call finds the workflow already invoked (409, as Restate). */
  readonly attachPath?: string;
  tries: number;
  /** performance.now() when the job was first sent. */
  firstSentAt?: number;
  lastFailure?: string;
  final?: Final;
}

interface Final {
  readonly status: number;
  readonly body: string;
  readonly life: number;
  /** performance.now() when the answer arrived. */
  readonly at: number;
}

const ALREADY_INVOKED = "the workflow method was already invoked";

function job(name: string, p: string, body: unknown, finalStatuses: readonly number[], key?: string): Job {
  return {
    name,
    path: p,
    body,
    finalStatuses,
    tries: 0,
    ...(key === undefined ? {} : { idempotencyKey: key }),
  };
}

function planTransfers(rand: (lo: number, hi: number) => number): PlannedTransfer[] {
  const out: PlannedTransfer[] = [];
  for (let i = 0; i < TRANSFERS; i++) {
    const id = `t${i}`;
    const from = rand(0, ACCOUNTS - 1);
    let to: number;
    if (rand(1, TO_CLOSED_ONE_IN) === 1) {
      to = rand(0, 1) === 0 ? accountIds.indexOf(CLOSED_AT_START) : accountIds.indexOf(CLOSED_MID_LOAD);
      if (to === from) to = (to + 1) % ACCOUNTS;
    } else {
      to = rand(0, ACCOUNTS - 2);
      if (to >= from) to++;
    }
    const amount =
      rand(1, OVERDRAW_ONE_IN) === 1 ? rand(INITIAL_BALANCE + 1, 3 * INITIAL_BALANCE) : rand(1, 300);
    const workflow: Workflow = rand(0, 1) === 0 ? "Transfer" : "SlowTransfer";
    const req: TransferRequest = {
      from: accountIds[from]!,
      to: accountIds[to]!,
      amount,
      ...(workflow === "SlowTransfer" ? { sleepMs: rand(...SLEEP_MS) } : {}),
    };
    const runJob = job(id, `/${workflow}/${id}/run`, req, [200, 409]);
    out.push({
      id,
      workflow,
      req,
      job: { ...runJob, attachPath: `/restate/workflow/${workflow}/${id}/attach` },
    });
  }
  return out;
}

/** The status a transfer's workflow state must end in, given its final answer. */
function expectedStatus(final: Final): "done" | "failed" | "debiting" | undefined {
  if (final.status === 200) return "done";
  if (final.status !== 409) return undefined;
  if (final.body.includes("failed and was rolled back")) return "failed";
  if (final.body.includes("insufficient funds")) return "debiting";
  return undefined;
}

void test(
  "SIGKILL mid-transfer: every transfer answers once and for good, no money is lost or made, each balance is exact",
  { timeout: 180_000 },
  async (t) => {
    const transfers = planTransfers(prng(SEED));
    const schedule = prng(SEED ^ 0x5bd1e995); // kill moments, apart from the plan
    const failures = new Map<string, number>();
    const unexpected: string[] = [];
    const inFlightAtKill: number[] = [];
    let kills = 0;
    let answersSinceRestart = 0;
    let threshold = schedule(...ANSWERS_BETWEEN_KILLS);
    let restarting = false;
    let inFlight = 0;
    let requests = 0;

    let current: Promise<Child> = children.start(0);
    current.catch(() => {});

    /** SIGKILLs the current child (waiting for it to be gone), then starts the next lifetime. */
    async function killAndRestart(): Promise<Child> {
      const old = await current;
      await kill(old);
      return children.start(old.life + 1);
    }

    function maybeCrash(): void {
      if (restarting || kills >= KILLS || answersSinceRestart < threshold) return;
      restarting = true;
      void (async () => {
        await sleep(schedule(...KILL_JITTER_MS));
        kills++;
        inFlightAtKill.push(inFlight);
        current = killAndRestart();
        current.catch(() => {}); // surfaces through the workers awaiting it
        await current.catch(() => {});
        answersSinceRestart = 0;
        threshold = schedule(...ANSWERS_BETWEEN_KILLS);
        restarting = false;
      })();
    }

    const deadline = Date.now() + LOAD_DEADLINE_MS;
    let givenUp = false; // one worker failed: the others stop too, so the process can exit

    /** Sends `jobs` with IN_FLIGHT workers until each has a final answer, killing the child on schedule. */
    async function runPhase(jobs: readonly Job[]): Promise<void> {
      const queue = [...jobs];
      const open = () => jobs.some((j) => j.final === undefined);
      async function worker(): Promise<void> {
        while (open() && !givenUp) {
          if (Date.now() > deadline) {
            const left = jobs.filter((j) => j.final === undefined);
            throw new Error(
              `deadline: ${left.length} jobs without a final answer after ${LOAD_DEADLINE_MS} ms: ${left
                .slice(0, 20)
                .map((j) => `${j.name} (${j.tries} tries, last ${j.lastFailure ?? "-"})`)
                .join(", ")}`,
            );
          }
          const j = queue.shift();
          if (j === undefined) {
            await sleep(10); // the rest are in flight in other workers
            continue;
          }
          if (++j.tries > MAX_TRIES_PER_JOB) {
            throw new Error(
              `${j.name}: no final answer after ${MAX_TRIES_PER_JOB} tries (last ${j.lastFailure})`,
            );
          }
          const child = await current;
          j.firstSentAt ??= performance.now();
          requests++;
          inFlight++;
          let r = await request(child.url + j.path, {
            method: "POST",
            body: j.body,
            ...(j.idempotencyKey === undefined ? {} : { headers: { "idempotency-key": j.idempotencyKey } }),
            timeoutMs: REQUEST_TIMEOUT_MS,
          });
          if (
            r.answered &&
            r.status === 409 &&
            j.attachPath !== undefined &&
            r.body.includes(ALREADY_INVOKED)
          ) {
            // A retried workflow call (the first answer was lost in a crash): Restate's way is to attach.
            r = await request(child.url + j.attachPath, { method: "GET", timeoutMs: REQUEST_TIMEOUT_MS });
          }
          inFlight--;
          if (r.answered && j.finalStatuses.includes(r.status)) {
            j.final = { status: r.status, body: r.body, life: child.life, at: performance.now() };
            answersSinceRestart++;
            maybeCrash();
            continue;
          }
          const reason = r.answered ? `http ${r.status}` : r.reason;
          j.lastFailure = reason;
          failures.set(reason, (failures.get(reason) ?? 0) + 1);
          if (r.answered && r.status < 500) unexpected.push(`${j.name}: ${reason} ${r.body}`);
          queue.push(j); // no final answer: the same job again, by then usually on the next lifetime
          await sleep(20);
        }
      }
      await Promise.all(Array.from({ length: IN_FLIGHT }, () => worker())).catch((e: unknown) => {
        givenUp = true;
        throw e;
      });
    }

    // Phase 1: fund every account once (idempotency keys make the retries safe), close one.
    const funding = accountIds.map((a) =>
      job(`fund ${a}`, `/Account/${a}/deposit`, INITIAL_BALANCE, [200], `fund-${a}`),
    );
    const closeAtStart = job(
      `close ${CLOSED_AT_START}`,
      `/Account/${CLOSED_AT_START}/close`,
      undefined,
      [200],
    );
    await runPhase([...funding, closeAtStart]);

    // Phase 2: the transfers, with the second account closed a third of the way in.
    const closeMidLoad = job(
      `close ${CLOSED_MID_LOAD}`,
      `/Account/${CLOSED_MID_LOAD}/close`,
      undefined,
      [200],
    );
    const phase2 = transfers.map((x) => x.job);
    phase2.splice(Math.floor(TRANSFERS / 3), 0, closeMidLoad);
    await runPhase(phase2);
    assert.deepEqual(
      unexpected,
      [],
      "requests were refused with a 4xx: the test sends something the ingress rejects",
    );

    // One more crash after every transfer answered; then everything is asked again.
    while (restarting) await sleep(10);
    const finalChild = await killAndRestart();
    const violations: string[] = [];
    const ask = (p: string, method: "GET" | "POST", body?: unknown): Promise<Reply> =>
      request(finalChild.url + p, {
        method,
        ...(body === undefined ? {} : { body }),
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
    const describe = (r: Reply) => (r.answered ? `${r.status} ${r.body}` : `no answer (${r.reason})`);

    const queue = [...transfers];
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        for (let x = queue.shift(); x !== undefined; x = queue.shift()) {
          const final = x.job.final!;
          const was = `${final.status} ${final.body}`;
          // The run is once per workflow id: calling it again is a conflict (409, as Restate), and
          // attaching gets the same answer.
          const again = await ask(`/${x.workflow}/${x.id}/run`, "POST", x.req);
          if (!again.answered || again.status !== 409 || !again.body.includes(ALREADY_INVOKED))
            violations.push(`${x.id}: answered ${was}; run again after restart: ${describe(again)}`);
          const attached = await ask(`/restate/workflow/${x.workflow}/${x.id}/attach`, "GET");
          if (describe(attached) !== was)
            violations.push(`${x.id}: answered ${was}; attach after restart: ${describe(attached)}`);
          // Not running any more: the output is there without waiting (470 if it were not).
          const output = await ask(`/restate/workflow/${x.workflow}/${x.id}/output`, "GET");
          if (describe(output) !== was)
            violations.push(`${x.id}: answered ${was}; output after restart: ${describe(output)}`);
          // Its workflow state ended where its answer says (a compensated transfer says "failed").
          const status = await ask(`/${x.workflow}/${x.id}/status`, "POST");
          const expected = expectedStatus(final);
          if (expected === undefined) violations.push(`${x.id}: answered ${was}, which no transfer answers`);
          else if (describe(status) !== `200 ${JSON.stringify(expected)}`)
            violations.push(`${x.id}: answered ${was}; its status is ${describe(status)}, not "${expected}"`);
          if (final.status === 200) {
            const out: unknown = JSON.parse(final.body);
            if (JSON.stringify(out) !== JSON.stringify({ id: x.id, ...x.req }))
              violations.push(`${x.id}: answered 200 ${final.body} for request ${JSON.stringify(x.req)}`);
          }
        }
      }),
    );

    // The books: what the 200s moved, nothing else (a 409 moved nothing, or gave the debit back).
    const expectedBalance = new Map(accountIds.map((a) => [a, INITIAL_BALANCE]));
    let succeeded = 0;
    let compensated = 0;
    let refused = 0;
    for (const x of transfers) {
      const final = x.job.final!;
      if (final.status === 200) {
        succeeded++;
        expectedBalance.set(x.req.from, expectedBalance.get(x.req.from)! - x.req.amount);
        expectedBalance.set(x.req.to, expectedBalance.get(x.req.to)! + x.req.amount);
      } else if (expectedStatus(final) === "failed") compensated++;
      else refused++;
    }
    const balances = new Map<string, number>();
    for (const a of accountIds) {
      const r = await ask(`/Account/${a}/balance`, "POST");
      if (!r.answered || r.status !== 200) {
        violations.push(`${a}: balance after restart: ${describe(r)}`);
        continue;
      }
      const balance = JSON.parse(r.body) as number;
      balances.set(a, balance);
      if (balance !== expectedBalance.get(a)) {
        violations.push(
          `${a}: balance ${balance}, but initial ${INITIAL_BALANCE} + credits − debits of the 200s is ${expectedBalance.get(a)} (off by ${balance - expectedBalance.get(a)!})`,
        );
      }
      if (balance < 0) violations.push(`${a}: balance ${balance} is negative`);
    }
    await kill(finalChild);

    // Funding: each deposit answered the first deposit's balance (a duplicate would say 2000).
    for (const f of funding) {
      if (f.final!.body !== String(INITIAL_BALANCE))
        violations.push(`${f.name}: the deposit answered ${f.final!.body}, expected ${INITIAL_BALANCE}`);
    }
    // Closed accounts take no credit: nothing sent to the first, nothing sent to the second
    // after its close was acknowledged, may have succeeded.
    const closedAt = closeMidLoad.final!.at;
    for (const x of transfers) {
      const closed =
        x.req.to === CLOSED_AT_START || (x.req.to === CLOSED_MID_LOAD && x.job.firstSentAt! > closedAt);
      if (closed && x.job.final!.status === 200)
        violations.push(`${x.id}: credited ${x.req.to} after it was closed`);
    }

    const total = [...balances.values()].reduce((s, b) => s + b, 0);
    const errors = errorLines(children.stderr);
    const warnings = children.stderr.filter((l) => !errors.includes(l));
    const jobs = [...funding, closeAtStart, closeMidLoad, ...transfers.map((x) => x.job)];
    const tries = jobs.reduce((s, j) => s + j.tries, 0);
    const slow = transfers.filter((x) => x.workflow === "SlowTransfer").length;
    const interrupted = transfers.filter((x) => x.job.tries > 1);
    const interruptedOk = interrupted.filter((x) => x.job.final!.status === 200).length;
    t.diagnostic(`seed ${SEED} (set ONELOG_LEDGER_SEED to replay the plan and the kill schedule)`);
    t.diagnostic(
      `transfers ${TRANSFERS} (${slow} sleeping between debit and credit); succeeded ${succeeded}; compensated ${compensated}; refused for funds ${refused}`,
    );
    t.diagnostic(
      `kills mid-load ${kills} (requests in flight at each: ${inFlightAtKill.join(",")}), plus 1 after all answers; lifetimes ${kills + 2}`,
    );
    t.diagnostic(
      `requests ${requests}; retries ${tries - jobs.length}; without a final answer by reason: ${JSON.stringify(Object.fromEntries(failures))}`,
    );
    t.diagnostic(
      `transfers without an answer at first and retried under the same id: ${interrupted.length} (${interruptedOk} of them then succeeded)`,
    );
    t.diagnostic(`sum of balances ${total} (initial ${ACCOUNTS * INITIAL_BALANCE})`);
    t.diagnostic(`child stderr: ${errors.length} error lines, ${warnings.length} other lines`);
    for (const w of warnings.slice(0, 5)) t.diagnostic(`  life ${w.life}: ${w.line.slice(0, 300)}`);

    assert.ok(kills >= 4, `only ${kills} kills happened mid-load; the test did not exercise what it claims`);
    assert.ok(
      succeeded > 0 && compensated > 0 && refused > 0,
      `the load did not exercise every outcome: succeeded ${succeeded}, compensated ${compensated}, refused ${refused}`,
    );
    assert.deepEqual(violations.slice(0, 30), [], `${violations.length} violations`);
    assert.equal(balances.size, ACCOUNTS);
    assert.equal(total, ACCOUNTS * INITIAL_BALANCE, "money was made or lost");
    assert.deepEqual(
      errors.map((e) => `life ${e.life}: ${e.line}`),
      [],
      "the child logged errors",
    );
  },
);
