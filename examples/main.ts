// `npm start`: onelog embedded, serving the examples. Data lives in ./.onelog.
import * as onelog from "onelog";
import { greeter } from "./greeter.js";

const ingressPort = Number(process.env.ONELOG_INGRESS_PORT ?? 8080);
const adminPort = Number(process.env.ONELOG_ADMIN_PORT ?? 9070);

const server = await onelog.start({
  services: [greeter],
  ingressPort,
  adminPort,
  dataDir: process.env.ONELOG_DATA_DIR ?? ".onelog",
});

const u = server.ingressUrl;
console.log(`
onelog is running (data in ${server.dataDir}).

Try:
  curl -s -X POST ${u}/Greeter/greet -H 'content-type: application/json' -d '"Ada"'
  curl -s -X POST ${u}/Greeter/greet -H 'idempotency-key: order-1' -d '"Ada"'   # same answer every time
  curl -s -X POST ${u}/Greeter/greet/send -d '"Grace"'                          # 202 + invocation id
  curl -s -X POST '${u}/Greeter/greet/send?delay=5s' -H 'idempotency-key: later-1' -d '"Alan"'
  curl -s ${u}/restate/invocation/Greeter/greet/later-1/attach                   # waits for it
  curl -s ${server.adminUrl}/health

Stop with Ctrl-C.
`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void server.stop().then(() => process.exit(0));
  });
}
