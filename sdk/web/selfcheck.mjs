// A browserless self-check of smartauth.js: `node selfcheck.mjs` (Node 20+).
// Stubs the browser globals the no-UI paths use (navigator, screen, IndexedDB, fetch) and checks
// the context, the fingerprint's stability, the device binding's signature and the answers that
// resolve or reject without the dialog. The dialog itself is tested in a real browser.
import assert from 'node:assert/strict';

// ---- browser stubs ---------------------------------------------------------------------------

const nav = {
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36',
  language: 'pt-BR',
  languages: ['pt-BR', 'en'],
  platform: 'Linux x86_64',
  hardwareConcurrency: 8,
  deviceMemory: 8,
  maxTouchPoints: 0,
  webdriver: false,
  plugins: { length: 5 },
  userAgentData: {
    brands: [{ brand: 'Google Chrome', version: '156' }],
    getHighEntropyValues: async () => ({
      platform: 'Linux',
      platformVersion: '6.8.0',
      model: '',
      architecture: 'x86',
      bitness: '64',
      mobile: false,
      fullVersionList: [
        { brand: 'Not=A?Brand', version: '24.0.0.0' },
        { brand: 'Chromium', version: '156.0.7390.54' },
        { brand: 'Google Chrome', version: '156.0.7390.54' },
      ],
    }),
  },
};
Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true });
globalThis.window = globalThis;
globalThis.screen = { width: 1920, height: 1080, colorDepth: 24 };
globalThis.devicePixelRatio = 1;

/** A small in-memory IndexedDB: one database, one store, the calls smartauth.js makes. */
function fakeIndexedDb() {
  const stores = new Map();
  const later = (fn) => setTimeout(fn, 0);
  const request = (fn) => {
    const req = {};
    later(() => {
      req.result = fn();
      req.onsuccess && req.onsuccess();
    });
    return req;
  };
  const db = {
    createObjectStore: (name) => stores.set(name, new Map()),
    close() {},
    transaction(name) {
      const map = stores.get(name);
      const tx = {};
      let failed = null;
      const step = (fn) => {
        const req = {};
        try {
          req.result = fn();
        } catch (e) {
          failed = e;
        }
        later(() => (failed ? ((tx.error = failed), tx.onerror && tx.onerror()) : tx.oncomplete && tx.oncomplete()));
        return req;
      };
      tx.objectStore = () => ({
        get: (k) => step(() => map.get(k)),
        put: (v, k) => step(() => map.set(k, v)),
        add: (v, k) =>
          step(() => {
            if (map.has(k)) throw Object.assign(new Error('exists'), { name: 'ConstraintError' });
            map.set(k, v);
          }),
        delete: (k) => step(() => map.delete(k)),
      });
      return tx;
    },
  };
  return {
    stores,
    open() {
      const req = {};
      later(() => {
        req.result = db;
        if (!stores.size) req.onupgradeneeded && req.onupgradeneeded();
        req.onsuccess && req.onsuccess();
      });
      return req;
    },
  };
}

/** A fetch that answers from `routes` and records the calls. */
function fakeFetch(routes) {
  const calls = [];
  globalThis.fetch = async (url, init) => {
    const path = new URL(url).pathname;
    const body = init.body ? JSON.parse(init.body) : undefined;
    calls.push({ path, method: init.method, body, auth: init.headers.Authorization });
    const route = routes[`${init.method} ${path}`];
    if (!route) return new Response(JSON.stringify({ code: 'NOT_FOUND', message: 'no route' }), { status: 404 });
    const [status, json, headers = {}] = typeof route === 'function' ? route(body) : route;
    return new Response(JSON.stringify({ requestId: 'req-1', ...json }), { status, headers });
  };
  return calls;
}

const { SmartAuth, SmartAuthError, collectContext } = await import('./smartauth.js');
const checks = [];
const check = (name, fn) => checks.push([name, fn]);

// ---- context ---------------------------------------------------------------------------------

check('context has the documented shape and bounded strings', async () => {
  const ctx = await collectContext({ geolocation: false });
  assert.equal(ctx.device.type, 'web');
  assert.match(ctx.device.fingerPrint, /^[0-9a-f]{64}$/);
  assert.equal(ctx.device.userAgent, nav.userAgent);
  assert.deepEqual(ctx.device.flags, { emulator: false, rooted: false, automation: false });
  assert.equal(ctx.device.providedInfo.platform, 'web');
  assert.equal(ctx.device.providedInfo.operatingSystem, 'Linux 6.8.0');
  assert.equal(ctx.device.providedInfo.model, 'Google Chrome 156.0.7390.54');
  assert.equal(ctx.device.providedInfo.clientHints.fullVersionList, 'Chromium 156.0.7390.54, Google Chrome 156.0.7390.54');
  assert.equal(ctx.location, undefined);
  for (const v of Object.values(ctx.device.providedInfo)) if (typeof v === 'string') assert.ok(v.length <= 128);
});

