// An Inferno-like check list of TeleHub's SMART App Launch server, run with
// Node's fetch and jose (for the id_token): discovery, PKCE refusals, the
// token response and its context, refresh, introspection, revocation, and
// the FHIR API's 401 after it. It prints one JSON line {checks: [...]}.
import { Checks, assert, env, pkce, authorize, importModule } from './lib.mjs';

const jose = await importModule('jose/dist/webapi/index.js');
const fhirBase = env('FHIR_URL');
const clientId = env('CLIENT_ID');
const secret = env('CLIENT_SECRET');
const redirectUri = env('REDIRECT_URI');
const user = { username: env('USERNAME'), password: env('PASSWORD') };
const expectPatient = env('PATIENT_ID');
const expectFHIRUser = env('FHIR_USER');
const basic = 'Basic ' + Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64');
const checks = new Checks();

let cfg, oidc;
await checks.run('smart-configuration has the required fields', async () => {
  const resp = await fetch(`${fhirBase}/.well-known/smart-configuration`, { headers: { accept: 'application/json' } });
  assert(resp.status === 200, `status ${resp.status}`);
  assert((resp.headers.get('content-type') || '').startsWith('application/json'), `content-type ${resp.headers.get('content-type')}`);
  cfg = await resp.json();
  for (const f of ['issuer', 'jwks_uri', 'authorization_endpoint', 'token_endpoint', 'grant_types_supported', 'capabilities',
    'code_challenge_methods_supported', 'token_endpoint_auth_methods_supported', 'scopes_supported', 'response_types_supported']) {
    assert(cfg[f] !== undefined, `missing ${f}`);
  }
  for (const c of ['launch-standalone', 'launch-ehr', 'client-public', 'client-confidential-symmetric', 'context-standalone-patient', 'permission-v2', 'sso-openid-connect']) {
    assert(cfg.capabilities.includes(c), `capability ${c} missing`);
  }
  assert(cfg.code_challenge_methods_supported.includes('S256'), 'S256 not supported');
  assert(!cfg.code_challenge_methods_supported.includes('plain'), 'plain PKCE advertised');
  assert(cfg.grant_types_supported.includes('authorization_code'), 'authorization_code missing');
  return `${cfg.capabilities.length} capabilities`;
});

await checks.run('openid-configuration and JWKS agree with SMART discovery', async () => {
  oidc = await (await fetch(`${cfg.issuer}/.well-known/openid-configuration`)).json();
  assert(oidc.issuer === cfg.issuer, `issuer ${oidc.issuer} != ${cfg.issuer}`);
  assert(oidc.jwks_uri === cfg.jwks_uri, 'jwks_uri differs');
  const jwks = await (await fetch(oidc.jwks_uri)).json();
  assert(jwks.keys.length > 0 && jwks.keys.every((k) => k.kid && k.kty && !k.d), 'keys without kid, or private parts');
  return `${jwks.keys.length} keys`;
});

const authorizeURL = (params) => {
  const u = new URL(cfg.authorization_endpoint);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.href;
};
const baseParams = (challenge, method = 'S256') => ({
  response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: 'launch/patient openid fhirUser offline_access patient/*.rs',
  state: 'st-' + Math.random().toString(36).slice(2), aud: fhirBase, nonce: 'nonce-123', code_challenge: challenge, code_challenge_method: method,
});
const token = (fields) => fetch(cfg.token_endpoint, {
  method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields),
});

for (const [name, params] of [
  ['authorization without code_challenge is refused', (c) => ({ ...baseParams(c), code_challenge: undefined, code_challenge_method: undefined })],
  ['authorization with the plain PKCE method is refused', (c) => ({ ...baseParams(c, 'plain') })],
]) {
  await checks.run(name, async () => {
    const resp = await fetch(authorizeURL(params(pkce().challenge)), { redirect: 'manual' });
    assert(resp.status === 303 || resp.status === 302, `status ${resp.status}`);
    const back = new URL(resp.headers.get('location'));
    assert(back.searchParams.get('error') === 'invalid_request', `error ${back.searchParams.get('error')}`);
    return back.searchParams.get('error_description');
  });
}

