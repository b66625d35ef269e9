// The web-bank example's backend on its own (no browser, no smartauth): the SDK token it mints and the
// checks it makes on an attestation, with attestations signed here as smartauth signs them.
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  createBank, signJwt, verifyJwt, canonicalJson, transactionHash, verifyAttestation, claimAttestation, normalizePerson, isLoopback,
} from '../../examples/web-bank/server.mjs';

const SERVER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/web-bank/server.mjs');

const CLIENT_ID = 'c0ffee0000000000000000aa';
const SECRET = 'sk_test_0123456789abcdef0123456789abcdef';

function attestation(claims, secret = SECRET) {
  const now = Math.floor(Date.now() / 1000);
  return signJwt({ iss: 'smartauth', aud: CLIENT_ID, jti: crypto.randomUUID(), attemptId: crypto.randomBytes(12).toString('hex'), personId: '95236098076', policyId: 'pix-transfer', isAuthorized: true, isNewContext: true, iat: now, exp: now + 120, ...claims }, secret);
}

test('canonical JSON is RFC 8785 for objects of strings and integers', () => {
  assert.equal(canonicalJson({ payee: 'João', amount: '150.00', b: { z: 1, a: [3, 'x'] }, currency: 'BRL' }), '{"amount":"150.00","b":{"a":[3,"x"],"z":1},"currency":"BRL","payee":"João"}');
  // member names sort by UTF-16 code units (RFC 8785 §3.2.3), not by locale
  assert.equal(canonicalJson({ 'é': 1, z: 2, Z: 3, 10: 4, 9: 5 }), '{"10":4,"9":5,"Z":3,"z":2,"é":1}');
  assert.equal(canonicalJson({ s: 'a"b\\c\u0001\u2028' }), '{"s":"a\\"b\\\\c\\u0001\u2028"}');
  assert.equal(transactionHash({ b: 1, a: 2 }), crypto.createHash('sha256').update('{"a":2,"b":1}').digest('hex'));
  assert.match(transactionHash({ amount: '150.00' }), /^[0-9a-f]{64}$/);
});

test('personIds are normalised as smartauth stores them, and no further', () => {
  assert.equal(normalizePerson('952.360.980-76'), '95236098076');
  assert.equal(normalizePerson('95236098076'), '95236098076');
  assert.equal(normalizePerson(' 952.360.980-76 '), '95236098076');
  // partly formatted: smartauth keeps these as given, so the bank does too
  for (const kept of ['952360.980-76', '952.360.98076', '95236098076-', '9523609807', '952.360.980.76', 'cliente-42@x']) assert.equal(normalizePerson(kept), kept);
  assert.equal(normalizePerson(normalizePerson('952.360.980-76')), '95236098076');
});

test('loopback is 127.0.0.0/8, ::1 and localhost', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) assert.equal(isLoopback(h), true, h);
  for (const h of ['0.0.0.0', '::', '', '10.0.0.1', '192.168.1.2', 'example.com', '::ffff:10.0.0.1', '128.0.0.1']) assert.equal(isLoopback(h), false, h);
});

