// Serving services from their own process, in the Restate TypeScript SDK's idioms: the Node
// endpoint (listen, the HTTP/1.1 and HTTP/2 handlers, createEndpointHandler, serve) and the
// fetch endpoint of `@restatedev/restate-sdk/fetch`. Compiled against Restate's SDK and with the
// imports mapped to onelog (tests/compat/types.test.ts); not run.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as restate from "@restatedev/restate-sdk";
import * as restateFetch from "@restatedev/restate-sdk/fetch";

const greeter = restate.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx: restate.Context, name: string) => {
      ctx.console.info(`greeting ${name}`);
      return `hello ${name}`;
    },
  },
});

const logger: restate.LoggerTransport = (meta: restate.LogMetadata, message?: unknown) => {
  if (meta.level === restate.RestateLogLevel.ERROR && meta.source === restate.LogSource.SYSTEM) {
    console.error(meta.context?.invocationId, message);
  }
};

export async function main(): Promise<number> {
  const port: number = await restate
    .endpoint()
    .bind(greeter)
    .withIdentityV1("publickeyv1_2G8dCQhArfvGpzPw5Vx2ALciR4xCLHfS5YaT93XjNxX9")
    .setLogger(logger)
    .listen(9080);
  const e: restate.RestateEndpoint = restate.endpoint().bind(greeter);
  http2.createServer(e.http2Handler()).listen(9081);
  http.createServer(e.http1Handler()).listen(9082);
  http2.createServer(e.handler()).listen(9083);
  http.createServer(e.handler({ bidirectional: false })).listen(9084);
  http2.createServer(restate.createEndpointHandler({ services: [greeter] })).listen(9085);
  const options: restate.ServeOptions = { services: [greeter], port: 9086, identityKeys: [] };
  return port + (await restate.serve(options));
}

// A serverless function: the worker's default export, or the fetch function itself.
export default restateFetch.endpoint().bind(greeter).handler();
export const fetchHandler: (request: Request) => Promise<Response> = restateFetch.createEndpointHandler({
  services: [greeter],
  bidirectional: false,
});
export const bidirectional = restateFetch.endpoint().bidirectional().bind(greeter).handler().fetch;
