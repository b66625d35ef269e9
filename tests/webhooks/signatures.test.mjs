// Real deliveries from the real binary, verified by the official Standard Webhooks libraries: npm
// `standardwebhooks` (snippets/verify_delivery.mjs) and PyPI `standardwebhooks` (snippets/verify_delivery.py,
// run by data/.venv/bin/python), plus X-Caf-Signature; a tampered body fails all of them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Webhook } from 'standardwebhooks';

import { cafSignatureOk, verifyDelivery } from './snippets/verify_delivery.mjs';
import { HERE, REPO, Smartauth, emptyDir, must, pythonVerify, startReceiver, startSmsCapture, waitFor } from './harness.mjs';

const ALL_EVENTS = [
  'authentication.approved',
  'authentication.reproved',
  'authentication.pending',
  'face_authentication.completed',
  'identity.created',
  'identity.deleted',
  'policy.changed',
];
const FACE = path.join(REPO, 'data/test-fixtures/faces/fr_obama2.jpg');
const MODELS = path.join(REPO, 'data/models');
const haveFace = fs.existsSync(FACE) && fs.existsSync(path.join(MODELS, 'retinaface.onnx'));

let server;
let receiver;
let sms;
let tenant;
let hook;

before(async () => {
  receiver = await startReceiver();
  sms = await startSmsCapture();
  server = new Smartauth({
    name: 'signatures',
    env: {
      SMARTAUTH_SMS_GATEWAY_URL: sms.url,
      // No IP data sets (fast start; their fields stay null); the face models when they are here.
      SMARTAUTH_INTEL_DIR: emptyDir(),
      SMARTAUTH_MODELS_DIR: haveFace ? MODELS : emptyDir(),
    },
  });
  await server.start();
  tenant = await server.newTenant('signatures');
  hook = await tenant.subscribe(`${receiver.base}/all`, ALL_EVENTS);
});

after(async () => {
  await server?.stop();
  server?.cleanup();
  await receiver?.close();
  await sms?.close();
});

const typeOf = (r) => JSON.parse(r.raw.toString('utf8')).type;

/** Both libraries, both signatures: asserts that this delivery is genuine; returns its CloudEvent. */
function assertGenuine(r, secrets, clientSecret) {
  const event = JSON.parse(r.raw.toString('utf8'));
  for (const secret of secrets) {
    assert.deepEqual(verifyDelivery(r.raw, r.headers, secret), event, `npm standardwebhooks verifies ${event.type}`);
  }
  assert.equal(cafSignatureOk(r.raw, r.headers, clientSecret), true, `X-Caf-Signature of ${event.type}`);
  const py = pythonVerify(r.raw, r.headers, secrets, clientSecret);
  for (const secret of secrets) assert.equal(py.standard[secret], 'ok', `PyPI standardwebhooks verifies ${event.type}: ${JSON.stringify(py)}`);
  assert.equal(py.caf, true, `X-Caf-Signature (Python) of ${event.type}`);
  assert.equal(py.type, event.type);
  assert.equal(py.schema, 'ok', `${event.type} matches the CloudEvent schema of /openapi.json`);
  return event;
}