test('the attestation checks refuse what they must', () => {
  const tx = { type: 'Pix', id: 'abc', amount: '150.00', currency: 'BRL', payee: 'João' };
  const hash = transactionHash(tx);
  const opts = (o = {}) => ({ secret: SECRET, clientId: CLIENT_ID, personId: '95236098076', policyId: 'pix-transfer', transaction: tx, seen: new Map(), ...o });
  const good = attestation({ transactionHash: hash });
  assert.equal(verifyAttestation(good, opts()).personId, '95236098076');
  const refused = (token, code, o) => assert.throws(() => verifyAttestation(token, opts(o)), (e) => e.code === code, code);
  refused(attestation({ transactionHash: hash }, 'another secret'), 'bad_signature');
  refused(good.slice(0, -2) + (good.endsWith('AA') ? 'BB' : 'AA'), 'bad_signature');
  const [h, b] = good.split('.');
  const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${b}.`;
  refused(none, 'bad_algorithm');
  refused(`${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${b}.c2ln`, 'bad_algorithm');
  const hs512 = Buffer.from(JSON.stringify({ alg: 'HS512', typ: 'JWT' })).toString('base64url');
  refused(`${hs512}.${b}.${crypto.createHmac('sha512', SECRET).update(`${hs512}.${b}`).digest('base64url')}`, 'bad_algorithm');
  refused(attestation({ transactionHash: hash, iss: 'someone' }), 'bad_issuer');
  refused(attestation({ transactionHash: hash, aud: 'another-client' }), 'bad_audience');
  refused(attestation({ transactionHash: hash, exp: Math.floor(Date.now() / 1000) - 60 }), 'expired');
  refused(attestation({ transactionHash: hash, isAuthorized: false }), 'not_authorized');
  refused(attestation({ transactionHash: hash, personId: '11144477735' }), 'wrong_person');
  // the personId is compared exactly with the one the token was minted for: no loose "same digits"
  refused(attestation({ transactionHash: hash, personId: '952.360.980-76' }), 'wrong_person');
  refused(attestation({ transactionHash: hash, personId: '952360.980-76' }), 'wrong_person');
  refused(attestation({ transactionHash: hash }), 'wrong_person', { personId: '952360.980-76' });
  refused(attestation({ transactionHash: hash, personId: undefined }), 'wrong_person');
  refused(attestation({ transactionHash: hash, policyId: 'login' }), 'wrong_policy');
  refused(attestation({}), 'transaction_mismatch');
  refused(good, 'transaction_mismatch', { transaction: { ...tx, amount: '15000.00' } });
  refused('not.a.jwt!', 'malformed');
  assert.equal(h.length > 0, true);
  // replay: verifying marks nothing; claiming is an insert-if-absent, once per attemptId and per jti
  const seen = new Map();
  const claims = verifyAttestation(good, opts({ seen }));
  assert.equal(seen.size, 0, 'verifying alone does not use the attestation up');
  verifyAttestation(good, opts({ seen }));
  assert.equal(claimAttestation(seen, claims), true);
  assert.equal(claimAttestation(seen, claims), false, 'a second claim fails');
  refused(good, 'replayed', { seen });
  const sameAttempt = attestation({ transactionHash: hash, attemptId: claims.attemptId });
  refused(sameAttempt, 'replayed', { seen });
  assert.equal(claimAttestation(seen, verifyJwt(sameAttempt, SECRET)), false, 'the same attemptId under another jti');
  const sameJti = verifyJwt(attestation({ transactionHash: hash, jti: claims.jti }), SECRET);
  assert.equal(claimAttestation(seen, sameJti), false, 'the same jti under another attemptId');
  // expired entries are forgotten
  const old = new Map([['attempt:x', 10]]);
  assert.equal(claimAttestation(old, { attemptId: 'x', exp: 2000 }, 100), true);
});

/** A bank on a free loopback port, and a cookie-keeping client for it. */
async function startBankForTest(options) {
  const bank = createBank({ clientId: CLIENT_ID, clientSecret: SECRET, smartauthUrl: 'http://127.0.0.1:9', personId: '952.360.980-76', ...options });
  await new Promise((r) => bank.server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${bank.server.address().port}`;
  return { bank, base, client: () => client(base), close: () => new Promise((r) => bank.server.close(r)) };
}

function client(base) {
  let cookie = '';
  return async (method, path, body, headers = {}) => {
    const r = await fetch(base + path, { method, headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...(cookie ? { Cookie: cookie } : {}), ...headers }, body: body !== undefined ? JSON.stringify(body) : undefined });
    const set = r.headers.get('set-cookie');
    if (set) cookie = set.split(';')[0];
    return { status: r.status, body: await r.json().catch(() => null), headers: r.headers, cookie };
  };
}

/** A stand-in for smartauth's GET /identities/{personId} (backend token checked), for the demo inbox. */
async function fakeSmartauth(phones) {
  const reads = [];
  const server = http.createServer((req, res) => {
    const m = /^\/identities\/([^/]+)$/.exec(req.url);
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    let claims = null;
    try {
      claims = auth && verifyJwt(auth[1], SECRET);
    } catch {
      claims = null;
    }
    if (req.method !== 'GET' || !m || !claims || claims.iss !== CLIENT_ID || claims.personId !== undefined) return res.writeHead(401).end('{}');
    const personId = decodeURIComponent(m[1]);
    reads.push(personId);
    if (!(personId in phones)) return res.writeHead(404).end('{}');
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ personId, phone: phones[personId] }));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, reads, close: () => new Promise((r) => server.close(r)) };
}

