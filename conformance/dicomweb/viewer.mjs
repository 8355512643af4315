// Drives the npm dicomweb-client, the library web viewers (OHIF and
// others) use, in headless Chromium against a TeleHub DICOMweb server: the
// way a radiologist's browser talks to it. The page comes from the same
// origin as the API. Prints one JSON object of what it found.
//
// usage: node viewer.mjs BASE TOKEN STUDY PATIENT SERIES SOP MULTI_SERIES MULTI_SOP
// env:   NODE_MODULES (conformance/node/node_modules), CHROMIUM (/usr/bin/chromium)
import path from 'node:path';

const modules = process.env.NODE_MODULES;
const { chromium } = await import(path.join(modules, 'playwright-core', 'index.mjs'));
const [base, token, study, patient, series, sop, multiSeries, multiSOP] = process.argv.slice(2);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + '/conformance-viewer/index.html');
  const result = await page.evaluate(async (a) => {
    const client = new DICOMwebClient.api.DICOMwebClient({
      url: a.base + '/dicom-web',
      headers: { Authorization: 'Bearer ' + a.token },
    });
    const v = (ds, tag) => (ds[tag] && ds[tag].Value ? ds[tag].Value[0] : undefined);
    // Single-part answers come as [ArrayBuffer] in dicomweb-client 0.11,
    // multipart ones as arrays of parts.
    const first = (x) => (Array.isArray(x) ? x[0] : x);
    const b64 = (buf) => {
      const bytes = new Uint8Array(first(buf));
      let s = '';
      for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
      return btoa(s);
    };
    const out = {};
    const studies = await client.searchForStudies({ queryParams: { PatientID: a.patient } });
    out.studies = studies.map((s) => v(s, '0020000D'));
    const series = await client.searchForSeries({ studyInstanceUID: a.study });
    out.series = series.map((s) => v(s, '0020000E'));
    const instances = await client.searchForInstances({ studyInstanceUID: a.study });
    out.instances = instances.map((s) => v(s, '00080018'));
    const meta = await client.retrieveStudyMetadata({ studyInstanceUID: a.study });
    out.metadata = meta.map((s) => v(s, '00080018'));
    const one = { studyInstanceUID: a.study, seriesInstanceUID: a.series, sopInstanceUID: a.sop };
    out.instance = b64(await client.retrieveInstance(one));
    const frames = await client.retrieveInstanceFrames({ ...one, frameNumbers: [1] });
    out.frame = b64(frames[0]);
    const multi = { studyInstanceUID: a.study, seriesInstanceUID: a.multiSeries, sopInstanceUID: a.multiSOP };
    const last = await client.retrieveInstanceFrames({ ...multi, frameNumbers: [3] });
    out.lastFrame = b64(last[0]);
    out.rendered = b64(await client.retrieveInstanceRendered({ ...one, mediaTypes: [{ mediaType: 'image/png' }] }));
    out.thumbnail = b64(await client.retrieveInstanceThumbnail({ ...one, mediaTypes: [{ mediaType: 'image/jpeg' }],
      queryParams: { viewport: '32,32' } }));
    // The browser itself must be able to show what /rendered answers.
    const jpeg = await client.retrieveInstanceRendered({ ...one, mediaTypes: [{ mediaType: 'image/jpeg' }] });
    try {
      const img = await createImageBitmap(new Blob([first(jpeg)], { type: 'image/jpeg' }));
      out.renderedSize = [img.width, img.height];
    } catch (e) {
      const head = Array.from(new Uint8Array(first(jpeg)).slice(0, 64)).map((c) => String.fromCharCode(c)).join('');
      out.renderedError = `${e} (${first(jpeg).byteLength} bytes: ${JSON.stringify(head)})`;
    }
    return out;
  }, { base, token, study, patient, series, sop, multiSeries, multiSOP });
  result.pageErrors = errors;
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
