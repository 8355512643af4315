// Helpers shared by the scripts: loading the npm packages of
// conformance/node (these scripts live elsewhere, so bare imports would not
// resolve), a check list, and a browserless walk through TeleHub's login and
// consent forms.
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';

const modules = process.env.TELEHUB_NODE_MODULES;
if (!modules) throw new Error('TELEHUB_NODE_MODULES must name conformance/node/node_modules');

/** Imports a file of an installed npm package. */
export const importModule = (path) => import(pathToFileURL(join(modules, path)).href);
export const modulePath = (path) => join(modules, path);

export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is required`);
  return v;
}

/** A list of named checks; each failure is kept, not thrown. */
export class Checks {
  constructor() { this.results = []; }
  async run(name, fn) {
    try {
      const detail = await fn();
      this.results.push({ name, ok: true, detail: detail ?? '' });
    } catch (e) {
      this.results.push({ name, ok: false, detail: String(e && e.message || e) });
    }
  }
  print(extra = {}) {
    for (const r of this.results) console.error(`${r.ok ? 'PASS' : 'FAIL'} ${r.name}${r.detail ? ': ' + r.detail : ''}`);
    console.log(JSON.stringify({ checks: this.results, ...extra }));
  }
}

export function assert(cond, msg) { if (!cond) throw new Error(msg); }

export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

/** A user agent that keeps cookies and does not follow redirects. */
export class Agent {
  constructor() { this.cookies = new Map(); }
  async fetch(url, init = {}) {
    const headers = new Headers(init.headers || {});
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const resp = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of resp.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return resp;
  }
  form(url, fields) {
    const body = new URLSearchParams();
    for (const [k, v] of fields) body.append(k, v);
    return this.fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }
}

const hidden = (page, name) => {
  const m = page.match(new RegExp(`name="${name}" value="([^"]*)"`));
  return m && m[1].replaceAll('&amp;', '&');
};

/**
 * Walks an authorization request through the login and consent pages, as
 * a user allowing every scope would, and returns the redirect back to the app.
 */
export async function authorize(authorizeURL, { username, password, otp = '' }) {
  const agent = new Agent();
  let resp = await agent.fetch(authorizeURL);
  if (resp.status !== 200) return new URL(resp.headers.get('location') ?? `about:status-${resp.status}`);
  let page = await resp.text();
  const action = page.match(/<form method="post" action="([^"]+)"/)[1];
  resp = await agent.form(action, [['req', hidden(page, 'req')], ['username', username], ['password', password], ['otp', otp]]);
  if (resp.status !== 303) throw new Error(`login answered ${resp.status}`);
  resp = await agent.fetch(resp.headers.get('location'));
  page = await resp.text();
  const consentAction = [...page.matchAll(/<form method="post" action="([^"]+)"/g)][0][1];
  const fields = [['req', hidden(page, 'req')], ['decision', 'allow']];
  for (const m of page.matchAll(/name="scope" value="([^"]+)"/g)) fields.push(['scope', m[1]]);
  const patient = page.match(/name="patient" value="([^"]+)"/);
  if (patient) fields.push(['patient', patient[1]]);
  resp = await agent.form(consentAction, fields);
  if (resp.status !== 303) throw new Error(`consent answered ${resp.status}`);
  return new URL(resp.headers.get('location'));
}
