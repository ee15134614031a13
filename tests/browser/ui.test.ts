// Proves the web UI works in a real browser — Debian's Chromium driven by playwright-core — against onelog.start() with real invocations (completed, failed with retries, suspended on a sleep, paused): the list with its counts and filters, one invocation's timeline with its attempts and failures, a state edit read back through the ingress, a cancel confirmed in a dialog, the services and SQL pages, keyboard navigation, a narrow window, the admin token, 10,000 invocations paged — with no console errors; screenshots go to test-results/ui/ (ONELOG_SCREENSHOTS). Without Chromium it skips, except under CI=true, where it fails.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as onelog from "onelog";
import type { Browser, Page } from "playwright-core";

// Code in page.evaluate runs in the page: it names the page's globals through `globalThis as any`
// (the tests' TypeScript has no DOM library).
import { eventually, http, removeTmpDirs, startServer } from "../integration/admin-harness.js";

const CHROMIUM = process.env.ONELOG_CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = path.resolve(process.env.ONELOG_SCREENSHOTS ?? "test-results/ui");
const available = fs.existsSync(CHROMIUM);
if (!available && process.env.CI === "true") {
  // CI installs Chromium (.ci/run): its absence there is a failure, not a skip.
  describe("web UI in Chromium", () => {
    it("needs Chromium", () => assert.fail(`no Chromium at ${CHROMIUM} under CI=true`));
  });
}

let attemptsOfFlaky = 0;
const greeter = onelog.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx: onelog.Context, name: string) => ctx.run("compose", () => `hello ${name}`),
    // Fails its first two attempts, then succeeds: the timeline shows three attempts.
    flaky: onelog.handlers.handler(
      { retryPolicy: { initialInterval: { milliseconds: 20 }, maxAttempts: 5 } },
      async (ctx: onelog.Context) => {
        await ctx.run("check", () => "checked");
        if (++attemptsOfFlaky <= 2) throw new Error(`flaky failure ${attemptsOfFlaky}`);
        return "finally";
      },
    ),
    // Always fails: paused after two attempts.
    doomed: onelog.handlers.handler(
      { retryPolicy: { initialInterval: { milliseconds: 20 }, maxAttempts: 2, onMaxAttempts: "pause" } },
      async () => {
        throw new Error("the disk is on fire");
      },
    ),
    // Suspends soon after it starts waiting (an in-process attempt otherwise waits a minute).
    nap: onelog.handlers.handler(
      { inactivityTimeout: { milliseconds: 100 } },
      async (ctx: onelog.Context) => {
        await ctx.sleep({ hours: 1 });
        return "rested";
      },
    ),
  },
});

const counter = onelog.object({
  name: "Counter",
  handlers: {
    add: async (ctx: onelog.ObjectContext, n: number) => {
      const v = ((await ctx.get<number>("count")) ?? 0) + n;
      ctx.set("count", v);
      return v;
    },
    get: onelog.handlers.object.shared(
      async (ctx: onelog.ObjectSharedContext) => (await ctx.get<number>("count")) ?? 0,
    ),
  },
});

