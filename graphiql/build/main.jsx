// Entry point of the GraphiQL bundle that fhirgate embeds (see ../graphiql.go).
//
// Everything the page needs is in this bundle, its CSS and the three Monaco worker scripts
// built beside it: nothing is fetched from a CDN at run time. The page tells the bundle where
// the GraphQL endpoint is, and whether it needs a token, through <meta> tags the Go handler
// fills in.
//
// What fhirgate adds to GraphiQL, for analysts above all:
//   - a Token field: the bearer token is kept in sessionStorage (this browser tab, never at
//     rest), sent by the fetcher, and never written into GraphiQL's headers or history;
//   - the schema is loaded by this page, with the token, only once there is one, and again
//     whenever it changes, so there is no 401 before a token and no stale schema after;
//   - GraphiQL's storage drops request headers (its history kept every one, tokens included);
//   - JSON schemas for the custom scalars, so the Variables editor takes FHIR resources
//     (PatientInput...) for what they are;
//   - decimals exact both ways: variables sent with their numbers as typed, answers shown
//     with their numbers as sent;
//   - a results pane with a table view, row count, size and time, errors apart from the
//     data, CSV download; and an Examples panel of analysts' queries.

import { GraphiQL, HISTORY_PLUGIN } from 'graphiql';
import { useGraphiQL, useGraphiQLActions } from '@graphiql/react';
import { explorerPlugin } from '@graphiql/plugin-explorer';
import { buildClientSchema, getIntrospectionQuery } from 'graphql';
import { useEffect, useMemo, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';

import { INTROSPECTION, makeFetcher } from './fetcher.js';
import { ResultsPane, recordResult } from './results.jsx';
import { scalarSchemas } from './scalars.js';
import { headerlessStorage } from './storage.js';
import examples from '../examples.json';

import 'graphiql/style.css';
import '@graphiql/plugin-explorer/style.css';
import './page.css';

// The worker scripts sit next to this script; resolving them against its own URL keeps the
// page working when the handler is mounted under a prefix. document.currentScript is only set
// while a classic script first runs, so read it now.
const assetBase = document.currentScript ? document.currentScript.src : document.baseURI;

// Monaco runs its language services in web workers. GraphiQL's own setup-workers modules
// either load them from esm.sh or rely on a bundler's worker syntax that esbuild lacks, so
// point Monaco at our local copies.
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

function meta(name, fallback) {
  const el = document.querySelector(`meta[name="${name}"]`);
  return el && el.content ? el.content : fallback;
}

const endpoint = new URL(meta('fhirgate-graphql-endpoint', '/$graphql'), document.baseURI).toString();
const tokenRequired = meta('fhirgate-auth', 'required') !== 'off';

// The token of this browser tab. sessionStorage is cleared when the tab closes, and it is
// this page's alone: no other tab, and no later visit, sees it.
const TOKEN_KEY = 'fhirgate:token';

function readToken() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

function saveToken(token) {
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  } else {
    sessionStorage.removeItem(TOKEN_KEY);
  }
}

// The Variables editor, for the fetcher to read its text as typed (see fetcher.js). GraphiQL
// creates it; EditorRef below keeps the current one here.
const editors = { variables: null };

function EditorRef() {
  const variableEditor = useGraphiQL((s) => s.variableEditor);
  useEffect(() => {
    editors.variables = variableEditor || null;
  }, [variableEditor]);
  return null;
}

const storage = headerlessStorage();
const welcome = examples.find((e) => e.id === 'welcome');

async function loadSchema(fetcher) {
  const result = await fetcher({ query: getIntrospectionQuery(), operationName: INTROSPECTION });
  if (!result || !result.data || !result.data.__schema) {
    const first = result && Array.isArray(result.errors) && result.errors[0];
    throw new Error(first ? first.message : 'the server answered no schema');
  }
  return buildClientSchema(result.data);
}

