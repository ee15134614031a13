// Proves that failing attempts are visible to an operator — each failure is one warn line with the invocation id, target, attempt, retry count, next delay and the error's stack, kept with its stack in the invocation's history, and an invocation whose service is not registered (left by another program on the same data dir) is logged once while it retries, with the reason in sys_invocation.last_failure and the admin list — by running real handlers in onelog.start() with a capturing logger.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as onelog from "onelog";
import { eventually, http, query, removeTmpDirs, startServer, tmpDir } from "./admin-harness.js";

after(() => removeTmpDirs());

type Line = { level: string; obj: Record<string, unknown>; msg: string };

function capture(): { logger: onelog.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void =>
      void lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? "" });
  return { logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") }, lines };
}

let failures = 0;
function throwsTwice(): never | string {
  if (failures++ < 2) throw new Error(`flaky failure ${failures}`);
  return "finally";
}

const flaky = onelog.service({
  name: "Flaky",
  handlers: {
    work: onelog.handlers.handler(
      { retryPolicy: { initialInterval: { milliseconds: 20 }, exponentiationFactor: 2 } },
      async () => throwsTwice(),
    ),
  },
});

const greeter = onelog.service({
  name: "Greeter",
  handlers: { greet: async (_ctx: onelog.Context, name: string) => `hi ${name}` },
});

describe("failing attempts in the log", () => {
  it("each failure is one warn line with id, target, attempt, retry count, next delay and stack", async () => {
    const { logger, lines } = capture();
    const server = await startServer([flaky], { logger });
    try {
      assert.equal((await http("POST", `${server.ingressUrl}/Flaky/work`, "")).body, "finally");
      const warns = lines.filter((l) => l.level === "warn");
      assert.equal(warns.length, 2, JSON.stringify(warns));
      const id = warns[0]!.obj.invocationId as string;
      assert.match(id, /^inv_/);
      for (const [i, w] of warns.entries()) {
        assert.equal(w.obj.invocationId, id);
        assert.equal(w.obj.target, "Flaky/work");
        assert.equal(w.obj.attemptEpoch, i + 1);
        assert.equal(w.obj.retryCount, i + 1);
        assert.equal(w.obj.nextRetryInMs, 20 * 2 ** i);
        assert.match(
          w.obj.stack as string,
          new RegExp(`^Error: flaky failure ${i + 1}\\n\\s+at throwsTwice`),
        );
        assert.equal(
          w.msg,
          `attempt ${i + 1} of Flaky/work (${id}) failed: Error: flaky failure ${i + 1}; retry ${i + 1} of 99 in ${20 * 2 ** i} ms`,
        );
      }
      // The completed invocation's history keeps each failed attempt with its message and stack.
      const described = await http("GET", `${server.adminUrl}/invocations/${id}`);
      assert.deepEqual(
        described.body.failures.map((f: { attempt: number; message: string }) => [f.attempt, f.message]),
        [
          [1, "Error: flaky failure 1"],
          [2, "Error: flaky failure 2"],
        ],
      );
      for (const f of described.body.failures as { stack: string }[])
        assert.match(f.stack, /\n\s+at throwsTwice/);
    } finally {
      await server.stop();
    }
  });

  it("an invocation whose service is not registered is logged once and shows its reason", async () => {
    const dataDir = tmpDir("unregistered");
    // One program sends a delayed call to its Flaky service, and stops before it is due.
    const first = await startServer([flaky, greeter], { dataDir });
    const sent = await http("POST", `${first.ingressUrl}/Flaky/work/send?delay=1s`, "");
    const id = sent.body.invocationId as string;
    await first.stop();
    // Another program, without Flaky, starts on the same data directory.
    const { logger, lines } = capture();
    const second = await startServer([greeter], { dataDir, logger });
    try {
      const row = await eventually(
        "several attempts failed",
        async () => {
          const rows = await query(
            second.adminUrl!,
            "SELECT status, retry_count, last_failure FROM sys_invocation WHERE id = ?",
            [id],
          );
          return rows[0] !== undefined && rows[0].retry_count >= 3 ? rows[0] : undefined;
        },
        30_000,
      );
      assert.match(row.last_failure, /no handler Flaky\/work is registered in this process/);
      const listed = await http("GET", `${second.adminUrl}/invocations?service=Flaky`);
      assert.match(listed.body.invocations[0].last_failure, /no handler Flaky\/work is registered/);
      const about = lines.filter((l) => l.obj.invocationId === id);
      assert.equal(about.length, 1, JSON.stringify(about));
      assert.equal(about[0]!.level, "warn");
      assert.equal(about[0]!.obj.target, "Flaky/work");
      assert.match(
        about[0]!.msg,
        new RegExp(`^invocation Flaky/work \\(${id}\\): its service is not registered in this process`),
      );
      await http("PATCH", `${second.adminUrl}/invocations/${id}/kill`);
    } finally {
      await second.stop();
    }
  });
});
