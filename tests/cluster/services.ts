// Services the in-process cluster tests (admin-cluster, deployments) run on every node: a Greeter with one step, a Counter object whose state is `value`, and a Sleeper whose invocations stay running.
import * as onelog from "onelog";

export const greeter = onelog.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx: onelog.Context, name: string) => ctx.run("compose", () => `hello ${name}`),
  },
});

export const counter = onelog.object({
  name: "Counter",
  handlers: {
    add: async (ctx: onelog.ObjectContext, n: number) => {
      const value = ((await ctx.get<number>("value")) ?? 0) + n;
      ctx.set("value", value);
      return value;
    },
  },
});

export const sleeper = onelog.service({
  name: "Sleeper",
  handlers: { nap: async (ctx: onelog.Context) => ctx.sleep(600_000) },
});