// A code for each PKCE refusal, then one redeemed properly.
const codeFor = async (challenge) => {
  const params = baseParams(challenge);
  const back = await authorize(authorizeURL(params), user);
  assert(back.searchParams.get('state') === params.state, 'state not returned');
  assert(back.searchParams.get('iss') === cfg.issuer, 'iss not returned (RFC 9207)');
  return back.searchParams.get('code');
};
for (const [name, verifierOf] of [
  ['token request without code_verifier is refused', () => undefined],
  ['token request with a wrong code_verifier is refused', () => pkce().verifier],
]) {
  await checks.run(name, async () => {
    const { challenge } = pkce();
    const code = await codeFor(challenge);
    const fields = { grant_type: 'authorization_code', code, redirect_uri: redirectUri };
    const v = verifierOf();
    if (v) fields.code_verifier = v;
    const resp = await token(fields);
    const body = await resp.json();
    assert(resp.status === 400 && body.error === 'invalid_grant', `${resp.status} ${JSON.stringify(body)}`);
    return body.error_description;
  });
}

let tok;
await checks.run('token response carries the launch context', async () => {
  const p = pkce();
  const code = await codeFor(p.challenge);
  const resp = await token({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: p.verifier });
  const body = await resp.text();
  assert(resp.status === 200, `status ${resp.status}: ${body}`);
  assert(resp.headers.get('cache-control') === 'no-store', 'Cache-Control is not no-store');
  assert(resp.headers.get('pragma') === 'no-cache', 'Pragma is not no-cache');
  tok = JSON.parse(body);
  assert(tok.token_type.toLowerCase() === 'bearer', `token_type ${tok.token_type}`);
  assert(Number.isInteger(tok.expires_in) && tok.expires_in > 0, 'expires_in');
  for (const s of ['openid', 'fhirUser', 'patient/*.rs', 'offline_access']) assert(tok.scope.split(' ').includes(s), `scope lacks ${s}`);
  assert(tok.patient === expectPatient, `patient ${tok.patient}, want ${expectPatient}`);
  assert(typeof tok.need_patient_banner === 'boolean', 'need_patient_banner is not a boolean');
  assert(tok.refresh_token, 'no refresh_token with offline_access');
  return `patient ${tok.patient}`;
});

await checks.run('id_token is signed by the JWKS and names the fhirUser', async () => {
  const keys = jose.createRemoteJWKSet(new URL(oidc.jwks_uri));
  const { payload } = await jose.jwtVerify(tok.id_token, keys, { issuer: cfg.issuer, audience: clientId });
  assert(payload.nonce === 'nonce-123', `nonce ${payload.nonce}`);
  assert(payload.fhirUser === `${fhirBase}/${expectFHIRUser}`, `fhirUser ${payload.fhirUser}`);
  return payload.fhirUser;
});

await checks.run('the access token reads the patient', async () => {
  const resp = await fetch(`${fhirBase}/Patient/${tok.patient}`, { headers: { authorization: `Bearer ${tok.access_token}`, accept: 'application/fhir+json' } });
  assert(resp.status === 200, `status ${resp.status}`);
  const p = await resp.json();
  assert(p.id === tok.patient, `read ${p.id}`);
});

await checks.run('the FHIR API refuses a request without token (401, WWW-Authenticate)', async () => {
  const resp = await fetch(`${fhirBase}/Patient/${tok.patient}`);
  assert(resp.status === 401, `status ${resp.status}`);
  assert((resp.headers.get('www-authenticate') || '').startsWith('Bearer'), 'no Bearer challenge');
  const oo = await resp.json();
  assert(oo.resourceType === 'OperationOutcome', 'no OperationOutcome');
});

await checks.run('userinfo names the user', async () => {
  const resp = await fetch(oidc.userinfo_endpoint, { headers: { authorization: `Bearer ${tok.access_token}` } });
  const info = await resp.json();
  assert(resp.status === 200 && info.sub && info.fhirUser === `${fhirBase}/${expectFHIRUser}`, JSON.stringify(info));
});

