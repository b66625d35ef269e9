// The web SDK in a real browser (Debian's chromium through playwright-core), inside the web-bank
// example, against the real smartauth binary. Each test checks what the person sees (the SDK's
// dialog, the page) and what the bank's backend accepts. Screenshots go to target/browser/screenshots/.
//
//   bash scripts/browser-test.sh        (installs what is missing, then runs these tests)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  OUT, SHOTS, startSmsCapture, startSmartauth, createTenant, patchClient, startBank, freePort, newPerson, codeOf,
  launchBrowser, newProfile, login, openBank, dialog, sa, screenOf, waitScreen, waitResult, shot, focused, waitFor, sleep,
} from './harness.mjs';

const POLICY = 'pix-transfer';
const FACE_Y4M = path.join(OUT, 'face.y4m');
const BLACK_Y4M = path.join(OUT, 'black.y4m');
const DIM_Y4M = path.join(OUT, 'dim.y4m');

let sms, smartauth, tenant, bank;
const browsers = {};
const profiles = []; // contexts to close at the end
let profileA; // the browser profile of tests 1, 2 and 10 (it keeps the device key)
const personA = newPerson('a');
let englishTitle = null;

async function browser(kind) {
  if (!browsers[kind]) {
    browsers[kind] = await launchBrowser(
      kind === 'face'
        ? { video: FACE_Y4M }
        : kind === 'black'
          ? { video: BLACK_Y4M }
          : kind === 'dim'
            ? { video: DIM_Y4M }
            : { video: FACE_Y4M, camera: 'denied' },
    );
  }
  return browsers[kind];
}

async function profile(kind = 'face', options) {
  const context = await newProfile(await browser(kind), bank.url, options);
  profiles.push(context);
  return context;
}

/** A person logged in to the bank in a fresh profile, the bank's page open. */
async function visit(person, { kind = 'face', lang = 'en', context } = {}) {
  context ??= await profile(kind, { locale: lang === 'pt-BR' ? 'pt-BR' : 'en-US' });
  await login(context, bank.url, person);
  const page = await openBank(context, bank.url, { lang });
  return { context, page };
}

/** The code of the `n`-th SMS to `person`, and the message. */
async function smsCode(person, n = 1) {
  const m = await sms.nth(person.phone, n);
  return { ...codeOf(m.message), message: m.message };
}

async function bankAccepted(result, what) {
  assert.equal(result.state, 'approved', `${what}: the page shows ${JSON.stringify(result)}`);
  assert.equal(result.transfer?.status, 200, `${what}: the bank answered ${JSON.stringify(result.transfer)}`);
  assert.equal(result.transfer.ok, true);
  assert.equal(result.transfer.attemptId, result.verify.attemptId);
}

function deviceReason(doc) {
  return doc.contextEvaluation?.device_context?.reason;
}

before(async () => {
  for (const f of [FACE_Y4M, BLACK_Y4M]) {
    if (!fs.existsSync(f)) throw new Error(`${f} is missing: run bash scripts/browser-tools.sh`);
  }
  fs.rmSync(SHOTS, { recursive: true, force: true });
  sms = await startSmsCapture();
  smartauth = await startSmartauth({ smsUrl: sms.url });
  const bankPort = await freePort();
  const bankUrl = `http://127.0.0.1:${bankPort}`;
  tenant = await createTenant(smartauth.url, { name: 'Banco Exemplo', displayName: 'Banco Exemplo', language: 'en', allowedOrigins: [bankUrl] });
  await tenant.setPolicy(POLICY);
  bank = await startBank({ tenant, smartauthUrl: smartauth.url, port: bankPort, policyId: POLICY });
  await tenant.createIdentity(personA);
});

after(async () => {
  for (const c of profiles) await c.close().catch(() => {});
  for (const b of Object.values(browsers)) await b.close().catch(() => {});
  await bank?.stop();
  await smartauth?.stop();
  await sms?.close();
});

