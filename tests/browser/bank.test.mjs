// The web-bank example's backend on its own (no browser, no smartauth): the SDK token it mints and the
// checks it makes on an attestation, with attestations signed here as smartauth signs them.
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createBank, signJwt, verifyJwt, canonicalJson, transactionHash, verifyAttestation } from '../../examples/web-bank/server.mjs';

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

test('the attestation checks refuse what they must', () => {
  const tx = { type: 'Pix', id: 'abc', amount: '150.00', currency: 'BRL', payee: 'João' };
  const hash = transactionHash(tx);
  const opts = (o = {}) => ({ secret: SECRET, clientId: CLIENT_ID, personId: '952.360.980-76', policyId: 'pix-transfer', transaction: tx, seen: new Map(), ...o });
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
  refused(attestation({ transactionHash: hash, policyId: 'login' }), 'wrong_policy');
  refused(attestation({}), 'transaction_mismatch');
  refused(good, 'transaction_mismatch', { transaction: { ...tx, amount: '15000.00' } });
  refused('not.a.jwt!', 'malformed');
  assert.equal(h.length > 0, true);
  // replay: once per attemptId and per jti
  const seen = new Map();
  verifyAttestation(good, opts({ seen }));
  refused(good, 'replayed', { seen });
  const sameAttempt = attestation({ transactionHash: hash, attemptId: verifyJwt(good, SECRET).attemptId });
  refused(sameAttempt, 'replayed', { seen });
});

test('the bank mints bound SDK tokens, accepts an attestation once, and is the demo phone', async () => {
  const bank = createBank({ clientId: CLIENT_ID, clientSecret: SECRET, smartauthUrl: 'http://127.0.0.1:9', personId: '952.360.980-76' });
  await new Promise((r) => bank.server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${bank.server.address().port}`;
  try {
    let cookie = '';
    const call = async (method, path, body, headers = {}) => {
      const r = await fetch(base + path, { method, headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...(cookie ? { Cookie: cookie } : {}), ...headers }, body: body !== undefined ? JSON.stringify(body) : undefined });
      const set = r.headers.get('set-cookie');
      if (set) cookie = set.split(';')[0];
      return { status: r.status, body: await r.json().catch(() => null), headers: r.headers };
    };
    assert.equal((await call('POST', '/api/sdk-token', {})).status, 401, 'no session, no token');
    const config = await call('GET', '/api/config');
    assert.equal(config.body.personId, '952.360.980-76');
    assert.match(cookie, /^bank_session=/);
    const minted = await call('POST', '/api/sdk-token', {});
    assert.equal(minted.status, 200);
    const claims = verifyJwt(minted.body.token, SECRET);
    assert.equal(claims.iss, CLIENT_ID);
    assert.equal(claims.personId, '952.360.980-76');
    assert.equal(claims.policyId, 'pix-transfer');
    assert.equal(claims.transactionHash, transactionHash(minted.body.transaction));
    assert.equal(claims.exp - claims.iat, 300);
    const tx = minted.body.transaction;
    assert.equal(tx.payee, 'João');

    const token = attestation({ transactionHash: transactionHash(tx) });
    const tampered = await call('POST', '/api/transfer', { attestation: token, transaction: { ...tx, amount: '1500.00' } });
    assert.equal(tampered.status, 403);
    assert.equal(tampered.body.error, 'transaction_mismatch');
    const ok = await call('POST', '/api/transfer', { attestation: token, transaction: tx });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.ok, true);
    const again = await call('POST', '/api/transfer', { attestation: token, transaction: tx });
    assert.equal(again.status, 403);
    assert.equal(again.body.error, 'replayed');
    // an approval for a transfer this session never prepared
    const stranger = { ...tx, id: 'not-prepared' };
    const unknown = await call('POST', '/api/transfer', { attestation: attestation({ transactionHash: transactionHash(stranger) }), transaction: stranger });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error, 'unknown_transfer');
    // not JSON: refused before anything is read (no cross-site form posts)
    assert.equal((await call('POST', '/api/transfer', undefined, { 'Content-Type': 'text/plain' })).status, 415);

    assert.equal((await call('POST', '/sms', { to: '+5521982895497', message: 'Banco Exemplo: 123456\n\n@127.0.0.1 #123456' })).status, 202);
    const inbox = await call('GET', '/api/inbox');
    assert.equal(inbox.body.messages.at(-1).message.endsWith('#123456'), true);

    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy'), /script-src 'self' http:\/\/127\.0\.0\.1:9/);
    assert.equal((await fetch(`${base}/../server.mjs`)).status, 404);
    assert.equal((await fetch(`${base}/%2e%2e/server.mjs`)).status, 404);
  } finally {
    bank.server.close();
  }
});
