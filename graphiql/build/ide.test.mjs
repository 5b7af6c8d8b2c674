// Unit tests of the IDE's own modules, run with `node --test` by graphiql_test.go
// (TestIDEModules): the shapes the table view reads, CSV, exact numbers, the storage that
// drops headers, and the custom scalars' JSON schemas.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildSchema } from 'graphql';

import { cellText, jsoncToJSON, parseExact } from './exact.js';
import { requestBody } from './fetcher.js';
import { scalarSchemas } from './scalars.js';
import { scrub } from './storage.js';
import { tablesOf, toCSV } from './table.js';

const one = (data) => {
  const [t] = tablesOf(data);
  return { columns: t.columns, rows: t.rows.map((r) => r.map(cellText)) };
};

test('a list of objects: a row each, nested objects dotted, lists as JSON', () => {
  assert.deepEqual(one({ PatientList: [{ id: 'a', name: { family: 'X' }, given: ['A', 'B'] }, { id: 'b', gender: 'male' }] }), {
    columns: ['id', 'name.family', 'given', 'gender'],
    rows: [['a', 'X', '["A","B"]', ''], ['b', '', '', 'male']],
  });
});

test('@flatten columns: a row per index when the lists line up', () => {
  assert.deepEqual(one({ PatientList: { id: ['a', 'b'], gender: ['female', 'male'], active: [true, false] } }), {
    columns: ['id', 'gender', 'active'],
    rows: [['a', 'female', 'true'], ['b', 'male', 'false']],
  });
  // Lists of different lengths cannot be rows: one row of the lists.
  assert.deepEqual(one({ Patient: { given: ['A', 'B'], family: ['X'] } }), { columns: ['given', 'family'], rows: [['["A","B"]', '["X"]']] });
});

test('@singleton values alone: one row', () => {
  assert.deepEqual(one({ ObservationList: parseExact('{"id":"o1","value":72.50,"unit":"kg"}') }), { columns: ['id', 'value', 'unit'], rows: [['o1', '72.50', 'kg']] });
});

test("a view's rows, an aggregate's groups, a connection's edges", () => {
  assert.deepEqual(one({ viewDefinitionRun: { columns: [{ name: 'id' }, { name: 'kg' }], rows: [['o1', parseExact('62.50')], ['o2', null]] } }), {
    columns: ['id', 'kg'],
    rows: [['o1', '62.50'], ['o2', '']],
  });
  assert.deepEqual(one({ aggregate: { count: 3, stats: [{ name: 'x', count: 3 }], groups: [{ key: ['female'], count: 2 }, { key: ['male'], count: 1 }], suppressed: 0 } }), {
    columns: ['key', 'count'],
    rows: [['["female"]', '2'], ['["male"]', '1']],
  });
  assert.deepEqual(one({ PatientConnection: { count: 2, edges: [{ resource: { id: 'a' } }, { resource: { id: 'b' } }] } }), { columns: ['resource.id'], rows: [['a'], ['b']] });
  assert.deepEqual(one({ Patient: { id: 'a', gender: 'male' } }), { columns: ['id', 'gender'], rows: [['a', 'male']] });
  assert.deepEqual(one({ ping: true }), { columns: ['value'], rows: [['true']] });
  assert.deepEqual(one({ Patient: null }), { columns: [], rows: [] });
  assert.deepEqual(tablesOf({ a: [], b: [{ x: 1 }] }).map((t) => t.name), ['a', 'b']);
  assert.deepEqual(tablesOf(null), []);
});

test('CSV: RFC 4180 quoting, CRLF, numbers as sent', () => {
  const data = parseExact('{"L":[{"id":"a,b","note":"say \\"hi\\"\\nbye","kg":1.50,"n":null}]}');
  assert.equal(toCSV(tablesOf(data)[0]), 'id,note,kg,n\r\n"a,b","say ""hi""\nbye",1.50,\r\n');
});

test('exact numbers: parsed and printed as written', () => {
  const v = parseExact('{"a":1.50,"b":12345678901234567890,"c":2,"d":[0.10]}');
  assert.equal(JSON.stringify(v), '{"a":1.50,"b":12345678901234567890,"c":2,"d":[0.10]}');
  assert.equal(cellText(v.a), '1.50');
  assert.equal(jsoncToJSON('{\n  // a comment\n  "x": 1.50, "y": [1.0, {"z": -0.50e1},],\n}'), '{"x":1.50,"y":[1.0,{"z":-0.50e1}]}');
  assert.equal(jsoncToJSON('{"x": '), null);
});

test('request bodies: the editor text when it says what GraphiQL parsed', () => {
  const params = { query: 'q', variables: { x: 1.5 }, operationName: 'Op' };
  assert.equal(requestBody(params, '{"x": 1.50 /* kg */}'), '{"query":"q","variables":{"x":1.50},"operationName":"Op"}');
  // Text that no longer says the same (another tab's): GraphiQL's values.
  assert.equal(requestBody(params, '{"x": 2}'), JSON.stringify(params));
  assert.equal(requestBody({ query: 'q' }, '{"x": 1.50}'), '{"query":"q"}');
});

test('storage: no headers, no credentials at rest', () => {
  const tab = JSON.stringify({ tabs: [{ id: '1', title: 't', query: '{ a }', variables: null, headers: '{"Authorization":"Bearer abcdefghijklmnopqrstuvwxyz.0123"}', operationName: null, response: null }], activeTabIndex: 0 });
  const stored = JSON.parse(scrub(tab));
  assert.equal(stored.tabs[0].headers, null);
  assert.equal(stored.tabs[0].query, '{ a }');
  const history = JSON.stringify({ queries: [{ query: '# paste a Bearer token here\n{ a }', variables: '{"t": "Bearer eyJhbGciOiJFUzI1NiJ9.payload.sig"}', headers: '{}' }] });
  const h = JSON.parse(scrub(history)).queries[0];
  assert.equal(h.headers, null);
  assert.equal(h.query, '# paste a Bearer token here\n{ a }');
  assert.equal(h.variables, '{"t": "Bearer [removed]"}');
  assert.equal(scrub('not json Bearer eyJhbGciOiJFUzI1NiJ9.x.y'), 'not json Bearer [removed]');
});

test('custom scalars: resources as objects, FHIR primitives, anything JSON', () => {
  const schema = buildSchema(`
    scalar PatientInput scalar ResourceInput scalar JSON scalar decimal scalar date scalar TokenSearch
    type Patient { id: ID }
    type Query { p(res: PatientInput, r: ResourceInput, j: JSON, d: decimal, on: date, t: TokenSearch): Patient }`);
  const s = scalarSchemas(schema);
  assert.deepEqual(Object.keys(s).sort(), ['JSON', 'PatientInput', 'ResourceInput', 'TokenSearch', 'date', 'decimal']);
  assert.deepEqual(s.PatientInput.properties.resourceType, { const: 'Patient' });
  assert.deepEqual(s.PatientInput.required, ['resourceType']);
  assert.equal(s.ResourceInput.type, 'object');
  assert.deepEqual(s.decimal.type, ['number', 'string']);
  assert.equal(s.date.type, 'string');
  assert.ok(s.JSON.type.includes('object') && s.JSON.type.includes('array'));
});
