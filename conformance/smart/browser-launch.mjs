// Drives headless Chromium through a SMART standalone launch of the
// fhirclient app in app/: the launch page, TeleHub's login page (username,
// password, and a TOTP code the Go test computes, fetched at OTP_URL just
// before use), the patient picker and consent, then the app page, whose
// result (window.__result) it prints as one JSON line {result, steps}.
import { Checks, env, importModule } from './lib.mjs';

const { chromium } = await importModule('playwright-core/index.mjs');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const steps = [];
let result;
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.error(`page console: ${m.text()}`));
  page.on('pageerror', (e) => console.error(`page error: ${e}`));
  await page.goto(env('LAUNCH_URL'));
  await page.waitForSelector('input[name=username]', { timeout: 60000 });
  steps.push(`login page ${new URL(page.url()).pathname}`);
  await page.fill('input[name=username]', env('USERNAME'));
  await page.fill('input[name=password]', env('PASSWORD'));
  const otp = await (await fetch(env('OTP_URL'))).text();
  await page.fill('input[name=otp]', otp);
  await Promise.all([page.waitForURL(/\/auth\/consent/), page.click('button[type=submit]')]);
  steps.push('consent page');
  // The patient picker: search by name, pick the patient.
  await page.fill('input[name=q]', env('PATIENT_QUERY'));
  await Promise.all([page.waitForURL(/[?&]q=/), page.click('form[method=get] button')]);
  await page.check(`input[name=patient][value="${env('PATIENT_ID')}"]`);
  steps.push('patient picked');
  await page.screenshot({ path: env('SCREENSHOT_DIR') + '/smart-consent.png', fullPage: true });
  await Promise.all([page.waitForURL(/app\.html/), page.click('button[value=allow]')]);
  steps.push('back in the app');
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 60000 });
  result = await page.evaluate(() => window.__result);
  await page.screenshot({ path: env('SCREENSHOT_DIR') + '/smart-app.png', fullPage: true });
} catch (e) {
  result = { error: String(e) };
} finally {
  await browser.close();
}
console.log(JSON.stringify({ result, steps }));
