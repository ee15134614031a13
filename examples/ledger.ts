// A ledger: one `Account` object per account id, and a `Transfer` workflow that debits one
// account, credits another, and gives the money back (compensates) if the credit fails.
import * as onelog from "onelog";

export const account = onelog.object({
  name: "Account",
  handlers: {
    /** Adds money; returns the new balance. */
    deposit: async (ctx: onelog.ObjectContext, amount: number) => {
      if (!Number.isFinite(amount) || amount <= 0)
        throw new onelog.TerminalError("amount must be positive", { errorCode: 400 });
      const balance = ((await ctx.get<number>("balance")) ?? 0) + amount;
      ctx.set("balance", balance);
      return balance;
    },
    /** Takes money out if there is enough; a TerminalError otherwise. */
    withdraw: async (ctx: onelog.ObjectContext, amount: number) => {
      if (!Number.isFinite(amount) || amount <= 0)
        throw new onelog.TerminalError("amount must be positive", { errorCode: 400 });
      const balance = (await ctx.get<number>("balance")) ?? 0;
      if (balance < amount) {
        throw new onelog.TerminalError(`insufficient funds in ${ctx.key}: ${balance} < ${amount}`, {
          errorCode: 409,
        });
      }
      ctx.set("balance", balance - amount);
      return balance - amount;
    },
    /** Closing an account makes every later deposit fail (to show the compensation). */
    close: async (ctx: onelog.ObjectContext) => {
      ctx.set("closed", true);
    },
    /** Deposit that refuses closed accounts. */
    credit: async (ctx: onelog.ObjectContext, amount: number) => {
      if ((await ctx.get<boolean>("closed")) === true)
        throw new onelog.TerminalError(`account ${ctx.key} is closed`, { errorCode: 409 });
      const balance = ((await ctx.get<number>("balance")) ?? 0) + amount;
      ctx.set("balance", balance);
      return balance;
    },
    balance: onelog.handlers.object.shared(
      async (ctx: onelog.ObjectSharedContext) => (await ctx.get<number>("balance")) ?? 0,
    ),
  },
});

export interface TransferRequest {
  readonly from: string;
  readonly to: string;
  readonly amount: number;
}

export const transfer = onelog.workflow({
  name: "Transfer",
  handlers: {
    run: async (ctx: onelog.WorkflowContext, req: TransferRequest) => {
      ctx.set("status", "debiting");
      await ctx.objectClient(account, req.from).withdraw(req.amount);
      ctx.set("status", "crediting");
      try {
        await ctx.objectClient(account, req.to).credit(req.amount);
      } catch (e) {
        if (!onelog.isTerminalError(e)) throw e;
        // Compensate: give the money back, then fail the transfer for good.
        ctx.set("status", "compensating");
        await ctx.objectClient(account, req.from).deposit(req.amount);
        ctx.set("status", "failed");
        throw new onelog.TerminalError(`transfer ${ctx.key} failed and was rolled back: ${e.message}`, {
          errorCode: 409,
        });
      }
      ctx.set("status", "done");
      return { id: ctx.key, ...req };
    },
    status: async (ctx: onelog.WorkflowSharedContext) => (await ctx.get<string>("status")) ?? "unknown",
  },
});
