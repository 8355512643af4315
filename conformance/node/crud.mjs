// crud.mjs drives a TeleHub FHIR server with fhir-kit-client, a third-party
// FHIR client, through the REST interactions of the core R4 API. Each step
// asserts what the server answered; the script stops with a message and a
// non-zero exit code at the first failure.
//
// Environment:
//   TELEHUB_FHIR_URL       base URL of the FHIR API, e.g. http://127.0.0.1:8080/fhir
//   TELEHUB_TRANSACTIONS   "unsupported" when the backend refuses transaction
//                          Bundles; the transaction step then checks the refusal.
import { randomUUID } from 'node:crypto';
import { Client } from 'fhir-kit-client';

const baseUrl = process.env.TELEHUB_FHIR_URL;
if (!baseUrl) {
  fail('TELEHUB_FHIR_URL is not set');
}
const transactionsSupported = process.env.TELEHUB_TRANSACTIONS !== 'unsupported';

// Ask for the resource in every write response so each step can check it.
const client = new Client({
  baseUrl,
  customHeaders: { Prefer: 'return=representation' },
});

// A run-unique identifier system keeps the script repeatable on a used server.
const system = `urn:telehub:conformance:${randomUUID()}`;

function fail(message) {
  console.error(`FAIL ${message}`);
  process.exit(1);
}

function check(condition, message) {
  if (!condition) fail(message);
}

function equal(got, want, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) fail(`${what}: got ${g}, want ${w}`);
}

function statusOf(resource) {
  return Client.httpFor(resource).response?.status;
}

function header(resource, name) {
  return Client.httpFor(resource).response?.headers.get(name) ?? null;
}

// expectError runs a request that must fail with the given status (or one
// of the given statuses) and an OperationOutcome body, and returns that
// OperationOutcome.
async function expectError(what, status, request) {
  const allowed = Array.isArray(status) ? status : [status];
  let result;
  try {
    result = await request();
  } catch (err) {
    const got = err.response?.status;
    if (got === undefined) fail(`${what}: ${err.message}`);
    if (!allowed.includes(got)) {
      fail(`${what}: status ${got}, want ${allowed.join(' or ')}; body ${JSON.stringify(err.response.data)}`);
    }
    const outcome = err.response.data;
    check(outcome?.resourceType === 'OperationOutcome', `${what}: error body is not an OperationOutcome: ${JSON.stringify(outcome)}`);
    check(Array.isArray(outcome.issue) && outcome.issue.length > 0, `${what}: OperationOutcome has no issue`);
    return outcome;
  }
  fail(`${what}: succeeded with status ${statusOf(result)}, want ${allowed.join(' or ')}`);
}

async function step(name, fn) {
  try {
    await fn();
  } catch (err) {
    const detail = err.response ? ` (status ${err.response.status}: ${JSON.stringify(err.response.data)})` : '';
    fail(`${name}: ${err.message}${detail}`);
  }
  console.log(`ok ${name}`);
}

function patient(value, family) {
  return {
    resourceType: 'Patient',
    identifier: [{ system, value }],
    name: [{ family, given: ['Ada'] }],
    birthDate: '1970-01-01',
  };
}

let created;

await step('create', async () => {
  created = await client.create({ resourceType: 'Patient', body: patient('p1', 'Lovelace') });
  equal(statusOf(created), 201, 'create status');
  check(typeof created.id === 'string' && created.id.length > 0, 'create: no id in the response');
  equal(created.meta?.versionId, '1', 'create versionId');
  const location = header(created, 'location');
  check(location && location.includes(`/Patient/${created.id}/_history/1`), `create: Location ${location}`);
  equal(header(created, 'etag'), 'W/"1"', 'create ETag');
});

await step('read', async () => {
  const read = await client.read({ resourceType: 'Patient', id: created.id });
  equal(statusOf(read), 200, 'read status');
  equal(read.name, created.name, 'read name');
  equal(read.meta?.versionId, '1', 'read versionId');
  equal(header(read, 'etag'), 'W/"1"', 'read ETag');
});

