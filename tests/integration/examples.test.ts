// Proves the runnable examples do what examples/main.ts and the README tell a newcomer (greeter, counter, ledger transfer with compensation, checkout waiting on an awakeable) by serving the services exported from examples/ with onelog.start() on a temp SQLite dataDir and replaying the documented curl calls with fetch.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as onelog from "onelog";
import { eventually, get, read, silent, tmpDir, type Reply } from "./http-harness.js";
import { checkout } from "../../examples/checkout.js";
import { counter } from "../../examples/counter.js";
import { greeter } from "../../examples/greeter.js";
import { account, transfer } from "../../examples/ledger.js";

// ---------------------------------------------------------------------------------------------
// Helpers

/** POSTs a JSON value (undefined: no body) with optional headers, as the curl lines do. */
async function post(url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return read(
    await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
  );
}

// ---------------------------------------------------------------------------------------------

describe("examples", () => {
  let server: onelog.OnelogServer;
  let u: string;
  /** What the handlers printed through ctx.console.log (the examples log to the console). */
  const printed: string[] = [];
  const originalLog = console.log;

  before(async () => {
    console.log = (...args: unknown[]) => {
      printed.push(args.map(String).join(" "));
    };
    server = await onelog.start({
      services: [greeter, counter, account, transfer, checkout],
      dataDir: tmpDir("onelog-examples-"),
      ingressPort: 0,
      adminPort: 0,
      logger: silent,
    });
    u = server.ingressUrl;
  });
  after(async () => {
    await server?.stop();
    console.log = originalLog;
  });

  it("greeter: greets by name, and a stranger without a body", async () => {
    const r = await post(`${u}/Greeter/greet`, "Ada");
    assert.equal(r.status, 200);
    assert.equal(r.body, "Hello, Ada!");
    assert.equal((await post(`${u}/Greeter/greet`)).body, "Hello, stranger!");
    const keyed = await post(`${u}/Greeter/greet`, "Ada", { "idempotency-key": "order-1" });
    const again = await post(`${u}/Greeter/greet`, "Ada", { "idempotency-key": "order-1" });
    assert.equal(again.body, keyed.body);
    assert.equal(again.headers.get("x-restate-id"), keyed.headers.get("x-restate-id"));
  });

  it("counter: adds per key (default 1), concurrent adds are all counted, get reads, reset clears", async () => {
    assert.equal((await post(`${u}/Counter/mine/add`, 5)).body, 5);
    assert.equal((await post(`${u}/Counter/mine/add`)).body, 6);
    assert.equal((await post(`${u}/Counter/mine/get`)).body, 6);
    const all = await Promise.all(Array.from({ length: 10 }, () => post(`${u}/Counter/mine/add`, 1)));
    assert.deepEqual(
      all.map((r) => r.body as number).sort((a, b) => a - b),
      [7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
    );
    assert.equal((await post(`${u}/Counter/mine/get`)).body, 16);
    assert.equal((await post(`${u}/Counter/yours/get`)).body, 0);
    assert.equal((await post(`${u}/Counter/mine/reset`)).status, 200);
    assert.equal((await post(`${u}/Counter/mine/get`)).body, 0);
  });

  describe("ledger", () => {
    it("a transfer moves money: balances are exact, the status is done, and re-running the id changes nothing", async () => {
      assert.equal((await post(`${u}/Account/alice/deposit`, 100)).body, 100);
      const t = await post(`${u}/Transfer/t1/run`, { from: "alice", to: "bob", amount: 30 });
      assert.equal(t.status, 200, JSON.stringify(t.body));
      assert.deepEqual(t.body, { id: "t1", from: "alice", to: "bob", amount: 30 });
      assert.equal((await post(`${u}/Account/alice/balance`)).body, 70);
      assert.equal((await post(`${u}/Account/bob/balance`)).body, 30);
      assert.equal((await post(`${u}/Transfer/t1/status`)).body, "done");
      // A workflow runs once per id: the same transfer id does not move money again (409, as Restate).
      const again = await post(`${u}/Transfer/t1/run`, { from: "alice", to: "bob", amount: 30 });
      assert.equal(again.status, 409);
      assert.deepEqual((await get(`${u}/restate/workflow/Transfer/t1/output`)).body, t.body);
      assert.equal((await post(`${u}/Account/alice/balance`)).body, 70);
      assert.equal((await post(`${u}/Account/bob/balance`)).body, 30);
    });

    it("a transfer to a closed account is compensated: 409, the source balance is restored", async () => {
      assert.equal((await post(`${u}/Account/dave/deposit`, 50)).body, 50);
      assert.equal((await post(`${u}/Account/carol/close`)).status, 200);
      const t = await post(`${u}/Transfer/t2/run`, { from: "dave", to: "carol", amount: 20 });
      assert.equal(t.status, 409, JSON.stringify(t.body));
      assert.equal(t.body.code, 409);
      assert.match(t.body.message, /rolled back/);
      assert.match(t.body.message, /carol is closed/);
      assert.equal((await post(`${u}/Account/dave/balance`)).body, 50);
      assert.equal((await post(`${u}/Account/carol/balance`)).body, 0);
      assert.equal((await post(`${u}/Transfer/t2/status`)).body, "failed");
      assert.equal((await get(`${u}/restate/workflow/Transfer/t2/output`)).status, 409);
    });

    it("a transfer without enough money fails 409 and moves nothing; bad amounts are 400", async () => {
      const t = await post(`${u}/Transfer/t3/run`, { from: "erin", to: "bob", amount: 5 });
      assert.equal(t.status, 409);
      assert.match(t.body.message, /insufficient funds in erin/);
      assert.equal((await post(`${u}/Account/erin/balance`)).body, 0);
      const bad = await post(`${u}/Account/erin/deposit`, -3);
      assert.equal(bad.status, 400);
      assert.equal(bad.body.message, "amount must be positive");
    });
  });

  describe("checkout", () => {
    it("waits for the payment awakeable, and completes once it is resolved over HTTP", async () => {
      const sent = await post(`${u}/Checkout/order-1/run/send`, { item: "book", price: 12 });
      assert.equal(sent.status, 202);
      const awakeable = await eventually("the checkout shows its awakeable", async () => {
        const s = await post(`${u}/Checkout/order-1/status`);
        return typeof s.body.awakeable === "string" ? (s.body.awakeable as string) : undefined;
      });
      assert.equal((await post(`${u}/Checkout/order-1/status`)).body.status, "waiting for payment");
      assert.equal((await get(`${u}/restate/workflow/Checkout/order-1/output`)).status, 470);
      // It printed how to pay, once (replays stay silent).
      const lines = printed.filter((l) => l.startsWith("checkout order-1:"));
      assert.equal(lines.length, 1, JSON.stringify(printed));
      assert.ok(lines[0]!.includes(`/restate/awakeables/${awakeable}/resolve`), lines[0]);

      const paid = await fetch(`${u}/restate/awakeables/${awakeable}/resolve`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ paid: true }),
      });
      assert.equal(paid.status, 202);
      const r = await get(`${u}/restate/workflow/Checkout/order-1/attach`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, { order: "order-1", item: "book", paid: true });
      assert.equal((await post(`${u}/Checkout/order-1/status`)).body.status, "paid");
      assert.equal(sent.body.invocationId, r.headers.get("x-restate-id"));
    });

    it("a declined payment completes the checkout as not paid", async () => {
      await post(`${u}/Checkout/order-2/run/send`, { item: "pen", price: 2 });
      const awakeable = await eventually("the checkout shows its awakeable", async () => {
        const s = await post(`${u}/Checkout/order-2/status`);
        return typeof s.body.awakeable === "string" ? (s.body.awakeable as string) : undefined;
      });
      await fetch(`${u}/restate/awakeables/${awakeable}/resolve`, { method: "POST", body: '{"paid":false}' });
      assert.deepEqual((await get(`${u}/restate/workflow/Checkout/order-2/attach`)).body, {
        order: "order-2",
        item: "pen",
        paid: false,
      });
      assert.equal((await post(`${u}/Checkout/order-2/status`)).body.status, "declined");
    });
  });
});
