// A checkout that waits for a payment confirmation from outside: it creates an awakeable, hands
// its id to the "payment provider" (here: prints the curl line), and waits — suspended, not
// holding memory — until someone resolves it over HTTP, or 10 minutes pass.
import * as onelog from "onelog";

export const checkout = onelog.workflow({
  name: "Checkout",
  handlers: {
    run: async (ctx: onelog.WorkflowContext, order: { item: string; price: number }) => {
      const payment = ctx.awakeable<{ paid: boolean }>();
      ctx.set("awakeable", payment.id);
      await ctx.run("ask for payment", () => {
        ctx.console.log(
          `checkout ${ctx.key}: pay with  curl -X POST localhost:8080/restate/awakeables/${payment.id}/resolve -d '{"paid":true}'`,
        );
      });
      try {
        const result = await payment.promise.orTimeout({ minutes: 10 });
        ctx.set("status", result.paid ? "paid" : "declined");
        return { order: ctx.key, item: order.item, paid: result.paid };
      } catch (e) {
        if (onelog.isTimeoutError(e)) {
          ctx.set("status", "expired");
          throw new onelog.TerminalError(`checkout ${ctx.key}: no payment within 10 minutes`, {
            errorCode: 408,
          });
        }
        throw e;
      }
    },
    /** The awakeable id to pay with, and where the checkout stands. */
    status: async (ctx: onelog.WorkflowSharedContext) => ({
      awakeable: await ctx.get<string>("awakeable"),
      status: (await ctx.get<string>("status")) ?? "waiting for payment",
    }),
  },
});