let refreshed;
await checks.run('refresh rotates the refresh token and keeps the context', async () => {
  const resp = await token({ grant_type: 'refresh_token', refresh_token: tok.refresh_token });
  refreshed = await resp.json();
  assert(resp.status === 200, JSON.stringify(refreshed));
  assert(refreshed.access_token && refreshed.access_token !== tok.access_token, 'no new access token');
  assert(refreshed.refresh_token && refreshed.refresh_token !== tok.refresh_token, 'refresh token not rotated');
  assert(refreshed.patient === expectPatient, `patient ${refreshed.patient}`);
});

const introspect = async (t) => {
  const resp = await fetch(cfg.introspection_endpoint, {
    method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: t }),
  });
  assert(resp.status === 200, `introspection status ${resp.status}`);
  return resp.json();
};
await checks.run('introspection describes an active token', async () => {
  const info = await introspect(refreshed.access_token);
  assert(info.active === true, JSON.stringify(info));
  assert(info.client_id === clientId && info.patient === expectPatient && info.exp > Date.now() / 1000 && info.scope.includes('patient/*.rs'), JSON.stringify(info));
});

await checks.run('revocation makes the token inactive and the FHIR API answer 401', async () => {
  const resp = await fetch(cfg.revocation_endpoint, {
    method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: refreshed.access_token }),
  });
  assert(resp.status === 200, `revocation status ${resp.status}`);
  const info = await introspect(refreshed.access_token);
  assert(info.active === false, `introspection after revocation: ${JSON.stringify(info)}`);
  const read = await fetch(`${fhirBase}/Patient/${expectPatient}`, { headers: { authorization: `Bearer ${refreshed.access_token}` } });
  assert(read.status === 401, `FHIR read with a revoked token: ${read.status}`);
  assert((read.headers.get('www-authenticate') || '').includes('invalid_token'), 'no invalid_token challenge');
});

await checks.run('revoking the refresh token ends the grant', async () => {
  const resp = await fetch(cfg.revocation_endpoint, {
    method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: refreshed.refresh_token }),
  });
  assert(resp.status === 200, `revocation status ${resp.status}`);
  const again = await token({ grant_type: 'refresh_token', refresh_token: refreshed.refresh_token });
  assert(again.status === 400, `refresh after revocation: ${again.status}`);
  assert((await introspect(refreshed.refresh_token)).active === false, 'revoked refresh token still active');
  // RFC 7009 2.1: the access tokens of the grant go with it.
  const read = await fetch(`${fhirBase}/Patient/${expectPatient}`, { headers: { authorization: `Bearer ${tok.access_token}` } });
  assert(read.status === 401, `FHIR read with the grant's first access token: ${read.status}`);
});

await checks.run('a code is redeemed once only, and its replay ends the grant', async () => {
  const p = pkce();
  const c = await codeFor(p.challenge);
  const fields = { grant_type: 'authorization_code', code: c, redirect_uri: redirectUri, code_verifier: p.verifier };
  const first = await (await token(fields)).json();
  assert(first.refresh_token, `first redemption: ${JSON.stringify(first)}`);
  const replay = await token(fields);
  assert(replay.status === 400 && (await replay.json()).error === 'invalid_grant', `replay status ${replay.status}`);
  const refresh = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
  assert(refresh.status === 400, `the grant's refresh token works after the code replay (${refresh.status})`);
  const read = await fetch(`${fhirBase}/Patient/${expectPatient}`, { headers: { authorization: `Bearer ${first.access_token}` } });
  assert(read.status === 401, `the grant's access token reads after the code replay (${read.status})`);
});

await checks.run('a reused refresh token ends the grant', async () => {
  const p = pkce();
  const c = await codeFor(p.challenge);
  const first = await (await token({ grant_type: 'authorization_code', code: c, redirect_uri: redirectUri, code_verifier: p.verifier })).json();
  const second = await (await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token })).json();
  assert(second.refresh_token, `refresh: ${JSON.stringify(second)}`);
  const reuse = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
  assert(reuse.status === 400, `the rotated refresh token still works (${reuse.status})`);
  const next = await token({ grant_type: 'refresh_token', refresh_token: second.refresh_token });
  assert(next.status === 400, `the newest refresh token works after the reuse (${next.status})`);
  const read = await fetch(`${fhirBase}/Patient/${expectPatient}`, { headers: { authorization: `Bearer ${second.access_token}` } });
  assert(read.status === 401, `the newest access token reads after the reuse (${read.status})`);
});

checks.print();