test('1. first visit: an SMS code, approved, the bank accepts the attestation once', async () => {
  await tenant.setPolicy(POLICY, { methods: ['sms_authentication'] });
  profileA = await profile('face');
  const { page } = await visit(personA, { context: profileA });
  await page.locator('#transfer').click();
  await waitScreen(page, 'code');
  const d = dialog(page);
  assert.equal(await d.getAttribute('lang'), 'en');
  englishTitle = await sa(page, 'title').textContent();
  assert.ok(englishTitle.trim(), 'the dialog has a title');
  // the masked number the code went to: its last digits, not the whole number
  const destination = await sa(page, 'destination').textContent();
  assert.ok(destination.includes(personA.phone.slice(-4)), `destination ${destination}`);
  assert.ok(!destination.includes(personA.phone.slice(-9)), `destination ${destination} is masked`);
  assert.equal(await sa(page, 'resend').isDisabled(), true, 'resend waits for its countdown');
  const { code, host, message } = await smsCode(personA);
  // The WebOTP line names the bank's page (the client's first allowed origin): its host, with or without the port.
  const bankHost = new URL(bank.url);
  assert.ok([bankHost.hostname, bankHost.host].includes(host), `the WebOTP line names ${bankHost.host}: ${message}`);
  assert.ok(message.includes('Banco Exemplo'), `the SMS names the bank: ${message}`);
  assert.ok(message.includes('João'), `the SMS states the transfer it approves: ${message}`);
  await shot(page, '01-code');

  await sa(page, 'code').fill(code);
  await sa(page, 'submit').click();
  const result = await waitResult(page);
  await bankAccepted(result, 'first visit');
  assert.equal(await dialog(page).count(), 0, 'the dialog is gone');
  await page.locator('#details').evaluate((el) => (el.open = true));
  await shot(page, '02-approved-page');

  // What the backend refuses: the same attestation again (replay), and for another amount (binding).
  const { attestation, transaction } = result.last;
  const again = await profileA.request.post(`${bank.url}/api/transfer`, { data: { attestation, transaction } });
  assert.equal(again.status(), 403);
  assert.equal((await again.json()).error, 'replayed');
  const other = await profileA.request.post(`${bank.url}/api/transfer`, { data: { attestation, transaction: { ...transaction, amount: '15000.00' } } });
  assert.equal(other.status(), 403);
  assert.equal((await other.json()).error, 'transaction_mismatch');

  const doc = await tenant.attempt(result.verify.attemptId);
  assert.equal(doc.status, 'approved');
  assert.equal(deviceReason(doc), 'NEW_DEVICE', JSON.stringify(doc.contextEvaluation));
});

test('2. second visit from the same profile: approved passively by the device key, no dialog', async () => {
  assert.ok(profileA, 'test 1 ran');
  await tenant.setPolicy(POLICY, { methods: ['sms_authentication'] });
  const { page } = await visit(personA, { context: profileA });
  const before = sms.to(personA.phone).length;
  await page.locator('#transfer').click();
  const result = await waitResult(page);
  await bankAccepted(result, 'second visit');
  assert.deepEqual(result.screens, [], 'no dialog screen was shown');
  assert.equal(sms.to(personA.phone).length, before, 'no SMS was sent');
  const doc = await tenant.attempt(result.verify.attemptId);
  assert.equal(doc.status, 'approved');
  assert.equal(deviceReason(doc), 'KNOWN_DEVICE_KEY', JSON.stringify(doc.contextEvaluation));
});

test('3. the same fingerprint from a fresh profile (no key) is stepped up', async () => {
  await tenant.setPolicy(POLICY, { methods: ['sms_authentication'] });
  const { page } = await visit(personA);
  await page.locator('#transfer').click();
  await waitScreen(page, 'code');
  await page.keyboard.press('Escape');
  const result = await waitResult(page);
  assert.equal(result.state, 'refused');
  assert.equal(result.reason, 'cancelled');
  assert.equal(result.transfer, null, 'nothing was sent to the bank');
  const doc = await tenant.attempt(result.verify.attemptId);
  assert.equal(doc.status, 'pending');
  assert.equal(deviceReason(doc), 'KNOWN_FINGERPRINT_WITHOUT_KEY', JSON.stringify(doc.contextEvaluation));
});

