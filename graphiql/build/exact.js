// JSON with exact numbers. FHIR decimals keep their digits (1.50 is not 1.5), but
// JavaScript numbers do not: GraphiQL parses the Variables editor and the response into
// numbers and prints them again. These helpers keep each number's text as written.

import { parseTree } from 'jsonc-parser';

// Browsers with JSON.parse source text access (Chrome 114, Firefox 135, Safari 18.4) can
// hold a number's text in a value that JSON.stringify prints verbatim.
const rawJSON = typeof JSON.rawJSON === 'function' ? JSON.rawJSON : null;
export const isRaw = typeof JSON.isRawJSON === 'function' ? JSON.isRawJSON : () => false;

// parseExact parses JSON text; numbers whose text JavaScript would print differently
// (1.50, 12345678901234567890) become raw JSON values that print as written.
export function parseExact(text) {
  if (!rawJSON) {
    return JSON.parse(text);
  }
  return JSON.parse(text, (key, value, context) => {
    if (typeof value === 'number' && context && typeof context.source === 'string' && context.source !== String(value)) {
      return rawJSON(context.source);
    }
    return value;
  });
}

// jsoncToJSON rewrites JSON with comments and trailing commas (what GraphiQL's editors
// accept) as plain JSON, every number's text as written. It returns null when the text is
// not such JSON.
export function jsoncToJSON(text) {
  const errors = [];
  const tree = parseTree(text, errors, { allowTrailingComma: true, disallowComments: false });
  if (!tree || errors.length > 0) {
    return null;
  }
  return print(tree, text);
}

function print(node, text) {
  switch (node.type) {
    case 'object':
      return '{' + node.children.map((p) => JSON.stringify(p.children[0].value) + ':' + print(p.children[1], text)).join(',') + '}';
    case 'array':
      return '[' + node.children.map((c) => print(c, text)).join(',') + ']';
    case 'number':
      return text.slice(node.offset, node.offset + node.length);
    default:
      return JSON.stringify(node.value);
  }
}

// sameJSON reports whether two decoded JSON values are equal, numbers by value.
export function sameJSON(a, b) {
  if (a === b) {
    return true;
  }
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJSON(x, b[i]));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && sameJSON(a[k], b[k]));
  }
  return false;
}

// cellText is how a value shows in a table cell and a CSV field: strings as they are, raw
// numbers as written, other scalars as JSON, nothing for null.
export function cellText(v) {
  if (v === null || v === undefined) {
    return '';
  }
  if (typeof v === 'string') {
    return v;
  }
  if (isRaw(v)) {
    return v.rawJSON;
  }
  return JSON.stringify(v);
}