check('the fingerprint ignores what changes between visits', async () => {
  const a = (await collectContext({ geolocation: false })).device.fingerPrint;
  globalThis.devicePixelRatio = 1.25; // browser zoom
  globalThis.screen = { width: 1080, height: 1920, colorDepth: 24 }; // rotated
  nav.userAgent = nav.userAgent.replace('156.0.0.0', '157.0.0.0'); // browser update
  const b = (await collectContext({ geolocation: false })).device.fingerPrint;
  assert.equal(a, b);
  nav.hardwareConcurrency = 4;
  const c = (await collectContext({ geolocation: false })).device.fingerPrint;
  assert.notEqual(a, c);
  nav.hardwareConcurrency = 8;
});

check('long values are truncated, invisible characters dropped', async () => {
  const ua = nav.userAgent;
  nav.userAgent = 'A\u200b'.repeat(700) + 'B'.repeat(700);
  const ctx = await collectContext({ geolocation: false });
  assert.equal(ctx.device.userAgent.length, 1024);
  assert.ok(!ctx.device.userAgent.includes('\u200b'));
  nav.userAgent = ua;
});

check('automation is flagged', async () => {
  nav.webdriver = true;
  assert.equal((await collectContext({ geolocation: false })).device.flags.automation, true);
  nav.webdriver = false;
  const ua = nav.userAgent;
  nav.userAgent = ua.replace('Chrome/', 'HeadlessChrome/');
  assert.equal((await collectContext({ geolocation: false })).device.flags.automation, true);
  nav.userAgent = ua;
});

check('geolocation: a position is sent, a silent prompt is bounded', async () => {
  nav.geolocation = { getCurrentPosition: (ok) => ok({ coords: { latitude: -22.9, longitude: -43.2, accuracy: 30 } }) };
  assert.deepEqual((await collectContext()).location, { latitude: -22.9, longitude: -43.2, accuracy: 30 });
  nav.geolocation = { getCurrentPosition: () => {} }; // the prompt is never answered
  const started = Date.now();
  const ctx = await collectContext({ geolocationTimeoutMs: 200 });
  assert.equal(ctx.location, undefined);
  assert.ok(Date.now() - started < 1000);
  delete nav.geolocation;
});

// ---- verifyPolicy without UI -----------------------------------------------------------------

const BASE = 'https://auth.example.com';
const sdk = () => new SmartAuth({ token: 'tok', baseUrl: BASE + '/', geolocation: false });

check('approved: resolves with the attestation; no IndexedDB means no binding', async () => {
  delete globalThis.indexedDB;
  const calls = fakeFetch({
    'POST /authentications': [200, { attemptId: 'a1', status: 'approved', isAuthorized: true, attestation: 'jwt' }],
  });
  const r = await sdk().verifyPolicy('95236098076', 'pix', { transaction: { amount: '1.00' } });
  assert.deepEqual(r, { isAuthorized: true, attemptId: 'a1', attestation: 'jwt' });
  assert.equal(calls.length, 1);
  assert.equal(calls[0].auth, 'Bearer tok');
  assert.equal(calls[0].body.personId, '95236098076');
  assert.deepEqual(calls[0].body.transaction, { amount: '1.00' });
  assert.equal(calls[0].body.context.device.binding, undefined);
});

check('the device key signs the challenge, and is the same key next time', async () => {
  globalThis.indexedDB = fakeIndexedDb();
  const calls = fakeFetch({
    'POST /authentications/device-challenge': [200, { challenge: 'c'.repeat(43) }],
    'POST /authentications': [200, { attemptId: 'a2', status: 'reproved', isAuthorized: false }],
  });
  const token = async () => 'from-fn';
  const auth = new SmartAuth({ token, baseUrl: BASE, geolocation: false });
  assert.deepEqual(await auth.verifyPolicy('p', 'pix'), { isAuthorized: false, attemptId: 'a2', reason: 'refused' });
  assert.deepEqual(calls[0].body, { policyId: 'pix' });
  assert.equal(calls[0].auth, 'Bearer from-fn');
  const binding = calls[1].body.context.device.binding;
  assert.deepEqual(Object.keys(binding.publicKey).sort(), ['crv', 'kty', 'x', 'y']);
  assert.match(binding.signature, /^[A-Za-z0-9_-]{86}$/); // 64 bytes, base64url, no padding
  const key = await crypto.subtle.importKey('jwk', binding.publicKey, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  const sig = Buffer.from(binding.signature, 'base64url');
  const data = new TextEncoder().encode('smartauth-device-binding/v1.' + 'c'.repeat(43));
  assert.ok(await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, sig, data));
  const stored = globalThis.indexedDB.stores.get('keys').get('device');
  assert.equal(stored.privateKey.extractable, false);

  await auth.verifyPolicy('p', 'pix');
  assert.deepEqual(calls[3].body.context.device.binding.publicKey, binding.publicKey);

  await SmartAuth.resetDevice();
  assert.equal(globalThis.indexedDB.stores.get('keys').has('device'), false);
  await auth.verifyPolicy('p', 'pix');
  assert.notDeepEqual(calls[5].body.context.device.binding.publicKey, binding.publicKey);
});