test('10. under automation the default policy (allowAutomation false) does not approve passively', async () => {
  assert.ok(profileA, 'test 1 ran');
  await tenant.setPolicy(POLICY, { methods: ['sms_authentication'], allowAutomation: null });
  try {
    // The profile whose device key passed in test 2: only the automation flag differs.
    const { page } = await visit(personA, { context: profileA });
    await page.locator('#transfer').click();
    await waitScreen(page, 'code');
    await page.keyboard.press('Escape');
    const result = await waitResult(page);
    assert.equal(result.state, 'refused');
    const doc = await tenant.attempt(result.verify.attemptId);
    assert.equal(doc.status, 'pending');
    assert.equal(deviceReason(doc), 'AUTOMATION_DETECTED', JSON.stringify(doc.contextEvaluation));
  } finally {
    await tenant.setPolicy(POLICY, { methods: ['sms_authentication'] });
  }
});

test('6. wrong codes until the method closes: the failed screen, methods_exhausted', async () => {
  await tenant.setPolicy(POLICY, { methods: ['sms_authentication'], codes: { maxAttempts: 3 } });
  const person = newPerson('wrong');
  await tenant.createIdentity(person);
  const { page } = await visit(person);
  await page.locator('#transfer').click();
  await waitScreen(page, 'code');
  const { code } = await smsCode(person);
  const wrong = code.replace(/\d/g, (c) => String((Number(c) + 1) % 10));
  for (let left = 2; left >= 1; left--) {
    await sa(page, 'code').fill(wrong);
    await sa(page, 'submit').click();
    await waitFor(async () => (await sa(page, 'tries-left').textContent()).includes(String(left)), { what: `"${left}" tries left` });
    assert.equal(await screenOf(page), 'code');
    assert.match(await sa(page, 'message').textContent(), /wrong/i);
    assert.equal(await sa(page, 'code').inputValue(), '', 'the input is cleared for the next try');
    if (left === 2) await shot(page, '05-wrong-code');
  }
  await sa(page, 'code').fill(wrong);
  await sa(page, 'submit').click();
  await waitScreen(page, 'failed');
  assert.ok((await sa(page, 'message').textContent()).trim(), 'the failed screen says why');
  await shot(page, '06-failed');
  await sa(page, 'close').click();
  const result = await waitResult(page);
  assert.equal(result.state, 'refused');
  assert.equal(result.reason, 'methods_exhausted');
  assert.equal(result.transfer, null);
  const doc = await tenant.attempt(result.verify.attemptId);
  assert.equal(doc.status, 'reproved');
  assert.equal(doc.authenticationMethods.sms_authentication.status, 'reproved');
  assert.deepEqual(doc.authenticationMethods.sms_authentication.attempts.map((a) => a.refusalReason), ['invalid_code', 'invalid_code', 'invalid_code']);
});

test('8. pt-BR: the dialog and the SMS speak Portuguese', async () => {
  await tenant.setPolicy(POLICY, { methods: ['sms_authentication'] });
  await patchClient(smartauth.url, tenant.clientId, { language: 'pt-BR' });
  try {
    const person = newPerson('ptbr');
    await tenant.createIdentity(person);
    const { page } = await visit(person, { lang: 'pt-BR' });
    assert.equal(await page.locator('#transfer').textContent(), 'Transferir R$ 150,00 para João');
    await page.locator('#transfer').click();
    await waitScreen(page, 'code');
    assert.equal(await dialog(page).getAttribute('lang'), 'pt-BR');
    const title = await sa(page, 'title').textContent();
    assert.notEqual(title, englishTitle, 'the title is not the English one');
    assert.match(title, /você/);
    assert.match(await sa(page, 'cancel').textContent(), /^Cancelar$/);
    assert.match(await sa(page, 'submit').textContent(), /Confirmar/);
    const { message } = await smsCode(person);
    assert.match(message, /c[óo]digo/i, `the SMS is in Portuguese: ${message}`);
    await shot(page, '07-pt-BR');
    await sa(page, 'cancel').click();
    const result = await waitResult(page);
    assert.equal(result.reason, 'cancelled');
    assert.equal(await page.locator('#result').textContent(), 'Transferência cancelada.');
  } finally {
    await patchClient(smartauth.url, tenant.clientId, { language: 'en' });
  }
});