test('every event a tenant causes arrives once, as a CloudEvent both official libraries and X-Caf-Signature accept', async (t) => {
  // policy.changed, identity.created
  await tenant.setPolicy('pix');
  await tenant.createIdentity('alice');
  // authentication.pending then authentication.approved (SMS step-up)
  const a1 = must(await tenant.attempt('alice', 'pix', 'fp-alice-1'), 'attempt 1');
  assert.equal(a1.status, 'pending', JSON.stringify(a1));
  const v1 = await tenant.approveBySms(a1.attemptId, sms);
  assert.equal(v1.status, 'approved', JSON.stringify(v1));
  // authentication.pending then authentication.reproved (three wrong codes, the only method)
  const a2 = must(await tenant.attempt('alice', 'pix', 'fp-alice-2'), 'attempt 2');
  assert.equal(a2.status, 'pending');
  must(await tenant.call('POST', `/authentications/${a2.attemptId}/methods/sms_authentication/send`, {}), 'sms send');
  let last;
  for (let i = 0; i < 3; i++) {
    last = await tenant.call('POST', `/authentications/${a2.attemptId}/methods/sms_authentication/verify`, { code: '00000000' });
  }
  assert.equal(last.body.status, 'reproved', JSON.stringify(last));
  // authentication.approved at once: the device and place are known now
  const a3 = must(await tenant.attempt('alice', 'pix', 'fp-alice-1'), 'attempt 3');
  assert.equal(a3.status, 'approved', JSON.stringify(a3));
  // identity.created, identity.deleted
  await tenant.createIdentity('bob');
  must(await tenant.call('DELETE', '/identities/bob'), 'DELETE /identities/bob');
  // webhook.test
  const tested = must(await tenant.call('POST', `/webhooks/${hook.id}/test`, {}), 'POST test');

  const expected = [
    ['policy.changed', 'pix'],
    ['identity.created', 'alice'],
    ['authentication.pending', a1.attemptId],
    ['authentication.approved', a1.attemptId],
    ['authentication.pending', a2.attemptId],
    ['authentication.reproved', a2.attemptId],
    ['authentication.approved', a3.attemptId],
    ['identity.created', 'bob'],
    ['identity.deleted', 'bob'],
    ['webhook.test', null],
  ];
  // face_authentication.completed is part of the test: missing models are a failure, not a skip.
  assert.ok(haveFace, 'data/models or the test photo is missing: run scripts/fetch-data.sh --test-fixtures');
  let faceAttempt = null;
  // face_authentication.completed (and authentication.approved): the enrolled photo itself is refused
  // as a replay or accepted; either way the face event is sent. Enrolled from the packaged photo.
  const image = fs.readFileSync(FACE).toString('base64');
  await tenant.createIdentity('carol', { image });
  await tenant.setPolicy('face', { reauthenticationMethods: ['face_authentication'], face: { minSimilarity: 0.5, requireLiveness: false, maxAttempts: 3 } });
  const a4 = must(await tenant.attempt('carol', 'face', 'fp-carol-1'), 'attempt 4');
  assert.equal(a4.status, 'pending', JSON.stringify(a4));
  const fv = await tenant.call('POST', `/authentications/${a4.attemptId}/methods/face_authentication/verify`, { image }, { timeout: 60000 });
  assert.equal(fv.status, 200, JSON.stringify(fv));
  faceAttempt = { id: a4.attemptId, status: fv.body.status };
  expected.push(['identity.created', 'carol'], ['policy.changed', 'face'], ['authentication.pending', a4.attemptId], ['face_authentication.completed', a4.attemptId]);
  if (fv.body.status !== 'pending') expected.push([`authentication.${fv.body.status}`, a4.attemptId]);

  const got = await waitFor(() => receiver.at('all').length >= expected.length && receiver.at('all'), { timeout: 30000, what: `${expected.length} deliveries` });
  await new Promise((r) => setTimeout(r, 1500)); // nothing more arrives
  const deliveries = receiver.at('all');
  const seen = deliveries.map((r) => {
    const e = JSON.parse(r.raw.toString('utf8'));
    return [e.type, e.subject ?? null];
  });
  // Order within one subscription follows the events' order (a retry could reorder; none is expected here).
  assert.deepEqual(seen.map(([type]) => type), expected.map(([type]) => type), `event types in order: ${JSON.stringify(seen)}`);
  assert.equal(deliveries.length, got.length, 'no duplicate delivery');

  const ids = new Set();
  for (const r of deliveries) {
    const event = assertGenuine(r, [hook.secret], tenant.secret);
    assert.equal(r.headers['content-type']?.split(';')[0], 'application/json');
    assert.equal(r.headers['webhook-id'], event.id, 'webhook-id is the CloudEvent id');
    assert.match(r.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+=*$/);
    assert.ok(Math.abs(Number(r.headers['webhook-timestamp']) - Date.now() / 1000) < 60, 'webhook-timestamp is now');
    assert.equal(event.specversion, '1.0');
    assert.equal(event.source, `smartauth/clients/${tenant.clientId}`);
    assert.equal(event.datacontenttype, 'application/json');
    assert.match(event.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(!ids.has(event.id), 'each event has its own id');
    ids.add(event.id);
  }
  const byType = (type, attemptId) => deliveries.map((r) => JSON.parse(r.raw.toString('utf8'))).find((e) => e.type === type && e.data.attemptId === attemptId);
  const approved = byType('authentication.approved', a1.attemptId);
  assert.equal(approved.subject, a1.attemptId);
  assert.deepEqual(
    { personId: approved.data.personId, policyId: approved.data.policyId, status: approved.data.status, isAuthorized: approved.data.isAuthorized },
    { personId: 'alice', policyId: 'pix', status: 'approved', isAuthorized: true },
  );
  assert.equal(byType('authentication.reproved', a2.attemptId).data.status, 'reproved');
  assert.equal(byType('authentication.approved', a3.attemptId).data.status, 'approved');
  const testEvent = deliveries.map((r) => JSON.parse(r.raw.toString('utf8'))).find((e) => e.type === 'webhook.test');
  assert.equal(testEvent.id, tested.eventId);
  if (faceAttempt) {
    const face = byType('face_authentication.completed', faceAttempt.id);
    assert.equal(face.data.personId, 'carol');
    assert.equal(face.data.policyId, 'face', 'the policy of the attempt the selfie was tried on');
    assert.equal(typeof face.data.isMatch, 'boolean');
    t.diagnostic(`face: status ${faceAttempt.status}, isMatch ${face.data.isMatch}`);
  }

  // The server's own record: every delivery delivered at the first try with our 204.
  const listed = await tenant.deliveries(hook.id);
  assert.equal(listed.length, expected.length);
  for (const d of listed) {
    assert.deepEqual([d.status, d.tries, d.lastResponseStatus], ['delivered', 1, 204], JSON.stringify(d));
  }
  t.diagnostic(`${deliveries.length} deliveries verified by npm standardwebhooks, PyPI standardwebhooks and X-Caf-Signature`);
});

test('a tampered body, id or timestamp fails both libraries and X-Caf-Signature', async () => {
  const r = receiver.at('all').find((x) => typeOf(x) === 'authentication.approved');
  assert.ok(r, 'an authentication.approved delivery from the first test');
  // One byte of the body changed, still valid JSON: "approved" -> "reproved" would be the attack.
  const forged = Buffer.from(r.raw.toString('utf8').replace('"status":"approved"', '"status":"reproved"'), 'utf8');
  assert.notDeepEqual(forged, r.raw, 'the body was changed');
  assert.throws(() => verifyDelivery(forged, r.headers, hook.secret), { name: 'WebhookVerificationError' });
  assert.equal(cafSignatureOk(forged, r.headers, tenant.secret), false);
  const py = pythonVerify(forged, r.headers, [hook.secret], tenant.secret);
  assert.match(py.standard[hook.secret], /WebhookVerificationError: No matching signature found/);
  assert.equal(py.caf, false);

  // The genuine body with another message id, or a replay an hour later, or another tenant's secret.
  const otherId = { ...r.headers, 'webhook-id': `${r.headers['webhook-id']}x` };
  assert.throws(() => verifyDelivery(r.raw, otherId, hook.secret), { name: 'WebhookVerificationError' });
  assert.match(pythonVerify(r.raw, otherId, [hook.secret], tenant.secret).standard[hook.secret], /No matching signature/);
  const late = { ...r.headers, 'webhook-timestamp': String(Number(r.headers['webhook-timestamp']) - 3600) };
  assert.throws(() => verifyDelivery(r.raw, late, hook.secret), /timestamp too old/);
  assert.match(pythonVerify(r.raw, late, [hook.secret], tenant.secret).standard[hook.secret], /too old/);
  const stranger = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
  assert.throws(() => verifyDelivery(r.raw, r.headers, stranger), { name: 'WebhookVerificationError' });
  assert.equal(cafSignatureOk(r.raw, r.headers, 'not-the-client-secret'), false);
  // The unchanged delivery still verifies (the forgeries above did not pass by luck of a broken check).
  assert.ok(new Webhook(hook.secret).verify(r.raw, r.headers));
});

test('after rotate-secret both secrets verify the same delivery, in both libraries', async () => {
  const rotated = must(await tenant.call('POST', `/webhooks/${hook.id}/rotate-secret`, {}), 'rotate-secret');
  assert.match(rotated.secret, /^whsec_[A-Za-z0-9+/]{43}=$/, '32 random bytes, base64');
  assert.notEqual(rotated.secret, hook.secret);
  const before = receiver.at('all').length;
  must(await tenant.call('POST', `/webhooks/${hook.id}/test`, {}), 'POST test');
  const got = await waitFor(() => receiver.at('all')[before], { what: 'the test event after the rotation' });
  assert.equal(got.headers['webhook-signature'].split(' ').length, 2, got.headers['webhook-signature']);
  assertGenuine(got, [rotated.secret, hook.secret], tenant.secret);
});

test('the README carries the Node and Python snippets exactly as the tests run them', () => {
  const readme = fs.readFileSync(path.join(HERE, '..', '..', 'README.md'), 'utf8');
  for (const file of ['verify_delivery.mjs', 'verify_delivery.py']) {
    const snippet = fs.readFileSync(path.join(HERE, 'snippets', file), 'utf8').trimEnd();
    assert.ok(readme.includes(snippet), `README.md holds snippets/${file} verbatim`);
  }
});
