// A service with one durable step: the greeting is composed once per invocation, even if the
// process crashes and the invocation is retried.
import * as onelog from "onelog";

export const greeter = onelog.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx: onelog.Context, name: string | undefined) => {
      const greeting = await ctx.run("compose", () => `Hello, ${name ?? "stranger"}!`);
      const visitor = ctx.rand.uuidv4();
      ctx.console.log(`greeted ${name ?? "stranger"} as visitor ${visitor}`);
      return greeting;
    },
  },
});
