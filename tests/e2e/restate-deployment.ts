// A deployment written with the official Restate SDK, for tests/e2e/server-mode.test.ts: it listens on argv[2] and
// appends one line per step that really ran to the file argv[3] (so a test sees whether a step ran twice).
import fs from "node:fs";
import * as restate from "@restatedev/restate-sdk";

const port = Number(process.argv[2]);
const steps = process.argv[3]!;

const mark = (line: string) => fs.appendFileSync(steps, `${line}\n`);

const order = restate.service({
  name: "Order",
  handlers: {
    /** Step a, then wait for an awakeable (its id goes to the steps file), then step b. */
    place: async (ctx: restate.Context, id: string) => {
      await ctx.run("a", () => mark(`a ${id}`));
      const { id: awakeable, promise } = ctx.awakeable<string>();
      await ctx.run("tell", () => mark(`awakeable ${id} ${awakeable}`));
      const paid = await promise;
      await ctx.run("b", () => mark(`b ${id}`));
      return `${id} paid by ${paid}`;
    },
  },
});

const counter = restate.object({
  name: "Counter",
  handlers: {
    add: async (ctx: restate.ObjectContext, n: number) => {
      const next = ((await ctx.get<number>("n")) ?? 0) + n;
      ctx.set("n", next);
      return next;
    },
  },
});

await restate.endpoint().bind(order).bind(counter).listen(port);
