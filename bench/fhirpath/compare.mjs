// Evaluates FHIRPath expressions with fhirpath.js (the HL7 JavaScript implementation, with its
// R4 model) for fhirgate's side-by-side comparison (fhirpath/js_test.go drives it).
//
//   node compare.mjs [request.json]      (the request on stdin when no file is given)
//
// The request is one JSON object:
//   {"resources": [resource, ...], "vars": {"name": value, ...},
//    "cases": [{"expr": "...", "on": [resource index, ...]}, ...],
//    "bench": {"warmup": n, "iterations": n, "cases": [{"expr": "...", "on": [...]}]}}
// Each case's expression is compiled once and evaluated on each resource it names, with
// %resource and %rootResource set to that resource, the request's vars as further %variables,
// and precise decimal arithmetic. The answer,
// on stdout, is one JSON object:
//   {"version": "5.2.2",
//    "results": [[{"values": [...], "types": ["System.Integer", "FHIR.date", ...]} or
//                 {"error": message}, one per resource of "on"], one per case],
//    "bench": [{"expr", "evals", "nsPerEval"}]}
// values are fhirpath.js's own resolved output (plain JSON: numbers, strings for dates, times
// and quantities, objects for complex elements); types are fhirpath.types() of the same items.
// A bench case is evaluated warmup times on each of its resources untimed, then iterations
// times timed as a whole, compiled once, in process; nsPerEval is the mean per evaluation.
// On failure the answer is {"error": message} with a non-zero exit status.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';

const require = createRequire(import.meta.url);
const { version } = require('./node_modules/fhirpath/package.json');

function fail(message) {
  process.stdout.write(JSON.stringify({ error: message }) + '\n');
  process.exit(1);
}

// trace() must not write to stdout, which carries the answer.
const traceFn = () => {};
const options = { preciseMath: true, traceFn };
// async lets resolve() run (fhirpath.js makes it asynchronous); without fhirServerUrl it reads
// only the resource (contained resources, Bundle entries).
const rawOptions = { preciseMath: true, resolveInternalTypes: false, async: true, traceFn };

// A primitive that has only its _name companion (no value) is a metadata-only node in the
// raw output; the resolved output drops it, so the types are read without it too.
function hasData(n) {
  return !(n && typeof n === 'object' && n.data == null && n._data);
}

async function evaluateCase(fn, resource, vars) {
  try {
    const raw = (await fn(resource, { ...vars, resource, rootResource: resource })).filter(hasData);
    const types = fhirpath.types(raw);
    const values = fhirpath.resolveInternalTypes(raw);
    return { values, types };
  } catch (err) {
    return { error: String(err?.message ?? err).slice(0, 300) };
  }
}

function compile(expr, opts) {
  try {
    return fhirpath.compile(expr, r4, opts);
  } catch (err) {
    const message = String(err?.message ?? err).slice(0, 300);
    return () => {
      throw new Error('compile: ' + message);
    };
  }
}

async function runCases(resources, vars, cases) {
  const out = [];
  for (const { expr, on } of cases) {
    const fn = compile(expr, rawOptions);
    const row = [];
    for (const i of on) {
      row.push(await evaluateCase(fn, resources[i], vars));
    }
    out.push(row);
  }
  return out;
}

function runBench(resources, vars, { warmup, iterations, cases }) {
  return cases.map(({ expr, on }) => {
    const fn = compile(expr, options);
    const inputs = on.map((i) => [resources[i], { ...vars, resource: resources[i], rootResource: resources[i] }]);
    for (let w = 0; w < warmup; w++) {
      for (const [r, env] of inputs) {
        fn(r, env);
      }
    }
    const start = process.hrtime.bigint();
    for (let it = 0; it < iterations; it++) {
      for (const [r, env] of inputs) {
        fn(r, env);
      }
    }
    const ns = Number(process.hrtime.bigint() - start);
    const evals = iterations * inputs.length;
    return { expr, evals, nsPerEval: evals ? ns / evals : 0 };
  });
}

async function main() {
  const path = process.argv[2];
  const request = JSON.parse(readFileSync(path ?? 0, 'utf8'));
  const resources = request.resources ?? [];
  const vars = request.vars ?? {};
  const results = await runCases(resources, vars, request.cases ?? []);
  const bench = request.bench ? runBench(resources, vars, request.bench) : [];
  process.stdout.write(JSON.stringify({ version, results, bench }) + '\n');
}

main().catch((err) => fail(String(err?.stack ?? err)));