test('9. the whole flow by keyboard alone', async () => {
  await tenant.setPolicy(POLICY, { methods: ['sms_authentication'] });
  const person = newPerson('keys');
  await tenant.createIdentity(person);
  const { page } = await visit(person);
  for (let i = 0; i < 15 && (await focused(page)).id !== 'transfer'; i++) await page.keyboard.press('Tab');
  assert.equal((await focused(page)).id, 'transfer', 'Tab reaches the transfer button');
  await page.keyboard.press('Enter');
  await waitScreen(page, 'code');
  await waitFor(async () => (await focused(page)).sa === 'code', { what: 'the focus in the code input' });
  // Tab stays inside the dialog, both ways, and comes back round to the input.
  const seen = new Set();
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press(i < 5 ? 'Tab' : 'Shift+Tab');
    const f = await focused(page);
    assert.equal(f.host, 'smartauth-dialog', `Tab ${i + 1} left the dialog: ${JSON.stringify(f)}`);
    seen.add(f.sa);
  }
  assert.ok(seen.has('cancel'), `Tab reaches the cancel button: ${[...seen]}`);
  for (let i = 0; i < 10 && (await focused(page)).sa !== 'code'; i++) await page.keyboard.press('Tab');
  assert.equal((await focused(page)).sa, 'code');
  const { code } = await smsCode(person);
  await page.keyboard.type(code);
  await page.keyboard.press('Enter');
  const result = await waitResult(page);
  await bankAccepted(result, 'keyboard');
  assert.equal((await focused(page)).id, 'transfer', 'the focus is back on the transfer button');
});

test('4. a selfie: chosen among the methods, approved, the bank accepts', async () => {
  await tenant.setPolicy(POLICY, { methods: ['face_authentication', 'sms_authentication'] });
  const person = newPerson('selfie');
  await tenant.createIdentity(person, { image: 'fr_obama.jpg' });
  const { page } = await visit(person, { kind: 'face' });
  await page.locator('#transfer').click();
  await waitScreen(page, 'choose');
  const methods = await page.locator('smartauth-dialog [data-sa=method]').evaluateAll((els) => els.map((e) => e.getAttribute('data-method')));
  assert.deepEqual(methods, ['face_authentication', 'sms_authentication']);
  await shot(page, '03-choose');
  await page.locator('smartauth-dialog [data-sa=method][data-method=face_authentication]').click();
  await waitScreen(page, 'face');
  await waitFor(() => sa(page, 'video').evaluate((v) => v.readyState >= 2 && v.videoWidth > 0), { what: 'the camera picture' });
  assert.equal(await sa(page, 'oval').count(), 1);
  await sleep(300);
  await shot(page, '04-face');
  await sa(page, 'capture').click();
  const result = await waitResult(page, 60000);
  await bankAccepted(result, 'selfie');
  assert.ok(result.screens.includes('face'));
  const doc = await tenant.attempt(result.verify.attemptId);
  assert.equal(doc.status, 'approved');
  // approved by the face (match and liveness) of the camera's picture, not by a code
  const face = doc.authenticationMethods?.face_authentication;
  assert.equal(face?.status, 'approved', JSON.stringify(doc.authenticationMethods));
  assert.equal(face.attempts.length, 1);
  assert.equal(face.attempts[0].faceMatch?.isMatch, true);
  assert.equal(face.attempts[0].liveness?.isAlive, true);
  assert.equal(sms.to(person.phone).length, 0, 'no SMS was sent');
});

/** A person with an enrolled face, a camera showing `kind`, and one selfie taken: the page and the hint that follows. */
async function refusedSelfie(name, kind) {
  await tenant.setPolicy(POLICY, { methods: ['face_authentication'] });
  const person = newPerson(name);
  await tenant.createIdentity(person, { image: 'fr_obama.jpg' });
  const { page } = await visit(person, { kind });
  await page.locator('#transfer').click();
  await waitScreen(page, 'face');
  await waitFor(() => sa(page, 'video').evaluate((v) => v.readyState >= 2 && v.videoWidth > 0), { what: 'the camera picture' });
  const intro = await sa(page, 'hint').textContent();
  await sa(page, 'capture').click();
  // busy while the server looks, then the face screen again with the reason as its hint
  await waitFor(async () => (await screenOf(page)) === 'face' && (await sa(page, 'hint').textContent()) !== intro, { timeout: 30000, what: 'the hint after the refused selfie' });
  return { page, hint: await sa(page, 'hint').textContent() };
}

