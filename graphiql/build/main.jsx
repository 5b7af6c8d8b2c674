// Entry point of the GraphiQL bundle that fhirgate embeds (see ../graphiql.go).
//
// Everything the page needs is in this bundle, its CSS and the three Monaco
// worker scripts built beside it: nothing is fetched from a CDN at run time.
// The page tells the bundle where the GraphQL endpoint is through a
// <meta name="fhirgate-graphql-endpoint"> tag that the Go handler fills in.

import { GraphiQL, HISTORY_PLUGIN } from 'graphiql';
import { explorerPlugin } from '@graphiql/plugin-explorer';
import { createRoot } from 'react-dom/client';

import 'graphiql/style.css';
import '@graphiql/plugin-explorer/style.css';
import './page.css';

// The worker scripts sit next to this script; resolving them against its own
// URL keeps the page working when the handler is mounted under a prefix.
// document.currentScript is only set while a classic script first runs, so
// read it now.
const assetBase = document.currentScript
  ? document.currentScript.src
  : document.baseURI;

// Monaco runs its language services in web workers. GraphiQL's own
// setup-workers modules either load them from esm.sh or rely on a bundler's
// worker syntax that esbuild lacks, so point Monaco at our local copies.
globalThis.MonacoEnvironment = {
  getWorker(_workerId, label) {
    let name = 'editor.worker.js';
    if (label === 'json') {
      name = 'json.worker.js';
    } else if (label === 'graphql') {
      name = 'graphql.worker.js';
    }
    return new Worker(new URL(name, assetBase), { name: label });
  },
};

const DEFAULT_QUERY = `# Welcome to fhirgate, a FHIR R4 GraphQL server.
#
# Put your token in the Headers tab below, for example:
#   { "Authorization": "Bearer <token>" }
# then run the query with Ctrl-Enter.

{
  PatientList(_count: 5) {
    id
    name {
      family
      given
    }
    birthDate
  }
}
`;

function endpointURL() {
  const meta = document.querySelector('meta[name="fhirgate-graphql-endpoint"]');
  const value = meta && meta.content ? meta.content : '/$graphql';
  return new URL(value, document.baseURI).toString();
}

// fetcher posts one GraphQL request as JSON. fhirgate has no subscriptions or
// incremental delivery, so the plain request/response fetcher is enough and
// keeps graphql-ws and multipart parsing out of the bundle.
function makeFetcher(url) {
  return async (params, opts) => {
    const response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: {
        Accept: 'application/graphql-response+json, application/json',
        'Content-Type': 'application/json',
        ...(opts && opts.headers),
      },
      body: JSON.stringify(params),
    });
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      return {
        errors: [
          {
            message: `HTTP ${response.status} ${response.statusText}: response is not JSON`,
            extensions: { body: text.slice(0, 2000) },
          },
        ],
      };
    }
  };
}

// Passing plugins replaces GraphiQL's default list, so name the history
// plugin again; the documentation explorer is always there.
const plugins = [HISTORY_PLUGIN, explorerPlugin()];

createRoot(document.getElementById('graphiql')).render(
  <GraphiQL
    fetcher={makeFetcher(endpointURL())}
    plugins={plugins}
    defaultQuery={DEFAULT_QUERY}
    isHeadersEditorEnabled
    defaultEditorToolsVisibility="headers"
    shouldPersistHeaders={false}
  />,
);
