// Tables from GraphQL answers, for analysts: one table per root field of the answer's data.
//
//   - a list of objects: a row per object, nested objects as dotted columns (name.family),
//     lists inside a row as their JSON;
//   - flattened columns, as the FHIR GraphQL @flatten directive gives them ({"id": [...],
//     "gender": [...]}): a row per index when the lists line up;
//   - a SQL on FHIR view's rows ({columns: [{name}], rows: [[...]]}): the view's own table;
//   - an object holding lists of objects (a connection's edges, an aggregate's groups): the
//     longest of them;
//   - anything else: one row.

import { cellText, isRaw } from './exact.js';

export function tablesOf(data) {
  if (!data || typeof data !== 'object') {
    return [];
  }
  return Object.entries(data).map(([name, value]) => ({ name, ...tableOf(value) }));
}

function tableOf(value) {
  if (value === null || value === undefined) {
    return { columns: [], rows: [] };
  }
  if (Array.isArray(value)) {
    return rowsTable(value);
  }
  if (!isObject(value)) {
    return { columns: ['value'], rows: [[value]] };
  }
  if (isViewRows(value)) {
    return { columns: value.columns.map((c) => c.name), rows: value.rows };
  }
  const columnar = columnarTable(value);
  if (columnar) {
    return columnar;
  }
  const list = longestList(value);
  return rowsTable(list || [value]);
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !isRaw(v);
const isScalar = (v) => !isObject(v) && !Array.isArray(v);

function isViewRows(v) {
  return Array.isArray(v.columns) && Array.isArray(v.rows) && v.columns.every((c) => isObject(c) && typeof c.name === 'string') && v.rows.every(Array.isArray);
}

// columnarTable reads flattened columns: every member a list of scalars of one length, or a
// scalar (a @singleton), at least one list.
function columnarTable(v) {
  const entries = Object.entries(v);
  const lists = entries.filter(([, x]) => Array.isArray(x));
  if (lists.length === 0 || !entries.every(([, x]) => isScalar(x) || (Array.isArray(x) && x.every(isScalar)))) {
    return null;
  }
  const n = lists[0][1].length;
  if (!lists.every(([, x]) => x.length === n)) {
    return null;
  }
  const columns = entries.map(([k]) => k);
  const rows = [];
  for (let i = 0; i < n; i++) {
    rows.push(entries.map(([, x]) => (Array.isArray(x) ? x[i] : x)));
  }
  return { columns, rows };
}

function longestList(v) {
  let best = null;
  for (const x of Object.values(v)) {
    if (Array.isArray(x) && x.length > 0 && x.every(isObject) && (!best || x.length > best.length)) {
      best = x;
    }
  }
  return best;
}

function rowsTable(list) {
  const columns = [];
  const index = new Map();
  const flat = list.map((item) => {
    const out = {};
    if (isObject(item)) {
      flatten(item, '', out);
    } else {
      out.value = item;
    }
    for (const k of Object.keys(out)) {
      if (!index.has(k)) {
        index.set(k, columns.length);
        columns.push(k);
      }
    }
    return out;
  });
  return { columns, rows: flat.map((o) => columns.map((c) => o[c])) };
}

function flatten(obj, prefix, out) {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? prefix + '.' + k : k;
    if (isObject(v)) {
      flatten(v, key, out);
    } else {
      out[key] = v;
    }
  }
}

// toCSV writes a table as RFC 4180 CSV: a header row, CRLF line ends, fields quoted when they
// hold a comma, a quote or a line end.
export function toCSV({ columns, rows }) {
  const field = (v) => {
    const s = cellText(v);
    return /[",\r\n]/.test(s) ? '"' + s.replaceAll('"', '""') + '"' : s;
  };
  return [columns, ...rows].map((r) => r.map(field).join(',')).join('\r\n') + '\r\n';
}
