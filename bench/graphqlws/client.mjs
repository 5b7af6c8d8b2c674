// Drives fhirgate's GraphQL subscriptions with graphql-ws, the reference client of the
// graphql-transport-ws protocol, for api/graphqlws_test.go. It reads commands from stdin, one
// JSON object per line, and writes what happens to stdout, one JSON object per line:
//
//   {"cmd":"connect","url":"ws://...","token":"..."}   -> {"event":"connected"} or {"event":"closed","code":...,"reason":...}
//   {"cmd":"subscribe","id":"a","query":"...","variables":{...}}
//        -> {"id":"a","event":"next","payload":{...}} ... then {"id":"a","event":"complete"} or {"id":"a","event":"error","error":...}
//   {"cmd":"dispose"}                                  -> {"event":"closed",...} (the client disconnects)
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import readline from 'node:readline';

let client = null;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const connect = ({ url, token }) => {
  client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: token ? { Authorization: 'Bearer ' + token } : undefined,
    lazy: false,
    retryAttempts: 0,
    on: {
      connected: () => out({ event: 'connected' }),
      closed: (e) => out({ event: 'closed', code: e.code, reason: String(e.reason || '') }),
    },
    onNonLazyError: () => {},
  });
};

const subscribe = ({ id, query, variables }) => {
  client.subscribe({ query, variables }, {
    next: (payload) => out({ id, event: 'next', payload }),
    error: (err) => {
      let e = err;
      if (err && typeof err === 'object' && 'code' in err && 'reason' in err) e = { code: err.code, reason: String(err.reason) };
      else if (err instanceof Error) e = { message: err.message };
      out({ id, event: 'error', error: e });
    },
    complete: () => out({ id, event: 'complete' }),
  });
};

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const c = JSON.parse(line);
  switch (c.cmd) {
    case 'connect': connect(c); break;
    case 'subscribe': subscribe(c); break;
    case 'dispose': await client.dispose(); break;
  }
});
rl.on('close', () => process.exit(0));
