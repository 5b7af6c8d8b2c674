// GraphiQL keeps its tabs, history and favourites in the Storage it is given. This one is
// the browser's localStorage with every request's headers left out: GraphiQL's history
// records the headers of each request it runs, bearer tokens included, and a token must
// never be kept at rest. The token itself lives in sessionStorage (see token.jsx).

const NAMESPACE = 'graphiql:';

export function headerlessStorage(base = window.localStorage) {
  const keys = () => Object.keys(base).filter((k) => k.startsWith(NAMESPACE));
  return {
    getItem: (key) => base.getItem(key),
    setItem: (key, value) => base.setItem(key, scrub(value)),
    removeItem: (key) => base.removeItem(key),
    clear: () => keys().forEach((k) => base.removeItem(k)),
    get length() {
      return keys().length;
    },
  };
}

// scrub returns a stored value without headers: every "headers" member of the JSON is
// null (GraphiQL's tab and history entries accept null there), and any bearer credential
// left in free text is cut out.
export function scrub(value) {
  if (typeof value !== 'string') {
    return value;
  }
  let parsed;
  try {
    parsed = JSON.parse(value);
  } catch {
    return withoutCredentials(value);
  }
  return withoutCredentials(JSON.stringify(dropHeaders(parsed)));
}

function dropHeaders(v) {
  if (Array.isArray(v)) {
    return v.map(dropHeaders);
  }
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      out[k] = k === 'headers' ? null : dropHeaders(x);
    }
    return out;
  }
  return v;
}

// A credential typed into a query or variables is not a header; cut it out too (a word
// after "Bearer" is a credential when it is long enough to be one).
function withoutCredentials(text) {
  return text.replace(/\b(Bearer|Basic)(\s+)[A-Za-z0-9\-._~+/]{16,}=*/gi, '$1$2[removed]');
}
