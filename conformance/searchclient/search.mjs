// search.mjs runs a list of FHIR searches against a server with
// fhir-kit-client, a third-party FHIR client from npm, follows every next
// link with the client's own nextPage until the last page, and prints one
// JSON line per query with what each page held. It judges nothing: the Go
// test that runs it knows the expected answers and compares.
//
// Environment:
//   TELEHUB_FHIR_URL      base URL of the FHIR API, e.g. http://127.0.0.1:8080/fhir
//   SEARCHCLIENT_QUERIES  path of a JSON file: an array of queries, each
//                         { name, kind, resourceType, id, compartment, params, hook, post }
//                         where kind is "type", "system", "compartment" or
//                         "everything", params a list of [name, value]
//                         pairs (repeated names allowed), hook asks for
//                         SEARCHCLIENT_HOOK to be called between pages, and
//                         post sends a type search as POST [type]/_search
//   SEARCHCLIENT_HOOK     URL called (GET) before every next page of a
//                         query with hook set; it answers once the writes it
//                         triggers are done
//
// Output line: { name, pages: [{ self, next, total, matches, includes,
// outcomes }], error } where matches and includes are "Type/id" in page
// order and outcomes the diagnostics of OperationOutcome entries.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// fhir-kit-client is installed in the conformance/node package, which the
// Go test runs this script from. An ES module resolves bare names from its
// own folder, not the working directory, so the package is imported by the
// path its package.json exports.
const pkgDir = join(process.cwd(), 'node_modules', 'fhir-kit-client');
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const entry = pkg.exports?.['.']?.import ?? pkg.main;
const { Client } = await import(pathToFileURL(join(pkgDir, entry)).href);

const baseUrl = process.env.TELEHUB_FHIR_URL;
const queriesFile = process.env.SEARCHCLIENT_QUERIES;
const hookUrl = process.env.SEARCHCLIENT_HOOK;
if (!baseUrl || !queriesFile) {
  console.error('TELEHUB_FHIR_URL and SEARCHCLIENT_QUERIES must be set');
  process.exit(2);
}

const client = new Client({ baseUrl });

// A runaway next link (a cursor that never ends) must not loop forever.
const maxPages = 500;

// searchParams turns [name, value] pairs into the object fhir-kit-client
// takes, where an array value repeats the name (date=ge…&date=lt…).
function searchParams(pairs) {
  const out = {};
  for (const [name, value] of pairs ?? []) {
    if (name in out) {
      out[name] = [].concat(out[name], value);
    } else {
      out[name] = value;
    }
  }
  return out;
}

function firstPage(q) {
  const params = searchParams(q.params);
  switch (q.kind) {
    case 'type':
      return client.search({ resourceType: q.resourceType, searchParams: params, options: { postSearch: !!q.post } });
    case 'system':
      return client.search({ searchParams: params });
    case 'compartment':
      return client.search({ resourceType: q.resourceType, compartment: q.compartment, searchParams: params });
    case 'everything':
      return client.operation({
        name: 'everything', resourceType: 'Patient', id: q.id, method: 'GET',
        input: Object.keys(params).length > 0 ? params : undefined,
      });
    default:
      throw new Error(`unknown query kind ${q.kind}`);
  }
}

function summarise(bundle) {
  const page = {
    self: bundle.link?.find((l) => l.relation === 'self')?.url ?? null,
    next: bundle.link?.find((l) => l.relation === 'next')?.url ?? null,
    total: bundle.total ?? null,
    matches: [],
    includes: [],
    outcomes: [],
  };
  if (bundle.resourceType !== 'Bundle') {
    page.outcomes.push(`not a Bundle: ${JSON.stringify(bundle).slice(0, 300)}`);
    return page;
  }
  for (const entry of bundle.entry ?? []) {
    const r = entry.resource ?? {};
    const mode = entry.search?.mode ?? 'match';
    if (mode === 'outcome' || r.resourceType === 'OperationOutcome') {
      for (const issue of r.issue ?? []) {
        page.outcomes.push(`${issue.severity}: ${issue.diagnostics ?? issue.details?.text ?? issue.code}`);
      }
      continue;
    }
    const ref = `${r.resourceType}/${r.id}`;
    (mode === 'include' ? page.includes : page.matches).push(ref);
  }
  return page;
}

async function callHook() {
  const res = await fetch(hookUrl);
  if (!res.ok) throw new Error(`writer hook answered ${res.status}: ${await res.text()}`);
}

async function run(q) {
  const result = { name: q.name, pages: [] };
  try {
    let bundle = await firstPage(q);
    for (;;) {
      result.pages.push(summarise(bundle));
      if (result.pages.length >= maxPages) {
        throw new Error(`still a next link after ${maxPages} pages`);
      }
      if (!bundle.link?.some((l) => l.relation === 'next')) break;
      if (q.hook && hookUrl) await callHook();
      bundle = await client.nextPage({ bundle });
    }
  } catch (err) {
    // fhir-kit-client's errors say "HTTP <status>: <method> <url>" and
    // carry the body the server answered.
    const body = err.response?.data ? JSON.stringify(err.response.data).slice(0, 600) : '';
    result.error = `${err.message ?? err} ${body}`.trim();
  }
  return result;
}

const queries = JSON.parse(readFileSync(queriesFile, 'utf8'));
for (const q of queries) {
  console.log(JSON.stringify(await run(q)));
}