test('the bank mints bound SDK tokens and accepts an attestation once, only after every check', async () => {
  const { base, close } = await startBankForTest({ demo: true });
  try {
    const call = client(base);
    assert.equal((await call('POST', '/api/sdk-token', {})).status, 401, 'no session, no token');
    const config = await call('GET', '/api/config');
    // minted, and shown, in the form smartauth stores: the CPF's 11 digits
    assert.equal(config.body.personId, '95236098076');
    assert.equal(config.body.demo, true);
    assert.match(config.cookie, /^bank_session=/);
    const minted = await call('POST', '/api/sdk-token', {});
    assert.equal(minted.status, 200);
    assert.equal(minted.body.personId, '95236098076');
    const claims = verifyJwt(minted.body.token, SECRET);
    assert.equal(claims.iss, CLIENT_ID);
    assert.equal(claims.personId, '95236098076');
    assert.equal(claims.policyId, 'pix-transfer');
    assert.equal(claims.transactionHash, transactionHash(minted.body.transaction));
    assert.equal(claims.exp - claims.iat, 300);
    const tx = minted.body.transaction;
    assert.equal(tx.payee, 'João');

    const token = attestation({ transactionHash: transactionHash(tx) });
    const tampered = await call('POST', '/api/transfer', { attestation: token, transaction: { ...tx, amount: '1500.00' } });
    assert.equal(tampered.status, 403);
    assert.equal(tampered.body.error, 'transaction_mismatch');
    // a partly formatted CPF in the attestation is not "the same digits": refused
    const loose = await call('POST', '/api/transfer', { attestation: attestation({ transactionHash: transactionHash(tx), personId: '952360.980-76' }), transaction: tx });
    assert.equal(loose.status, 403);
    assert.equal(loose.body.error, 'wrong_person');

    // misrouted: posted from another session (same person, the transfer not prepared there): refused, and not burnt
    const other = client(base);
    await other('GET', '/api/config');
    const misrouted = await other('POST', '/api/transfer', { attestation: token, transaction: tx });
    assert.equal(misrouted.status, 400);
    assert.equal(misrouted.body.error, 'unknown_transfer');

    const ok = await call('POST', '/api/transfer', { attestation: token, transaction: tx });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.ok, true);
    const again = await call('POST', '/api/transfer', { attestation: token, transaction: tx });
    assert.equal(again.status, 403);
    assert.equal(again.body.error, 'replayed');
    // a second transfer prepared in this session cannot be paid with the used attempt either
    const tx2 = (await call('POST', '/api/sdk-token', {})).body.transaction;
    const reused = await call('POST', '/api/transfer', { attestation: attestation({ transactionHash: transactionHash(tx2), attemptId: verifyJwt(token, SECRET).attemptId }), transaction: tx2 });
    assert.equal(reused.status, 403);
    assert.equal(reused.body.error, 'replayed');
    // an approval for a transfer this session never prepared
    const stranger = { ...tx, id: 'not-prepared' };
    const unknown = await call('POST', '/api/transfer', { attestation: attestation({ transactionHash: transactionHash(stranger) }), transaction: stranger });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error, 'unknown_transfer');
    // not JSON: refused before anything is read (no cross-site form posts)
    assert.equal((await call('POST', '/api/transfer', undefined, { 'Content-Type': 'text/plain' })).status, 415);

    // the demo login mints for the normalised id too
    assert.equal((await call('POST', '/api/login', { personId: '111.444.777-35', name: 'Ana' })).body.personId, '11144477735');
    assert.equal(verifyJwt((await call('POST', '/api/sdk-token', {})).body.token, SECRET).personId, '11144477735');
    assert.equal((await call('POST', '/api/login', { personId: '111444.777-35' })).body.personId, '111444.777-35');

    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy'), /script-src 'self' http:\/\/127\.0\.0\.1:9/);
    assert.equal((await fetch(`${base}/../server.mjs`)).status, 404);
    assert.equal((await fetch(`${base}/%2e%2e/server.mjs`)).status, 404);
  } finally {
    await close();
  }
});