function App() {
  const [token, setToken] = useState(readToken);
  const [state, setState] = useState({ schema: null, scalars: {}, generation: 0, status: '' });
  const scalarNames = useRef('');
  const fetcher = useMemo(
    () => makeFetcher({ url: endpoint, token, variablesText: () => editors.variables && editors.variables.getValue(), onResult: recordResult }),
    [token],
  );

  useEffect(() => {
    if (tokenRequired && !token) {
      setState((s) => ({ ...s, schema: null, status: 'Enter a token to load the schema.' }));
      return undefined;
    }
    let current = true;
    setState((s) => ({ ...s, status: 'Loading the schema…' }));
    loadSchema(fetcher).then(
      (schema) => {
        if (!current) {
          return;
        }
        const scalars = scalarSchemas(schema);
        const names = Object.keys(scalars).sort().join(',');
        // GraphiQL reads custom scalar schemas when it mounts: a new set needs a new mount.
        const remount = names !== scalarNames.current;
        scalarNames.current = names;
        const types = Object.keys(schema.getTypeMap()).filter((n) => !n.startsWith('__')).length;
        setState((s) => ({ schema, scalars, generation: s.generation + (remount ? 1 : 0), status: `Schema loaded: ${types} types.` }));
      },
      (err) => {
        if (current) {
          setState((s) => ({ ...s, schema: null, status: `The schema did not load: ${err.message}` }));
        }
      },
    );
    return () => {
      current = false;
    };
  }, [fetcher]);

  const useToken = (t) => {
    saveToken(t);
    setToken(t);
  };

  return (
    <GraphiQL
      key={state.generation}
      fetcher={fetcher}
      schema={state.schema}
      customScalarSchemas={state.scalars}
      storage={storage}
      plugins={plugins}
      defaultQuery={welcome.query}
      isHeadersEditorEnabled
      shouldPersistHeaders={false}
      showPersistHeadersSettings={false}
    >
      <GraphiQL.Logo>
        <TokenField token={token} onToken={useToken} status={state.status} required={tokenRequired} />
      </GraphiQL.Logo>
      <GraphiQL.Footer>
        <EditorRef />
        <ResultsPane />
      </GraphiQL.Footer>
    </GraphiQL>
  );
}

function TokenField({ token, onToken, status, required }) {
  const [draft, setDraft] = useState(token);
  useEffect(() => setDraft(token), [token]);
  const submit = (e) => {
    e.preventDefault();
    onToken(draft.trim().replace(/^Bearer\s+/i, ''));
  };
  return (
    <form className="fg-token" onSubmit={submit} aria-label="Token">
      <label htmlFor="fg-token-input">Token</label>
      <input
        id="fg-token-input"
        data-testid="fg-token"
        type="password"
        autoComplete="off"
        spellCheck={false}
        placeholder={required ? 'bearer token: kept for this tab only' : 'not needed: authentication is off'}
        value={draft}
        onChange={(e) => setDraft(e.target.value)}
      />
      <button type="submit" data-testid="fg-token-use">
        Use
      </button>
      {token && (
        <button type="button" data-testid="fg-token-forget" onClick={() => onToken('')}>
          Forget
        </button>
      )}
      <span className="fg-token-status" data-testid="fg-schema-status" role="status">
        {status}
      </span>
    </form>
  );
}

// The Examples panel: analysts' queries, each opened in a new tab.
function ExamplesPanel() {
  const { addTab } = useGraphiQLActions();
  const queryEditor = useGraphiQL((s) => s.queryEditor);
  const variableEditor = useGraphiQL((s) => s.variableEditor);
  const open = (ex) => {
    addTab();
    queryEditor && queryEditor.setValue(ex.query);
    variableEditor && variableEditor.setValue(ex.variables || '');
  };
  return (
    <section className="fg-examples" aria-label="Examples">
      <div className="graphiql-doc-explorer-title">Examples</div>
      <p>Queries for analysts. Each opens in a new tab; run it with Ctrl-Enter and look at the Table view.</p>
      <ul>
        {examples.map((ex) => (
          <li key={ex.id}>
            <button type="button" data-testid={`fg-example-${ex.id}`} onClick={() => open(ex)}>
              <strong>{ex.title}</strong>
              <span>{ex.description}</span>
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function ExamplesIcon() {
  return (
    <svg height="1em" viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.5" aria-hidden="true">
      <rect x="3" y="4" width="18" height="16" rx="1.5" />
      <path d="M3 9h18M3 14h18M9 9v11" />
    </svg>
  );
}

// Passing plugins replaces GraphiQL's default list, so name the history plugin again; the
// documentation explorer is always there.
const plugins = [{ title: 'Examples', icon: ExamplesIcon, content: ExamplesPanel }, HISTORY_PLUGIN, explorerPlugin()];

createRoot(document.getElementById('graphiql')).render(<App />);
