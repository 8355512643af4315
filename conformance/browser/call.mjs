// A teleconsultation between two real browsers: headless Chromium pages
// sign in to the web app (practitioner with a one-time code, patient with a
// password), join the same room, reach a connected RTCPeerConnection with
// decoded video frames, chat, save a photo and a document to the record,
// and the practitioner ends the session. Prints one JSON line of results.
//
// Environment: PRO_URL, PATIENT_URL (the TeleHub nodes each page uses),
// ROOM ("Encounter/ID"), PRO_USER, PATIENT_USER, PASSWORD, PRO_OTP,
// SHOTS (screenshot folder), NODE_MODULES (conformance/node/node_modules),
// CHROMIUM (the browser binary).
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(process.env.NODE_MODULES, 'noop.js'));
const { chromium } = require('playwright-core');

const env = process.env;
const timeout = 45000;
const log = (...a) => console.error(new Date().toISOString(), ...a);

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
});

async function open(base, viewport, label) {
  const context = await browser.newContext({ viewport, permissions: ['camera', 'microphone'] });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on('console', (m) => { if (m.type() === 'error') log(label, 'console:', m.text()); });
  page.on('pageerror', (e) => log(label, 'page error:', e.message));
  page.on('dialog', (d) => d.accept());
  await page.goto(base + '/app/');
  return page;
}

async function signIn(page, kind, username, otp) {
  await page.getByRole('button', { name: kind === 'professional' ? 'I am a health professional' : 'I am a patient' }).click();
  await page.locator('input[name=username]').fill(username);
  await page.locator('input[name=password]').fill(env.PASSWORD);
  if (otp) await page.locator('input[name=otp]').fill(otp);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL(/\/app\/$/);
}

async function joinRoom(page) {
  await page.locator(`button[data-room="${env.ROOM}"]`).click();
}

async function waitConnected(page, label) {
  const deadline = Date.now() + timeout;
  let last = [];
  while (Date.now() < deadline) {
    last = await page.evaluate(async () => (window.telehubRoom ? window.telehubRoom.stats() : []));
    if (last.length > 0 && last.every((s) => s.state === 'connected' && s.framesDecoded > 0)) return last;
    await page.waitForTimeout(250);
  }
  throw new Error(`${label}: not connected with decoded frames: ${JSON.stringify(last)}`);
}

const result = {};
const pages = {};
try {
  const pro = await open(env.PRO_URL, { width: 1280, height: 800 }, 'practitioner');
  const patient = await open(env.PATIENT_URL, { width: 390, height: 844 }, 'patient'); // a phone's screen
  Object.assign(pages, { practitioner: pro, patient });
  await signIn(pro, 'professional', env.PRO_USER, env.PRO_OTP);
  await signIn(patient, 'patient', env.PATIENT_USER, '');
  log('signed in');
  // The day's list is fetched after the page loads: wait for it to show
  // the consultation before counting (a busy machine renders it late).
  await Promise.all([pro, patient].map((page) => page.locator(`button[data-room="${env.ROOM}"]`).first().waitFor()));
  result.listed = { practitioner: await pro.locator(`button[data-room="${env.ROOM}"]`).count(), patient: await patient.locator(`button[data-room="${env.ROOM}"]`).count() };

  await joinRoom(pro);
  await pro.getByText('Waiting for the other participant').waitFor();
  await joinRoom(patient);
  result.practitioner = await waitConnected(pro, 'practitioner');
  result.patient = await waitConnected(patient, 'patient');
  log('connected', JSON.stringify(result));

  // Screen sharing: the practitioner's video track becomes the screen, and
  // the patient keeps decoding frames.
  await pro.getByRole('button', { name: 'Share screen' }).click();
  await pro.locator('#share-screen[aria-pressed="true"]').waitFor();
  const before = (await patient.evaluate(() => window.telehubRoom.stats()))[0].framesDecoded;
  await patient.waitForFunction(async (n) => (await window.telehubRoom.stats())[0].framesDecoded > n + 10, before);
  result.screenShared = await pro.evaluate(() => !!window.telehubRoom.screenTrack);
  await pro.getByRole('button', { name: 'Stop sharing' }).click();
  await pro.locator('#share-screen[aria-pressed="false"]').waitFor();

  await pro.locator('#chat-input').fill('Bonjour, pouvez-vous montrer la lésion ?');
  await pro.locator('#chat-input').press('Enter');
  await patient.locator('#chat-log li', { hasText: 'montrer la lésion' }).waitFor();
  result.chat = true;

  await pro.getByRole('button', { name: 'Take a photo' }).click();
  await pro.getByRole('button', { name: 'Save to the record' }).click();
  result.photo = await pro.locator('#status', { hasText: /Media\// }).textContent();

  await patient.locator('#attach').setInputFiles({ name: 'ordonnance.txt', mimeType: 'text/plain', buffer: Buffer.from('Paracétamol 1 g, 3 fois par jour') });
  result.document = await patient.locator('#status', { hasText: /DocumentReference\// }).textContent();

  await pro.screenshot({ path: join(env.SHOTS, 'room-practitioner-desktop.png') });
  await patient.screenshot({ path: join(env.SHOTS, 'room-patient-phone.png') });

  await pro.getByRole('button', { name: 'End consultation' }).click();
  await patient.locator('#status', { hasText: 'The consultation has ended.' }).waitFor();
  result.ended = true;
  await patient.screenshot({ path: join(env.SHOTS, 'after-end-patient-phone.png') });
  await patient.getByRole('button', { name: 'Sign out' }).click();
  await patient.getByRole('button', { name: 'I am a patient' }).waitFor();
  result.signedOut = await patient.evaluate(() => sessionStorage.getItem('telehub.token') === null);
} catch (err) {
  result.error = String(err && err.stack || err);
  for (const [label, page] of Object.entries(pages)) {
    // What the user saw, to tell why.
    const seen = await page.evaluate(() => ({
      url: location.href, status: document.getElementById('status')?.textContent,
      error: document.getElementById('error')?.textContent, session: sessionStorage.getItem('telehub.token'),
    })).catch((e) => String(e));
    log(label, 'saw', JSON.stringify(seen));
    await page.screenshot({ path: join(env.SHOTS, `failure-${label}.png`) }).catch(() => {});
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