test('the demo phone: a keyed gateway, and each session sees only its own person\'s messages', async () => {
  const smartauth = await fakeSmartauth({ '95236098076': '+55 21 98289-5497', 'cliente-b': '+5511900000002' });
  const { base, close } = await startBankForTest({ demo: true, smartauthUrl: smartauth.url, smsKey: 'the-key' });
  try {
    const sms = (to, message, key = 'the-key') => fetch(`${base}/sms${key === null ? '' : `?key=${key}`}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ to, message }) });
    assert.equal((await sms('+5521982895497', 'x', null)).status, 403, 'no key');
    assert.equal((await sms('+5521982895497', 'x', 'the-kez')).status, 403, 'a wrong key');
    assert.equal((await sms('+5521982895497', 'Banco Exemplo: 123456\n\n@127.0.0.1 #123456')).status, 202);
    assert.equal((await sms('+5511900000002', 'Banco Exemplo: 654321\n\n@127.0.0.1 #654321')).status, 202);

    const anonymous = client(base);
    assert.equal((await anonymous('GET', '/api/inbox')).status, 401);
    const maria = client(base);
    await maria('GET', '/api/config');
    const mine = (await maria('GET', '/api/inbox')).body.messages;
    assert.deepEqual(mine.map((m) => m.message.slice(-7)), ['#123456']);
    assert.deepEqual(Object.keys(mine[0]).sort(), ['at', 'message', 'to']);
    const b = client(base);
    await b('POST', '/api/login', { personId: 'cliente-b' });
    assert.deepEqual((await b('GET', '/api/inbox')).body.messages.map((m) => m.message.slice(-7)), ['#654321']);
    // a person smartauth has no phone for sees nothing
    const c = client(base);
    await c('POST', '/api/login', { personId: 'cliente-c' });
    assert.deepEqual((await c('GET', '/api/inbox')).body.messages, []);
    assert.ok(smartauth.reads.includes('95236098076') && smartauth.reads.includes('cliente-b'));
  } finally {
    await close();
    await smartauth.close();
  }
});

test('without demo mode there is no demo login, phone, inbox or automatic session', async () => {
  const { base, close } = await startBankForTest({ demo: false });
  try {
    const call = client(base);
    const config = await call('GET', '/api/config');
    assert.equal(config.status, 401);
    assert.equal(config.cookie, '', 'no session handed out');
    assert.equal((await call('POST', '/api/login', { personId: '95236098076' })).status, 404);
    assert.equal((await call('POST', '/sms', { to: '+5521982895497', message: 'x' })).status, 404);
    assert.equal((await call('GET', '/api/inbox')).status, 404);
    assert.equal((await call('POST', '/api/sdk-token', {})).status, 401);
    assert.equal((await call('POST', '/api/transfer', { attestation: 'x', transaction: {} })).status, 401);
    assert.equal((await fetch(`${base}/`)).status, 200, 'the page is served');
  } finally {
    await close();
  }
});

test('without demo mode the bank works with its own login (authenticate)', async () => {
  // A stand-in for the bank's real login: here a header; in a bank, its own session.
  const authenticate = async (req) => (req.headers['x-test-user'] ? { personId: req.headers['x-test-user'], name: 'Maria' } : null);
  const { base, close } = await startBankForTest({ demo: false, authenticate });
  try {
    const call = client(base);
    const as = { 'X-Test-User': '952.360.980-76' };
    assert.equal((await call('GET', '/api/config')).status, 401);
    const config = await call('GET', '/api/config', undefined, as);
    assert.equal(config.status, 200);
    assert.equal(config.body.personId, '95236098076');
    assert.equal(config.body.demo, false);
    const minted = await call('POST', '/api/sdk-token', {}, as);
    assert.equal(verifyJwt(minted.body.token, SECRET).personId, '95236098076');
    const tx = minted.body.transaction;
    const token = attestation({ transactionHash: transactionHash(tx) });
    const someoneElse = await call('POST', '/api/transfer', { attestation: token, transaction: tx }, { 'X-Test-User': '11144477735' });
    assert.equal(someoneElse.body.error, 'wrong_person');
    const ok = await call('POST', '/api/transfer', { attestation: token, transaction: tx }, as);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((await call('POST', '/api/transfer', { attestation: token, transaction: tx }, as)).body.error, 'replayed');
  } finally {
    await close();
  }
});

test('demo mode refuses to listen beyond loopback', () => {
  const env = { ...process.env, DEMO: '1', CLIENT_ID, CLIENT_SECRET: SECRET, PORT: '0' };
  for (const host of ['0.0.0.0', '::', '192.0.2.1']) {
    const r = spawnSync(process.execPath, [SERVER], { env: { ...env, HOST: host }, encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1, `HOST=${host}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /loopback/);
  }
  // also when the server is started from code, on every interface
  const code = `import(${JSON.stringify(pathToFileURL(SERVER).href)}).then((m) => m.createBank({ demo: true, clientId: 'c', clientSecret: 's' }).server.listen(0, '0.0.0.0', () => console.log('LISTENING')))`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 10000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /loopback only/);
  assert.doesNotMatch(r.stdout, /LISTENING/);
});
