// The few FHIR calls the app makes, with the signed-in user's token.
import { fhirBase } from './auth.js';

export class FHIRError extends Error {}

async function call(session, method, path, body) {
  const headers = { Accept: 'application/fhir+json', Authorization: 'Bearer ' + session.accessToken };
  if (body !== undefined) headers['Content-Type'] = 'application/fhir+json';
  const res = await fetch(fhirBase + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await res.json().catch(() => null);
  if (!res.ok) {
    const why = json && json.issue && json.issue.map((i) => i.diagnostics || i.code).join('; ');
    throw new FHIRError(method + ' ' + path.split('?')[0] + ' failed (' + res.status + ')' + (why ? ': ' + why : ''));
  }
  return json;
}

export const read = (session, type, id) => call(session, 'GET', '/' + type + '/' + encodeURIComponent(id));
export const create = (session, resource) => call(session, 'POST', '/' + resource.resourceType, resource);

export async function search(session, type, params) {
  const bundle = await call(session, 'GET', '/' + type + '?' + new URLSearchParams(params));
  return (bundle.entry || []).map((e) => e.resource).filter((r) => r && r.resourceType === type);
}

// today is the local day as FHIR dates (the search takes the whole day).
export function today() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
}

// The day's appointments and encounters of the user: a professional's as
// participant, a patient's as subject.
export async function todaysWork(session) {
  const day = today();
  const me = session.kind === 'patient' && session.patient ? 'Patient/' + session.patient : session.fhirUser;
  const who = me.startsWith('Patient/') ? { subject: me } : { participant: me };
  const [appointments, encounters] = await Promise.all([
    search(session, 'Appointment', [['actor', me], ['date', 'ge' + day], ['date', 'le' + day], ['_count', '50']]),
    search(session, 'Encounter', [...Object.entries(who), ['date', 'ge' + day], ['date', 'le' + day], ['_count', '50']]),
  ]);
  const byStart = (a, b) => String(a.start || (a.period && a.period.start) || '').localeCompare(String(b.start || (b.period && b.period.start) || ''));
  return { appointments: appointments.sort(byStart), encounters: encounters.sort(byStart) };
}

// attachment turns a Blob into a FHIR Attachment (base64 data).
export async function attachment(blob, title) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { contentType: blob.type || 'application/octet-stream', data: btoa(bin), title, size: bytes.length, creation: new Date().toISOString() };
}
