// Runs Acme Billing, the demo host app, on Express:
//
//   ACTAS_URL=http://127.0.0.1:7878 ACTAS_APP_ID=app_... ACTAS_APP_KEY=actas_app_... \
//   HOST=127.0.0.1 PORT=8080 node sdk/typescript/demo/server.mjs
//
// ACTAS_URL, ACTAS_APP_ID and ACTAS_APP_KEY are what `actas demo --host-app`
// prints; HOST and PORT default to 127.0.0.1 and 8080. It stops on SIGTERM
// and SIGINT.

import { createDemo } from './app.mjs';

function setting(name, fallback) {
  const value = process.env[name]?.trim() || fallback;
  if (!value) {
    console.error(`Acme Billing: set ${name} (see sdk/typescript/README.md, "The demo host app")`);
    process.exit(2);
  }
  return value;
}

const url = setting('ACTAS_URL');
const appId = setting('ACTAS_APP_ID');
const appKey = setting('ACTAS_APP_KEY');
const host = setting('HOST', '127.0.0.1');
const port = Number(setting('PORT', '8080'));
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`Acme Billing: PORT is not a port number: ${process.env.PORT}`);
  process.exit(2);
}

const demo = createDemo({ url, appId, appKey });
const server = demo.app.listen(port, host, (err) => {
  if (err) {
    console.error(`Acme Billing: cannot listen on ${host}:${port}: ${err.message}`);
    process.exit(1);
  }
  const { port: bound } = server.address();
  const shown = host.includes(':') ? `[${host}]` : host;
  console.log(`Acme Billing (Express) is at http://${shown}:${bound}`);
});

function stop() {
  demo.stop();
  server.close(() => process.exit(0));
  // Browsers keep idle connections open; they do not hold up the exit.
  server.closeIdleConnections();
  setTimeout(() => server.closeAllConnections(), 2000).unref();
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
