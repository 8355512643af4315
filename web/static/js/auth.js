// Sign-in as a public SMART client: authorization code with PKCE (S256)
// against TeleHub's own authorization server. The token lives in
// sessionStorage: it is gone when the tab closes.

export const clientId = 'telehub-web';
export const fhirBase = location.origin + '/fhir';
export const redirectUri = location.origin + '/app/';

// Scopes by kind of user: a professional reads the encounters they take
// part in (user/), a patient their own (patient/, the patient context is
// their own record).
export const scopes = {
  professional: 'openid fhirUser profile user/Encounter.rs user/Appointment.rs user/Patient.rs user/Practitioner.rs user/Media.c user/DocumentReference.c',
  patient: 'openid fhirUser profile patient/Encounter.rs patient/Appointment.rs patient/Patient.r patient/Media.c patient/DocumentReference.c',
};

const tokenKey = 'telehub.token';
const pendingKey = 'telehub.pending';

function base64url(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(n) {
  return base64url(crypto.getRandomValues(new Uint8Array(n)));
}

async function discovery() {
  const res = await fetch(fhirBase + '/.well-known/smart-configuration', { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error('the SMART configuration could not be read (' + res.status + ')');
  return res.json();
}

// signIn sends the browser to the authorization endpoint.
export async function signIn(kind) {
  const conf = await discovery();
  const verifier = randomString(48);
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const state = randomString(16);
  sessionStorage.setItem(pendingKey, JSON.stringify({ verifier, state, kind, tokenEndpoint: conf.token_endpoint }));
  const q = new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: scopes[kind],
    state, aud: fhirBase, code_challenge: challenge, code_challenge_method: 'S256',
  });
  location.assign(conf.authorization_endpoint + '?' + q);
}

// completeSignIn exchanges the code of a redirect back from the
// authorization server; it returns false when the URL carries none.
export async function completeSignIn() {
  const q = new URLSearchParams(location.search);
  if (!q.has('code') && !q.has('error')) return false;
  history.replaceState(null, '', redirectUri); // the code is single-use: keep it out of history
  const pending = JSON.parse(sessionStorage.getItem(pendingKey) || 'null');
  sessionStorage.removeItem(pendingKey);
  if (q.has('error')) throw new Error('sign-in refused: ' + (q.get('error_description') || q.get('error')));
  if (!pending || pending.state !== q.get('state')) throw new Error('this sign-in answer does not match a sign-in of this tab; sign in again');
  const res = await fetch(pending.tokenEndpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code: q.get('code'), redirect_uri: redirectUri,
      client_id: clientId, code_verifier: pending.verifier,
    }),
  });
  const tok = await res.json().catch(() => ({}));
  if (!res.ok || !tok.access_token) throw new Error('sign-in failed: ' + (tok.error_description || tok.error || res.status));
  const claims = decodeJWT(tok.id_token) || decodeJWT(tok.access_token) || {};
  const session = {
    accessToken: tok.access_token,
    expiresAt: Date.now() + (tok.expires_in || 600) * 1000,
    patient: tok.patient || '',
    fhirUser: relative(claims.fhirUser || ''),
    name: claims.name || claims.preferred_username || claims.sub || '',
    kind: pending.kind,
  };
  sessionStorage.setItem(tokenKey, JSON.stringify(session));
  return true;
}

// relative turns the fhirUser claim (an absolute URL in the id token) into "Type/id".
function relative(ref) {
  const parts = ref.split('/').filter(Boolean);
  return parts.length >= 2 ? parts.slice(-2).join('/') : ref;
}

function decodeJWT(jwt) {
  if (!jwt) return null;
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(Array.from(atob(part), (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

// current returns the signed-in session, or null once it expired.
export function current() {
  const s = JSON.parse(sessionStorage.getItem(tokenKey) || 'null');
  if (!s || s.expiresAt < Date.now() + 5000) return null;
  return s;
}

// signOut forgets the token and asks the server to revoke it (best effort:
// it expires in minutes anyway).
export async function signOut() {
  const s = current();
  sessionStorage.removeItem(tokenKey);
  if (!s) return;
  try {
    const conf = await discovery();
    if (conf.revocation_endpoint) {
      await fetch(conf.revocation_endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: s.accessToken, client_id: clientId }),
      });
    }
  } catch { /* offline: the token expires on its own */ }
}
