// Drives a FHIR server's REST API with fhir-kit-client and prints, as one JSON object, what the
// client got back at each step; api/rest_fhirkit_test.go runs it against fhirgate and checks it.
// Usage: node interop.mjs <baseUrl>
import { Client } from 'fhir-kit-client';

const client = new Client({ baseUrl: process.argv[2] });
const out = {};

// step records what fn returns, or the HTTP status of the error it throws.
async function step(name, fn) {
  try {
    out[name] = await fn();
  } catch (e) {
    out[name] = { error: e.response?.status ?? String(e) };
  }
}

const patient = (mrn, family, gender) => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:kit', value: mrn }],
  name: [{ family, given: ['Fhir'] }],
  gender,
});

await step('capabilities', async () => {
  const cs = await client.capabilityStatement();
  const rest = cs.rest[0];
  const patient = rest.resource.find((r) => r.type === 'Patient');
  return { fhirVersion: cs.fhirVersion, types: rest.resource.length, patientInteractions: patient.interaction.map((i) => i.code).sort() };
});

let id;
await step('create', async () => {
  const p = await client.create({ resourceType: 'Patient', body: patient('m1', 'Kit', 'female') });
  id = p.id;
  return { id: p.id, version: p.meta.versionId };
});
await step('read', async () => {
  const p = await client.read({ resourceType: 'Patient', id });
  return { family: p.name[0].family, gender: p.gender };
});
await step('update', async () => {
  const body = { ...patient('m1', 'Kit', 'male'), id };
  const p = await client.update({ resourceType: 'Patient', id, body });
  return { version: p.meta.versionId, gender: p.gender };
});
await step('vread', async () => {
  const p = await client.vread({ resourceType: 'Patient', id, version: '1' });
  return { version: p.meta.versionId, gender: p.gender };
});
await step('patch', async () => {
  const p = await client.patch({ resourceType: 'Patient', id, jsonPatch: [{ op: 'replace', path: '/gender', value: 'unknown' }] });
  return { version: p.meta.versionId, gender: p.gender };
});

await step('searchPages', async () => {
  for (let i = 2; i <= 5; i++) {
    await client.create({ resourceType: 'Patient', body: patient('m' + i, 'Kit', 'female') });
  }
  let bundle = await client.search({ resourceType: 'Patient', searchParams: { family: 'Kit', _count: 2, _sort: '_id' } });
  const total = bundle.total;
  const ids = [];
  let pages = 0;
  while (bundle) {
    pages++;
    for (const e of bundle.entry ?? []) ids.push(e.resource.id);
    bundle = await client.nextPage({ bundle });
  }
  return { total, pages, ids: ids.length, distinct: new Set(ids).size };
});
await step('postSearch', async () => {
  const b = await client.search({ resourceType: 'Patient', searchParams: { identifier: 'urn:kit|m3' }, options: { postSearch: true } });
  return { total: b.total, family: b.entry?.[0]?.resource?.name?.[0]?.family };
});

await step('history', async () => {
  const inst = await client.history({ resourceType: 'Patient', id });
  const type = await client.history({ resourceType: 'Patient' });
  const sys = await client.history();
  return {
    instance: inst.entry.map((e) => e.resource?.meta?.versionId ?? e.request.method),
    type: type.entry.length,
    system: sys.entry.length,
    kind: inst.type,
  };
});

await step('conditionalCreate', async () => {
  const p = await client.create({ resourceType: 'Patient', body: patient('m2', 'Other', 'male'), options: { headers: { 'If-None-Exist': 'identifier=urn:kit|m2' } } });
  const b = await client.search({ resourceType: 'Patient', searchParams: { identifier: 'urn:kit|m2' } });
  return { family: p.name[0].family, matches: b.total };
});
await step('conditionalUpdate', async () => {
  const p = await client.update({ resourceType: 'Patient', searchParams: { identifier: 'urn:kit|m3' }, body: patient('m3', 'Updated', 'other') });
  const b = await client.search({ resourceType: 'Patient', searchParams: { identifier: 'urn:kit|m3' } });
  return { family: p.name[0].family, version: p.meta.versionId, matches: b.total };
});
await step('conditionalDelete', async () => {
  await client.request('Patient?identifier=urn:kit|m4', { method: 'DELETE' });
  const b = await client.search({ resourceType: 'Patient', searchParams: { identifier: 'urn:kit|m4' } });
  return { matches: b.total };
});

await step('delete', async () => {
  await client.delete({ resourceType: 'Patient', id });
  return 'ok';
});
await step('readDeleted', () => client.read({ resourceType: 'Patient', id }));
await step('readMissing', () => client.read({ resourceType: 'Patient', id: 'no-such-patient' }));
await step('invalid', () => client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', gender: 'sometimes' } }));

process.stdout.write(JSON.stringify(out));