describe("web UI in Chromium", { skip: available ? false : `no Chromium at ${CHROMIUM}` }, () => {
  let server: onelog.OnelogServer;
  let browser: Browser;
  const errors: string[] = [];
  const ids: Record<string, string> = {};
  let ui = "";

  /** A page that records console errors and uncaught exceptions (the test fails on any). */
  async function open(width = 1280, height = 800): Promise<Page> {
    const page = await browser.newPage({ viewport: { width, height } });
    page.on("console", (m) => {
      // The browser logs every 4xx answer; the API's deliberate ones (412, 400) are asserted on.
      if (m.type() === "error" && !/the server responded with a status of 4\d\d/.test(m.text()))
        errors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
    page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));
    // The UI's own files must all load.
    page.on("response", (r) => {
      if (r.url().includes("/ui/") && r.status() >= 400) errors.push(`${r.status()} for ${r.url()}`);
    });
    return page;
  }
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

  before(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // As root (CI) Chromium needs --no-sandbox; the page is our own.
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    server = await startServer([greeter, counter]);
    ui = `${server.adminUrl}/ui/`;
    const ingress = server.ingressUrl;
    const call = async (p: string, body: string) => {
      const r = await http("POST", `${ingress}${p}`, body, { "content-type": "application/json" });
      return { id: r.headers.get("x-restate-id") ?? (r.body?.invocationId as string), body: r.body };
    };
    ids.greet = (await call("/Greeter/greet", '"Ada"')).id;
    ids.flaky = (await call("/Greeter/flaky", "null")).id;
    ids.doomed = (await call("/Greeter/doomed/send", "null")).id;
    ids.nap = (await call("/Greeter/nap/send", "null")).id;
    ids.add = (await call("/Counter/c1/add", "5")).id;
    const status = async (id: string) =>
      (await http("GET", `${server.adminUrl}/invocations/${id}`)).body.status;
    await eventually("the doomed one is paused", async () => (await status(ids.doomed!)) === "paused");
    await eventually("the nap is suspended", async () => (await status(ids.nap!)) === "suspended");
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    removeTmpDirs();
    assert.deepEqual(errors, [], "no console errors, page errors or failed requests");
  });

  it("lists the invocations with their status, result and counts, and filters them", async () => {
    const page = await open();
    await page.goto(ui);
    await page.waitForSelector(`tr[data-id="${ids.greet}"]`);
    const row = (id: string) => page.locator(`tr[data-id="${id}"]`);
    assert.match(await row(ids.greet!).innerText(), /Greeter\/greet\s+completed\s+1\s+.*→ "hello Ada"/);
    assert.match(await row(ids.flaky!).innerText(), /completed\s+3\s+.*"finally"/);
    assert.match(
      await row(ids.doomed!).innerText(),
      /paused\s+2\s+.*last failure: Error: the disk is on fire/,
    );
    assert.match(await row(ids.nap!).innerText(), /suspended/);
    const counts = await page.getByRole("group", { name: "Invocations by status" }).innerText();
    assert.match(counts, /all\s+5/);
    assert.match(counts, /completed\s+3/);
    assert.match(counts, /suspended\s+1/);
    assert.match(counts, /paused\s+1/);
    await shot(page, "invocations");
    // A count is a filter.
    await page.getByRole("button", { name: /^paused/ }).click();
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll("tbody tr").length === 1);
    assert.match(page.url(), /status=paused/);
    await page.getByRole("link", { name: "Clear filters" }).click();
    // Wait for the cleared list first: the paused filter's one row must not pass for Counter's.
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll("tbody tr").length === 5);
    await page.getByLabel("Service").selectOption("Counter");
    await page.waitForFunction((id) => {
      const rows = (globalThis as any).document.querySelectorAll("tbody tr");
      return rows.length === 1 && rows[0].getAttribute("data-id") === id;
    }, ids.add);
    assert.equal(await page.locator("tbody tr").getAttribute("data-id"), ids.add);
    await page.getByRole("link", { name: "Clear filters" }).click();
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll("tbody tr").length === 5);
    await page.close();
  });

  it("shows one invocation: the journal as a timeline with its attempts, failures and outcome", async () => {
    const page = await open();
    await page.goto(ui);
    await page.getByRole("link", { name: ids.flaky! }).click();
    await page.waitForSelector("ol.timeline");
    const timeline = await page.locator("ol.timeline").innerText();
    assert.match(timeline, /COMMAND 0\s+Input/i);
    assert.match(timeline, /Attempt 1[\s\S]*Run 'check'[\s\S]*attempt 1 failed[\s\S]*flaky failure 1/i);
    assert.match(timeline, /attempt 2 failed[\s\S]*flaky failure 2[\s\S]*Attempt 3/i);
    assert.match(timeline, /completed\s+succeeded/i);
    // Each failure's stack opens under it.
    const stack = page.locator("ol.timeline li.failure details").first();
    await stack.locator("summary").click();
    assert.match(await stack.innerText(), /flaky failure 1\n\s+at /);
    assert.match(await page.locator("main").innerText(), /3 started, 2 failed/);
    assert.match(await page.getByLabel("output").innerText(), /"finally"/);
    await shot(page, "invocation-retries");
    // The paused one offers resume; the completed one purge and restart.
    await page.goto(`${ui}#/invocations/${ids.doomed}`);
    await page.getByRole("button", { name: "Resume" }).waitFor();
    assert.match(await page.locator("main").innerText(), /the disk is on fire/);
    await shot(page, "invocation-paused");
    await page.close();
  });

  it("edits a state value with its version, and the ingress reads it back", async () => {
    const page = await open();
    await page.goto(`${ui}#/state?service=Counter&key=c1`);
    const row = page.locator('tr[data-name="count"]');
    await row.waitFor();
    assert.match(await row.innerText(), /count\s+5/);
    await row.getByRole("button", { name: "Edit count" }).click();
    await page.getByLabel("Value (JSON)").fill("41");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("Saved count.").waitFor();
    assert.match(await row.innerText(), /count\s+41/);
    const read = await http("POST", `${server.ingressUrl}/Counter/c1/get`, "");
    assert.equal(read.body, 41);
    // An edit against a version that is no longer the state's is refused (412), nothing written.
    await row.getByRole("button", { name: "Edit count" }).click();
    assert.equal((await http("POST", `${server.ingressUrl}/Counter/c1/add`, "1")).body, 42);
    await page.getByLabel("Value (JSON)").fill("0");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText(/changed since it was read/).waitFor();
    assert.equal((await http("POST", `${server.ingressUrl}/Counter/c1/get`, "")).body, 42);
    // The editor is closed and the value shown is the current one.
    await page.waitForFunction(() =>
      /count\s+42/.test((globalThis as any).document.querySelector('tr[data-name="count"]')?.innerText ?? ""),
    );
    await shot(page, "state");
    await page.close();
  });

  it("cancels a suspended invocation after a confirmation", async () => {
    const page = await open();
    await page.goto(`${ui}#/invocations/${ids.nap}`);
    await page.getByRole("button", { name: "Cancel" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /Cancel Greeter\/nap\?/);
    await shot(page, "cancel-confirmation");
    await dialog.getByRole("button", { name: "Cancel invocation" }).click();
    await eventually("the nap is cancelled", async () => {
      const r = await http("GET", `${server.adminUrl}/invocations/${ids.nap}`);
      return r.body.status === "completed" ? r.body : undefined;
    }).then((d) => assert.deepEqual(d.failure, { code: 409, message: "Cancelled" }));
    await page.getByText(/failed \[409\] Cancelled/).waitFor();
    await shot(page, "invocation-cancelled");
    await page.close();
  });

  it("shows services and handlers with their options, and runs SQL", async () => {
    const page = await open();
    await page.goto(`${ui}#/services`);
    await page.getByRole("heading", { name: /Counter/ }).waitFor();
    assert.match(
      await page.locator("main").innerText(),
      /flaky\s+–\s+yes\s+20ms ×2 ≤ 1m, 5 attempts, then pause/,
    );
    await shot(page, "services");
    await page.goto(`${ui}#/sql`);
    await page
      .getByLabel(/Query/)
      .fill("SELECT target, status FROM sys_invocation WHERE target = 'Greeter/greet'");
    await page.getByLabel(/Query/).press("Control+Enter");
    await page.getByText("1 row").waitFor();
    assert.match(await page.locator("table").innerText(), /Greeter\/greet\s+completed/);
    await page.getByLabel(/Query/).fill("DELETE FROM state");
    await page.getByRole("button", { name: "Run" }).click();
    await page.getByRole("alert").waitFor();
    assert.match(await page.getByRole("alert").innerText(), /only read-only queries/);
    await shot(page, "sql");
    await page.close();
  });

  it("works with the keyboard alone and in a narrow window", async () => {
    const page = await open(390, 800);
    await page.goto(ui);
    await page.waitForSelector("tbody tr");
    // Tab to the SQL link and follow it with Enter.
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press("Tab");
      if ((await page.evaluate(() => (globalThis as any).document.activeElement?.textContent)) === "SQL")
        break;
    }
    await page.keyboard.press("Enter");
    await page.waitForURL(/#\/sql$/);
    await page.goBack();
    await page.waitForSelector("tbody tr");
    // Nothing wider than the window but the tables' own scroll boxes.
    const overflow = await page.evaluate(
      () => (globalThis as any).document.documentElement.scrollWidth - (globalThis as any).innerWidth,
    );
    assert.ok(overflow <= 1, `the page is ${overflow} px wider than the window`);
    await shot(page, "invocations-narrow");
    await page.goto(`${ui}#/invocations/${ids.flaky}`);
    await page.waitForSelector("ol.timeline");
    assert.ok(
      (await page.evaluate(
        () => (globalThis as any).document.documentElement.scrollWidth - (globalThis as any).innerWidth,
      )) <= 1,
    );
    await shot(page, "invocation-narrow");
    await page.close();
  });
});