test('5. a covered camera: the selfie is refused with a hint, and may be taken again', async () => {
  const { page, hint } = await refusedSelfie('dark', 'black');
  assert.match(hint, /couldn't see a face|find more light/i, `the hint: ${hint}`);
  assert.match(hint, /2 attempts left/, `the hint says the tries left: ${hint}`);
  await waitFor(() => sa(page, 'video').evaluate((v) => v.readyState >= 2), { what: 'the camera picture again' });
  assert.equal(await sa(page, 'capture').isEnabled(), true, 'another selfie may be taken');
  await shot(page, '08-face-hint');
  await sa(page, 'capture').click();
  await waitFor(async () => (await screenOf(page)) === 'face' && /1 attempt left/.test(await sa(page, 'hint').textContent()), { timeout: 30000, what: 'the second refusal' });
  await page.keyboard.press('Escape');
  const result = await waitResult(page);
  assert.equal(result.reason, 'cancelled');
  const doc = await tenant.attempt(result.verify.attemptId);
  assert.equal(doc.status, 'pending');
  const reasons = doc.authenticationMethods.face_authentication.attempts.map((a) => a.refusalReason);
  assert.deepEqual(reasons, ['face_not_found', 'face_not_found']);
});

test('5b. a selfie in a dark room: the hint says what to fix (more light), from the refusal detail', async () => {
  const { page, hint } = await refusedSelfie('dim', 'dim');
  assert.match(hint, /too dark\. Find more light/, `the hint: ${hint}`);
  assert.match(hint, /2 attempts left/, `the hint says the tries left: ${hint}`);
  await shot(page, '10-face-too-dark');
  await page.keyboard.press('Escape');
  const result = await waitResult(page);
  const doc = await tenant.attempt(result.verify.attemptId);
  const tried = doc.authenticationMethods.face_authentication;
  assert.deepEqual(tried.attempts.map((a) => [a.refusalReason, a.refusalDetail]), [['poor_quality', 'too_dark']]);
  assert.equal(tried.qualityRefusals, 1);
});

test('7. camera permission denied: a clear screen, not a hang', async () => {
  await tenant.setPolicy(POLICY, { methods: ['face_authentication'] });
  const person = newPerson('nocam');
  await tenant.createIdentity(person, { image: 'fr_obama.jpg' });
  const { page } = await visit(person, { kind: 'denied' });
  await page.locator('#transfer').click();
  await waitScreen(page, 'camera-denied', 15000);
  const title = await sa(page, 'title').textContent();
  const message = await sa(page, 'message').textContent();
  assert.match(title, /camera/i);
  assert.match(message, /allow camera access/i);
  assert.equal(await sa(page, 'close').isVisible(), true);
  await shot(page, '09-camera-denied');
  await sa(page, 'close').click();
  const result = await waitResult(page, 5000);
  assert.equal(result.state, 'refused');
  assert.equal(result.reason, 'cancelled');
});

test('12. the API reference at /docs renders every operation from /openapi.json', async () => {
  const context = await profile();
  const page = await context.newPage();
  await page.goto(`${smartauth.url}/docs`);
  const spec = await (await fetch(`${smartauth.url}/openapi.json`)).json();
  const operations = Object.values(spec.paths).reduce((n, item) => n + Object.keys(item).length, 0);
  await waitFor(async () => (await page.locator('details').count()) >= operations, { what: `${operations} operations on /docs` });
  assert.doesNotMatch(await page.locator('#root').innerText(), /Could not load/);
  // Every operation says what it does, in words, when opened.
  const described = Object.values(spec.paths).flatMap(item => Object.values(item)).filter(op => op.description);
  assert.equal(described.length, operations, 'every operation has a description');
  const events = Object.values(spec.webhooks || {}).flatMap(item => Object.values(item)).filter(op => op.description);
  assert.equal(await page.locator('p.description').count(), operations + events.length);
  const first = page.locator('details').first();
  await first.locator('summary').click();
  const [firstOp] = Object.values(Object.values(spec.paths)[0]);
  assert.equal(await first.locator('p.description').innerText(), firstOp.description);
  // The selfie's two forms of body are both shown: JSON and multipart/form-data.
  const verify = page.locator('details', { hasText: '/methods/{method}/verify' });
  await verify.locator('summary').click();
  const forms = await verify.locator('div.body', { hasText: 'Request body (' }).allInnerTexts();
  assert.deepEqual(forms.map(t => t.match(/\((.*)\)/)[1]), ['application/json', 'multipart/form-data']);
  await shot(page, '12-docs');
});