await step('versioned update', async () => {
  const body = { ...patient('p1', 'Byron'), id: created.id };
  const updated = await client.update({
    resourceType: 'Patient',
    id: created.id,
    body,
    options: { headers: { 'If-Match': 'W/"1"' } },
  });
  equal(statusOf(updated), 200, 'update status');
  equal(updated.meta?.versionId, '2', 'update versionId');
  equal(updated.name[0].family, 'Byron', 'updated family');
  await expectError('update with a stale If-Match', 412, () =>
    client.update({
      resourceType: 'Patient',
      id: created.id,
      body: { ...body, birthDate: '1971-01-01' },
      options: { headers: { 'If-Match': 'W/"1"' } },
    }),
  );
});

await step('vread', async () => {
  const v1 = await client.vread({ resourceType: 'Patient', id: created.id, version: '1' });
  equal(v1.name[0].family, 'Lovelace', 'vread 1 family');
  equal(v1.meta?.versionId, '1', 'vread 1 versionId');
  const v2 = await client.vread({ resourceType: 'Patient', id: created.id, version: '2' });
  equal(v2.name[0].family, 'Byron', 'vread 2 family');
});

await step('history', async () => {
  const history = await client.history({ resourceType: 'Patient', id: created.id });
  equal(history.resourceType, 'Bundle', 'history resourceType');
  equal(history.type, 'history', 'history Bundle type');
  equal(history.total, 2, 'history total');
  const versions = history.entry.map((e) => e.resource?.meta?.versionId);
  equal(versions, ['2', '1'], 'history versions, newest first');
  equal(history.entry.map((e) => e.request?.method), ['PUT', 'POST'], 'history request methods');
});

await step('conditional create (ifNoneExist)', async () => {
  const existing = await client.create({
    resourceType: 'Patient',
    body: patient('p1', 'Duplicate'),
    options: { headers: { 'If-None-Exist': `identifier=${system}|p1` } },
  });
  equal(statusOf(existing), 200, 'conditional create on a match: status');
  const stillOne = await client.search({ resourceType: 'Patient', searchParams: { identifier: `${system}|p1` } });
  equal(stillOne.total, 1, 'conditional create on a match must not create');
  const fresh = await client.create({
    resourceType: 'Patient',
    body: patient('p2', 'Fresh'),
    options: { headers: { 'If-None-Exist': `identifier=${system}|p2` } },
  });
  equal(statusOf(fresh), 201, 'conditional create without a match: status');
  check(fresh.id && fresh.id !== created.id, 'conditional create without a match: new id');
});

let conditionalId;

await step('conditional update', async () => {
  const searchParams = { identifier: `${system}|p3` };
  const first = await client.update({ resourceType: 'Patient', searchParams, body: patient('p3', 'Babbage') });
  equal(statusOf(first), 201, 'conditional update without a match creates: status');
  conditionalId = first.id;
  const second = await client.update({ resourceType: 'Patient', searchParams, body: patient('p3', 'Somerville') });
  equal(statusOf(second), 200, 'conditional update on a match: status');
  equal(second.id, conditionalId, 'conditional update on a match keeps the id');
  equal(second.meta?.versionId, '2', 'conditional update on a match: versionId');
});

await step('conditional delete', async () => {
  const deleted = await client.request(`Patient?identifier=${encodeURIComponent(`${system}|p3`)}`, { method: 'DELETE' });
  check([200, 204].includes(statusOf(deleted)), `conditional delete status ${statusOf(deleted)}`);
  const after = await client.search({ resourceType: 'Patient', searchParams: { identifier: `${system}|p3` } });
  equal(after.total, 0, 'conditional delete: matches left');
  await expectError('read after conditional delete', 410, () => client.read({ resourceType: 'Patient', id: conditionalId }));
});

await step('search by identifier', async () => {
  const found = await client.search({ resourceType: 'Patient', searchParams: { identifier: `${system}|p1` } });
  equal(found.resourceType, 'Bundle', 'search resourceType');
  equal(found.type, 'searchset', 'search Bundle type');
  equal(found.total, 1, 'search total');
  equal(found.entry?.[0]?.resource?.id, created.id, 'search match id');
  equal(found.entry?.[0]?.search?.mode, 'match', 'search mode');
  const bySystem = await client.search({ resourceType: 'Patient', searchParams: { identifier: `${system}|` } });
  equal(bySystem.total, 2, 'search by identifier system only');
});

