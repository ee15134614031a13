// A virtual object: one counter per key. `add` is exclusive (one at a time per key, in arrival
// order), `get` is shared (runs concurrently, reads only).
import * as onelog from "onelog";

export const counter = onelog.object({
  name: "Counter",
  handlers: {
    add: async (ctx: onelog.ObjectContext, amount: number | undefined) => {
      const value = ((await ctx.get<number>("count")) ?? 0) + (amount ?? 1);
      ctx.set("count", value);
      return value;
    },
    reset: async (ctx: onelog.ObjectContext) => {
      ctx.clearAll();
    },
    get: onelog.handlers.object.shared(
      async (ctx: onelog.ObjectSharedContext) => (await ctx.get<number>("count")) ?? 0,
    ),
  },
});
