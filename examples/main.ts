// `npm start`: onelog embedded, serving the examples. Data lives in ./.onelog-examples.
import * as onelog from "onelog";
import { checkout } from "./checkout.js";
import { counter } from "./counter.js";
import { greeter } from "./greeter.js";
import { account, transfer } from "./ledger.js";

const ingressPort = Number(process.env.ONELOG_INGRESS_PORT ?? 8080);
const adminPort = Number(process.env.ONELOG_ADMIN_PORT ?? 9070);

// The first Ctrl-C or SIGTERM stops the server, which releases the data directory's LOCK; a
// second one while it stops is absorbed rather than killing the process before the release.
// The handlers are in place before start(), so a signal during start stops it once it is up.
let server: onelog.OnelogServer | undefined;
let stopping = false;
const stop = () => {
  stopping = true;
  void server?.stop().then(() => process.exit(0));
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (!stopping) stop();
  });
}
try {
  server = await onelog.start({
    services: [greeter, counter, account, transfer, checkout],
    ingressPort,
    adminPort,
    // Its own data directory: `onelog dev <file>` defaults to `.onelog-<file name>`, so the two
    // never retry each other's invocations against handlers they do not have.
    dataDir: process.env.ONELOG_DATA_DIR || ".onelog-examples",
  });
} catch (e) {
  // A port in use or a data directory held by another process: one line, not a stack.
  console.error(`npm start: cannot start: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
if (stopping) stop();

const u = server.ingressUrl;
console.log(`
onelog is running (data in ${server.dataDir}).
Web UI: ${server.adminUrl}/ui/   (invocations and their journals, state, services, SQL)

Try:
  curl -s -X POST ${u}/Greeter/greet -H 'content-type: application/json' -d '"Ada"'
  curl -s -X POST ${u}/Greeter/greet -H 'idempotency-key: order-1' -d '"Ada"'   # same answer every time
  curl -s -X POST ${u}/Greeter/greet/send -d '"Grace"'                          # 202 + invocation id
  curl -s -X POST '${u}/Greeter/greet/send?delay=5s' -H 'idempotency-key: later-1' -d '"Alan"'
  curl -s ${u}/restate/invocation/Greeter/greet/later-1/attach                   # waits for it

  # a virtual object: one counter per key
  curl -s -X POST ${u}/Counter/mine/add -d 5
  curl -s -X POST ${u}/Counter/mine/get

  # a ledger: accounts are objects, a transfer is a workflow that compensates on failure
  curl -s -X POST ${u}/Account/alice/deposit -d 100
  curl -s -X POST ${u}/Transfer/t1/run -d '{"from":"alice","to":"bob","amount":30}'
  curl -s -X POST ${u}/Account/bob/balance

  # a checkout waiting for a payment confirmation (an awakeable resolved over HTTP)
  curl -s -X POST ${u}/Checkout/order-1/run/send -d '{"item":"book","price":12}'
  curl -s -X POST ${u}/Checkout/order-1/status            # shows the awakeable id
  curl -s -X POST ${u}/restate/awakeables/<id>/resolve -d '{"paid":true}'
  curl -s ${u}/restate/workflow/Checkout/order-1/attach

  curl -s ${server.adminUrl}/health

Stop with Ctrl-C.
`);