await step('patch (JSON Patch)', async () => {
  const patched = await client.patch({
    resourceType: 'Patient',
    id: created.id,
    jsonPatch: [
      { op: 'test', path: '/birthDate', value: '1970-01-01' },
      { op: 'replace', path: '/birthDate', value: '1815-12-10' },
      { op: 'add', path: '/gender', value: 'female' },
    ],
  });
  equal(statusOf(patched), 200, 'patch status');
  equal(patched.birthDate, '1815-12-10', 'patched birthDate');
  equal(patched.gender, 'female', 'patched gender');
  equal(patched.meta?.versionId, '3', 'patch versionId');
  const read = await client.read({ resourceType: 'Patient', id: created.id });
  equal(read.birthDate, '1815-12-10', 'birthDate read after patch');
});

function transactionBundle(type) {
  const patientUrl = `urn:uuid:${randomUUID()}`;
  return {
    resourceType: 'Bundle',
    type,
    entry: [
      {
        fullUrl: patientUrl,
        resource: patient('p4', 'Hopper'),
        request: { method: 'POST', url: 'Patient' },
      },
      {
        fullUrl: `urn:uuid:${randomUUID()}`,
        resource: {
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
          subject: { reference: patientUrl },
          valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
        },
        request: { method: 'POST', url: 'Observation' },
      },
    ],
  };
}

await step('transaction with urn:uuid references', async () => {
  if (!transactionsSupported) {
    const outcome = await expectError('transaction on a backend without transactions', [400, 422, 501], () =>
      client.transaction({ body: transactionBundle('transaction') }),
    );
    equal(outcome.issue[0].code, 'not-supported', 'transaction refusal issue code');
    const none = await client.search({ resourceType: 'Patient', searchParams: { identifier: `${system}|p4` } });
    equal(none.total, 0, 'refused transaction must store nothing');
    return;
  }
  const response = await client.transaction({ body: transactionBundle('transaction') });
  equal(response.resourceType, 'Bundle', 'transaction response resourceType');
  equal(response.type, 'transaction-response', 'transaction response type');
  equal(response.entry?.length, 2, 'transaction response entries');
  for (const entry of response.entry) {
    check(entry.response?.status?.startsWith('201'), `transaction entry status ${entry.response?.status}`);
  }
  const [patientLocation, observationLocation] = response.entry.map((e) => e.response.location);
  const patientId = patientLocation.match(/Patient\/([^/]+)/)?.[1];
  const observationId = observationLocation.match(/Observation\/([^/]+)/)?.[1];
  check(patientId && observationId, `transaction locations ${patientLocation}, ${observationLocation}`);
  const observation = await client.read({ resourceType: 'Observation', id: observationId });
  equal(observation.subject?.reference, `Patient/${patientId}`, 'urn:uuid reference rewritten');
});

await step('batch', async () => {
  const response = await client.batch({
    body: {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: patient('p5', 'Johnson'), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: `Patient/${created.id}` } },
        { request: { method: 'GET', url: `Patient/${randomUUID()}` } },
      ],
    },
  });
  equal(response.type, 'batch-response', 'batch response type');
  equal(response.entry?.length, 3, 'batch response entries');
  const statuses = response.entry.map((e) => e.response?.status?.split(' ')[0]);
  equal(statuses, ['201', '200', '404'], 'batch entry statuses');
  equal(response.entry[1].resource?.id, created.id, 'batch read entry resource');
  equal(response.entry[2].response?.outcome?.resourceType, 'OperationOutcome', 'batch 404 entry outcome');
  const stored = await client.search({ resourceType: 'Patient', searchParams: { identifier: `${system}|p5` } });
  equal(stored.total, 1, 'batch create stored');
});

await step('delete and read after delete', async () => {
  const deleted = await client.delete({ resourceType: 'Patient', id: created.id });
  check([200, 204].includes(statusOf(deleted)), `delete status ${statusOf(deleted)}`);
  await expectError('read after delete', 410, () => client.read({ resourceType: 'Patient', id: created.id }));
  const history = await client.history({ resourceType: 'Patient', id: created.id });
  equal(history.total, 4, 'history after delete: versions');
  equal(history.entry[0].request?.method, 'DELETE', 'history after delete: newest is the deletion');
});

console.log('all steps passed');
process.exit(0);