describe(
  "web UI in Chromium: the admin token and 10,000 invocations",
  { skip: available ? false : `no Chromium at ${CHROMIUM}` },
  () => {
    let server: onelog.OnelogServer;
    let browser: Browser;
    const errors: string[] = [];

    before(async () => {
      const { chromium } = await import("playwright-core");
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
      });
      server = await startServer([greeter, counter], { adminToken: "s3cret" });
    });

    after(async () => {
      await browser?.close();
      await server?.stop();
      removeTmpDirs();
      assert.deepEqual(errors, []);
    });

    it("asks for the token, then pages through 10,000 invocations 50 at a time", async () => {
      // Delayed sends: 10,000 scheduled invocations, one record each, nothing to run.
      const ingress = server.ingressUrl;
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < 10_000) {
            next++;
            await server.engine.send({
              target: { service: "Greeter", handler: "greet" },
              argument: new TextEncoder().encode('"later"'),
              delayMs: 3_600_000,
            });
          }
        }),
      );
      assert.equal(
        (await http("POST", `${ingress}/Greeter/greet`, '"now"', { "content-type": "application/json" }))
          .status,
        200,
      );
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      // The token form answers the API's 401 (one console line for it is expected).
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${server.adminUrl}/ui/`);
      await page.getByLabel("Token").fill("s3cret");
      await page.getByRole("button", { name: "Use it" }).click();
      const started = Date.now();
      await page.waitForSelector("tbody tr");
      const counts = await page.getByRole("group", { name: "Invocations by status" }).innerText();
      assert.match(counts, /all\s+10001/);
      assert.match(counts, /scheduled\s+10000/);
      assert.equal(await page.locator("tbody tr").count(), 50);
      const first = await page.locator("tbody tr").first().getAttribute("data-id");
      await page.getByRole("button", { name: "Older →" }).click();
      await page.waitForFunction(
        (id) => (globalThis as any).document.querySelector("tbody tr")?.getAttribute("data-id") !== id,
        first,
      );
      assert.equal(await page.locator("tbody tr").count(), 50);
      assert.match(await page.locator("caption").innerText(), /Page 2/);
      // Not a benchmark: a bound that only a page reading every row would break.
      assert.ok(Date.now() - started < 10_000, `the first two pages took ${Date.now() - started} ms`);
      await page.screenshot({ path: path.join(SHOTS, "invocations-10000.png") });
      await page.close();
    });
  },
);
