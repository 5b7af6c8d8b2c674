// The fetcher GraphiQL runs requests with: one POST of JSON to the GraphQL endpoint, with the
// session's bearer token, the Variables editor's numbers as written, and the response's
// numbers as sent; each run's answer, size and time go to onResult for the table view.
// fhirgate has no incremental delivery, so the plain request/response fetcher is enough and
// keeps graphql-ws and multipart parsing out of the bundle.

import { jsoncToJSON, parseExact, sameJSON } from './exact.js';

export const INTROSPECTION = 'IntrospectionQuery';

// makeFetcher returns a fetcher posting to url. token, when set, is sent as a bearer token
// unless the Headers editor names an Authorization header itself; variablesText returns the
// Variables editor's text; onResult receives every answer but introspection's.
export function makeFetcher({ url, token, variablesText, onResult }) {
  return async (params, opts) => {
    const headers = {
      Accept: 'application/graphql-response+json, application/json',
      'Content-Type': 'application/json',
      ...(opts && opts.headers),
    };
    if (token && !Object.keys(headers).some((k) => k.toLowerCase() === 'authorization')) {
      headers.Authorization = 'Bearer ' + token;
    }
    const record = params.operationName === INTROSPECTION ? () => {} : onResult || (() => {});
    const started = performance.now();
    let response;
    let text;
    try {
      response = await fetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        headers,
        body: requestBody(params, variablesText ? variablesText() : null),
      });
      text = await response.text();
    } catch (err) {
      const result = { errors: [{ message: `The request failed: ${err.message}` }] };
      record({ result, status: 0, bytes: 0, ms: performance.now() - started });
      return result;
    }
    const ms = performance.now() - started;
    let result;
    try {
      result = parseExact(text);
    } catch {
      result = {
        errors: [
          {
            message: `HTTP ${response.status} ${response.statusText}: the response is not JSON`,
            extensions: { body: text.slice(0, 2000) },
          },
        ],
      };
    }
    record({ result, status: response.status, bytes: new TextEncoder().encode(text).length, ms });
    return result;
  };
}

// requestBody is the JSON of a GraphQL request. GraphiQL hands the fetcher the variables
// already parsed, their decimals rounded to JavaScript numbers (1.50 is 1.5); when the
// Variables editor's text says the same, its own numbers are sent instead.
export function requestBody(params, rawVariables) {
  const { query, variables, operationName, extensions } = params;
  if (variables != null && rawVariables) {
    const exact = jsoncToJSON(rawVariables);
    if (exact !== null && sameJSON(JSON.parse(exact), variables)) {
      let body = '{"query":' + JSON.stringify(query) + ',"variables":' + exact;
      if (operationName) {
        body += ',"operationName":' + JSON.stringify(operationName);
      }
      if (extensions) {
        body += ',"extensions":' + JSON.stringify(extensions);
      }
      return body + '}';
    }
  }
  return JSON.stringify(params);
}