check('an older server (challenge 404) gets no binding', async () => {
  const calls = fakeFetch({ 'POST /authentications': [200, { attemptId: 'a3', status: 'reproved' }] });
  await sdk().verifyPolicy('p', 'pix');
  assert.equal(calls[1].body.context.device.binding, undefined);
});

check('a challenge refused for load (429) or a server error (5xx) falls back to an attempt without binding', async () => {
  for (const status of [429, 500, 503]) {
    const calls = fakeFetch({
      'POST /authentications/device-challenge': [status, { code: status === 429 ? 'TOO_MANY_REQUESTS' : 'INTERNAL', message: 'm' }, { 'Retry-After': '5' }],
      'POST /authentications': [200, { attemptId: `a${status}`, status: 'approved', isAuthorized: true, attestation: 'jwt' }],
    });
    assert.deepEqual(await sdk().verifyPolicy('p', 'pix'), { isAuthorized: true, attemptId: `a${status}`, attestation: 'jwt' }, `challenge ${status}`);
    assert.deepEqual(calls.map((c) => c.path), ['/authentications/device-challenge', '/authentications']);
    assert.equal(calls[1].body.context.device.binding, undefined, `challenge ${status}: no binding`);
  }
});

check('a challenge refused for the token (401, 403) or unreachable still rejects', async () => {
  for (const [status, code] of [[401, 'unauthorized'], [403, 'forbidden']]) {
    const calls = fakeFetch({
      'POST /authentications/device-challenge': [status, { code: code.toUpperCase(), message: 'm' }],
      'POST /authentications': [200, { attemptId: 'never', status: 'approved', isAuthorized: true, attestation: 'jwt' }],
    });
    await assert.rejects(sdk().verifyPolicy('p', 'pix'), (e) => e instanceof SmartAuthError && e.code === code && e.status === status);
    assert.equal(calls.length, 1, `challenge ${status}: no attempt`);
  }
  const calls = [];
  globalThis.fetch = async (url, init) => {
    const path = new URL(url).pathname;
    calls.push(path);
    if (path === '/authentications/device-challenge') throw new TypeError('Failed to fetch');
    return new Response(JSON.stringify({ attemptId: 'never', status: 'approved', isAuthorized: true, attestation: 'jwt' }), { status: 200 });
  };
  await assert.rejects(sdk().verifyPolicy('p', 'pix'), (e) => e instanceof SmartAuthError && e.code === 'network' && e.status === 0);
  assert.ok(!calls.includes('/authentications'), 'no attempt after a network error');
});

check('pending with no method this SDK can do: no_method', async () => {
  fakeFetch({
    'POST /authentications/device-challenge': [200, { challenge: 'x' }],
    'POST /authentications': [200, { attemptId: 'a4', status: 'pending', neededReauthentications: ['push_authentication'] }],
  });
  assert.deepEqual(await sdk().verifyPolicy('p', 'pix'), { isAuthorized: false, attemptId: 'a4', reason: 'no_method' });
});

check('423 resolves locked without UI', async () => {
  fakeFetch({
    'POST /authentications/device-challenge': [200, { challenge: 'x' }],
    'POST /authentications': [423, { code: 'LOCKED', message: 'locked' }],
  });
  assert.deepEqual(await sdk().verifyPolicy('p', 'pix'), { isAuthorized: false, attemptId: null, reason: 'locked' });
});

check('errors reject with SmartAuthError codes', async () => {
  const cases = [
    [401, 'unauthorized', 'UNAUTHORIZED'],
    [403, 'forbidden', 'FORBIDDEN'],
    [400, 'bad_request', 'INVALID_DEVICE_BINDING'],
    [404, 'not_found', 'NOT_FOUND'],
    [500, 'server', 'INTERNAL'],
    [429, 'rate_limited', 'TOO_MANY_REQUESTS'],
  ];
  for (const [status, code, serverCode] of cases) {
    fakeFetch({
      'POST /authentications/device-challenge': [200, { challenge: 'x' }],
      'POST /authentications': [status, { code: serverCode, message: 'm' }, { 'Retry-After': '7' }],
    });
    await assert.rejects(sdk().verifyPolicy('p', 'pix'), (e) => {
      assert.ok(e instanceof SmartAuthError && e instanceof Error);
      assert.equal(e.code, code);
      assert.equal(e.status, status);
      assert.equal(e.serverCode, serverCode);
      assert.equal(e.requestId, 'req-1');
      if (status === 429) assert.equal(e.retryAfter, 7);
      return true;
    });
  }
  globalThis.fetch = async () => {
    throw new TypeError('Failed to fetch');
  };
  await assert.rejects(sdk().verifyPolicy('p', 'pix'), (e) => e.code === 'network' && e.status === 0);
});

check('options are checked', async () => {
  assert.throws(() => new SmartAuth({}), TypeError);
  await assert.rejects(sdk().verifyPolicy('p', ''), TypeError);
});

let failed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n${e.stack}`);
  }
}
console.log(failed ? `${failed} of ${checks.length} failed` : `all ${checks.length} passed`);
process.exit(failed ? 1 : 0);
