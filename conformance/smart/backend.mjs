// A SMART Backend Services client (client_credentials with private_key_jwt),
// built on jose: it discovers the token endpoint, signs its client
// assertion with the key in KEY_FILE (a private JWK, RS384 or ES384), gets
// a token and searches. It also tries what a server must refuse: a replayed
// assertion, an assertion for another audience, a user scope. It prints one
// JSON line {checks: [...]}.
import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { Checks, assert, env, importModule } from './lib.mjs';

const jose = await importModule('jose/dist/webapi/index.js');
const fhirBase = env('FHIR_URL');
const clientId = env('CLIENT_ID');
const alg = env('ALG');
const jwk = JSON.parse(await readFile(env('KEY_FILE'), 'utf8'));
const key = await jose.importJWK(jwk, alg);
const checks = new Checks();

let cfg;
await checks.run(`${alg}: discovery advertises private_key_jwt with ${alg}`, async () => {
  cfg = await (await fetch(`${fhirBase}/.well-known/smart-configuration`)).json();
  assert(cfg.token_endpoint_auth_methods_supported.includes('private_key_jwt'), 'private_key_jwt not advertised');
  assert(cfg.token_endpoint_auth_signing_alg_values_supported.includes(alg), `${alg} not advertised`);
  assert(cfg.grant_types_supported.includes('client_credentials'), 'client_credentials not advertised');
  assert(cfg.capabilities.includes('client-confidential-asymmetric'), 'client-confidential-asymmetric missing');
});

const assertion = (claims = {}) => new jose.SignJWT({ jti: randomUUID(), ...claims })
  .setProtectedHeader({ alg, kid: jwk.kid, typ: 'JWT' })
  .setIssuer(clientId).setSubject(clientId).setAudience(claims.aud ?? cfg.token_endpoint)
  .setIssuedAt().setExpirationTime('4m').sign(key);
const tokenRequest = (signed, scope = 'system/Patient.rs system/Observation.rs') => fetch(cfg.token_endpoint, {
  method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
  body: new URLSearchParams({
    grant_type: 'client_credentials', scope,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: signed,
  }),
});

let tok, used;
await checks.run(`${alg}: client_credentials with a signed assertion`, async () => {
  used = await assertion();
  const resp = await tokenRequest(used);
  tok = await resp.json();
  assert(resp.status === 200, JSON.stringify(tok));
  assert(tok.token_type.toLowerCase() === 'bearer' && tok.expires_in > 0, JSON.stringify(tok));
  assert(tok.scope.split(' ').sort().join(' ') === 'system/Observation.rs system/Patient.rs', `scope ${tok.scope}`);
  assert(!tok.refresh_token && !tok.id_token, 'a backend token comes with a refresh or id token');
  return tok.scope;
});

let searched = {};
await checks.run(`${alg}: the token searches the FHIR API`, async () => {
  const resp = await fetch(`${fhirBase}/Observation?code=http://loinc.org|8867-4`, { headers: { authorization: `Bearer ${tok.access_token}`, accept: 'application/fhir+json' } });
  const bundle = await resp.json();
  assert(resp.status === 200 && bundle.resourceType === 'Bundle', `${resp.status} ${JSON.stringify(bundle).slice(0, 300)}`);
  searched = { observations: (bundle.entry || []).length };
  const patients = await (await fetch(`${fhirBase}/Patient?name=Martin`, { headers: { authorization: `Bearer ${tok.access_token}` } })).json();
  searched.patients = (patients.entry || []).map((e) => e.resource.name[0].family);
  return JSON.stringify(searched);
});

for (const [name, make, scope] of [
  ['a replayed assertion is refused', async () => used, undefined],
  ['an assertion for another audience is refused', () => assertion({ aud: 'https://elsewhere.example/token' }), undefined],
  ['an expired assertion is refused', () => new jose.SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg, kid: jwk.kid })
    .setIssuer(clientId).setSubject(clientId).setAudience(cfg.token_endpoint).setIssuedAt(Math.floor(Date.now() / 1000) - 900)
    .setExpirationTime(Math.floor(Date.now() / 1000) - 600).sign(key), undefined],
  ['a user scope is refused', () => assertion(), 'user/Patient.rs'],
]) {
  await checks.run(`${alg}: ${name}`, async () => {
    const resp = await tokenRequest(await make(), scope);
    const body = await resp.json();
    assert(resp.status === 400 || resp.status === 401, `${resp.status} ${JSON.stringify(body)}`);
    assert(['invalid_client', 'invalid_scope', 'invalid_grant'].includes(body.error), JSON.stringify(body));
    return `${resp.status} ${body.error}`;
  });
}

checks.print({ searched });
