// A quick real-browser run of the dialog against a mock server: `node --experimental-websocket browsercheck.mjs`
// (Node 20; Node 22+ needs no flag). Needs `chromium` on PATH (or CHROMIUM=/path). Drives headless Chromium
// over the DevTools protocol with real key presses and a fake camera, and saves screenshots in $SHOTS
// (default: $TMPDIR/smartauth-web-screenshots).
// The project's browser tests are the reference; this is the SDK author's smoke check.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
const shots = process.env.SHOTS || join(tmpdir(), 'smartauth-web-screenshots');
mkdirSync(shots, { recursive: true });

// ---- mock server -----------------------------------------------------------------------------

let scenario = {};
let faceTries = 0;
let codeLeft = 3;
const server = createServer(async (req, res) => {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  const body = raw ? JSON.parse(raw) : {};
  const url = new URL(req.url, 'http://x');
  const json = (status, obj, headers = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ requestId: 'r', ...obj }));
  };
  if (url.pathname === '/sdk/smartauth.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    return res.end(readFileSync(join(here, 'smartauth.js')));
  }
  if (url.pathname === '/') {
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end(`<!doctype html><html><head><style>* { color: red !important; font-size: 40px !important; }
      button { border: 9px solid red !important; padding: 30px !important; } </style></head><body><button id="go">go</button>
      <script type="module">
        import { SmartAuth } from '/sdk/smartauth.js';
        window.SmartAuth = SmartAuth;
        window.start = (language) => {
          document.getElementById('go').focus();
          window.result = undefined;
          new SmartAuth({ token: 't', language, geolocation: false, theme: { '--smartauth-accent': '#008060' } })
            .verifyPolicy('p', 'pix').then((r) => (window.result = r), (e) => (window.result = { error: e.code }));
        };
        window.ready = true;
      </script></body></html>`);
  }
  if (url.pathname === '/authentications/device-challenge') return json(200, { challenge: 'c'.repeat(43) });
  if (url.pathname === '/authentications') {
    assert.ok(body.context.device.binding.signature);
    return json(200, { attemptId: 'a1', status: 'pending', neededReauthentications: scenario.methods });
  }
  const m = url.pathname.match(/^\/authentications\/a1\/methods\/(\w+)\/(send|verify)$/);
  if (m && m[2] === 'send') {
    if (scenario.sendLocked) return json(423, { code: 'LOCKED', message: 'locked' });
    return json(200, { method: m[1], sent: true, sentTo: '(**) *****-5497', resendAfterSeconds: 2 });
  }
  if (m && m[1] === 'face_authentication') {
    faceTries++;
    assert.ok(body.image.length > 1000 && !body.image.startsWith('data:'));
    return faceTries === 1
      ? json(200, { isAuthorized: false, attemptsLeft: 2, status: 'pending', refusalReason: 'face_not_found' })
      : json(200, { isAuthorized: true, attemptsLeft: 1, status: 'approved', attestation: 'att-face' });
  }
  if (m) {
    if (body.code === '123456') return json(200, { isAuthorized: true, attemptsLeft: codeLeft, status: 'approved', attestation: 'att-code' });
    codeLeft--;
    return json(200, {
      isAuthorized: false,
      attemptsLeft: codeLeft,
      status: codeLeft === 0 && scenario.methods.length === 1 ? 'reproved' : 'pending',
      refusalReason: codeLeft === 0 ? 'max_attempts_exceeded' : 'invalid_code',
    });
  }
  json(404, { code: 'NOT_FOUND', message: 'no' });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;

// ---- Chromium over CDP -----------------------------------------------------------------------

const chrome = spawn(
  process.env.CHROMIUM || 'chromium',
  [
    '--headless=new',
    '--no-sandbox',
    '--remote-debugging-port=0',
    `--user-data-dir=${mkdtempSync(join(tmpdir(), 'sa-chrome-'))}`,
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    '--window-size=800,900',
    'about:blank',
  ],
  { stdio: ['ignore', 'ignore', 'pipe'] },
);
const wsUrl = await new Promise((resolve, reject) => {
  let err = '';
  chrome.stderr.on('data', (d) => {
    err += d;
    const m = err.match(/DevTools listening on (ws:\/\/\S+)/);
    if (m) resolve(m[1]);
  });
  chrome.on('exit', () => reject(new Error(`chromium exited: ${err}`)));
});
const targets = await (await fetch(wsUrl.replace('ws://', 'http://').replace(/\/devtools\/.*/, '/json/list'))).json();
const ws = new WebSocket(targets.find((t) => t.type === 'page').webSocketDebuggerUrl);
await new Promise((r) => ws.addEventListener('open', r));
let seq = 0;
const pending = new Map();
ws.addEventListener('message', (e) => {
  const msg = JSON.parse(e.data);
  if (msg.id && pending.has(msg.id)) {
    pending.get(msg.id)(msg);
    pending.delete(msg.id);
  }
});
const cdp = (method, params = {}) =>
  new Promise((resolve, reject) => {
    const id = ++seq;
    pending.set(id, (msg) => (msg.error ? reject(new Error(`${method}: ${msg.error.message}`)) : resolve(msg.result)));
    ws.send(JSON.stringify({ id, method, params }));
  });
const evaluate = async (expression) => {
  const r = await cdp('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
  if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.exception?.description}`);
  return r.result.value;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const waitFor = async (expression, what, ms = 8000) => {
  const until = Date.now() + ms;
  for (;;) {
    const v = await evaluate(expression).catch(() => undefined);
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${expression}`);
    await sleep(50);
  }
};
const KEYS = { Tab: 9, Enter: 13, Escape: 27 };
const press = async (key, shift = false) => {
  const common = { key, code: key, windowsVirtualKeyCode: KEYS[key], modifiers: shift ? 8 : 0 };
  await cdp('Input.dispatchKeyEvent', { type: 'rawKeyDown', ...common });
  if (key === 'Enter') await cdp('Input.dispatchKeyEvent', { type: 'char', text: '\r', ...common });
  await cdp('Input.dispatchKeyEvent', { type: 'keyUp', ...common });
};
const type = async (text) => {
  for (const ch of text) await cdp('Input.dispatchKeyEvent', { type: 'char', text: ch });
};
const shot = async (name) => {
  const { data } = await cdp('Page.captureScreenshot', { format: 'png' });
  writeFileSync(join(shots, `${name}.png`), Buffer.from(data, 'base64'));
};
const root = `document.querySelector('smartauth-dialog')?.shadowRoot`;
const screen = () => evaluate(`${root}?.querySelector('[role=dialog]')?.getAttribute('data-screen') ?? null`);
const waitScreen = (s) => waitFor(`${root}?.querySelector('[role=dialog]')?.getAttribute('data-screen') === ${JSON.stringify(s)}`, `screen ${s}`);
const focused = () => evaluate(`(() => { const a = ${root}?.activeElement; return a ? (a.dataset.sa || a.tagName) + (a.dataset.method ? ':' + a.dataset.method : '') : 'outside:' + document.activeElement?.id; })()`);
const text = (sa) => evaluate(`${root}.querySelector('[data-sa="${sa}"]').textContent`);
const click = (sa) => evaluate(`${root}.querySelector('[data-sa="${sa}"]').click()`);
const start = async (methods, language = 'pt-BR', extra = {}) => {
  scenario = { methods, ...extra };
  faceTries = 0;
  codeLeft = 3;
  await cdp('Page.navigate', { url: origin + '/' });
  await waitFor('window.ready === true', 'page');
  await evaluate(`start(${JSON.stringify(language)})`);
};
const result = () => waitFor('window.result', 'the result');

const checks = [];
const check = (name, fn) => checks.push([name, fn]);

check('choose, keyboard focus trap, SMS code with a wrong then right code, focus returns', async () => {
  await start(['sms_authentication', 'email_authentication', 'face_authentication']);
  await waitScreen('choose');
  await shot('choose-pt');
  assert.equal(await text('title'), 'Confirme que é você');
  assert.equal(await evaluate(`${root}.querySelector('[role=dialog]').getAttribute('aria-modal')`), 'true');
  assert.equal(await evaluate(`${root}.querySelector('[role=dialog]').lang`), 'pt-BR');
  assert.equal(await focused(), 'method:sms_authentication');
  const order = [];
  for (let i = 0; i < 4; i++) {
    await press('Tab');
    order.push(await focused());
  }
  assert.deepEqual(order, ['method:email_authentication', 'method:face_authentication', 'cancel', 'method:sms_authentication']);
  await press('Tab', true);
  assert.equal(await focused(), 'cancel');
  await press('Tab');
  await press('Enter');
  await waitScreen('code');
  assert.match(await evaluate(`${root}.querySelector('p:has([data-sa=destination])').textContent`), /^Enviamos um código para \(\*\*\) \*{5}-5497$/);
  assert.equal(await focused(), 'code');
  assert.match(await text('resend'), /^Reenviar código em \d s$/);
  assert.equal(await evaluate(`${root}.querySelector('[data-sa=resend]').disabled`), true);
  await shot('code-pt');
  await type('000000');
  await press('Enter');
  await waitFor(`${root}.querySelector('[data-sa=message]').textContent.startsWith('Código incorreto')`, 'wrong code');
  assert.equal(await text('message'), 'Código incorreto. Restam 2 tentativas.');
  assert.equal(await text('tries-left'), 'Restam 2 tentativas.');
  assert.equal(await evaluate(`${root}.querySelector('[data-sa=code]').value`), '');
  assert.equal(await focused(), 'code');
  await waitFor(`${root}.querySelector('[data-sa=resend]').disabled === false`, 'resend enabled', 4000);
  assert.equal(await text('resend'), 'Reenviar código');
  await shot('code-wrong-pt');
  await type('123456');
  await press('Enter');
  assert.deepEqual(await result(), { attemptId: 'a1', isAuthorized: true, attestation: 'att-code' });
  assert.equal(await screen(), null);
  assert.equal(await evaluate('document.activeElement.id'), 'go');
});

check('a code method closes after its tries and the only other method opens directly', async () => {
  await start(['email_authentication', 'sms_authentication'], 'en');
  await waitScreen('choose');
  await click('method');
  await waitScreen('code');
  for (let i = 0; i < 3; i++) {
    await waitFor(`${root}.querySelector('[data-sa=submit]')?.disabled === false`, 'submit enabled');
    await type('111111');
    await press('Enter');
    await sleep(150);
  }
  await waitFor(`${root}.querySelector('[data-sa=message]').textContent.startsWith('No attempts are left')`, 'closed');
  assert.equal(await screen(), 'code'); // straight into SMS, the only method left
  assert.equal(await evaluate(`${root}.querySelector('[data-sa=back]')`), null);
  await shot('method-closed-en');
  await press('Escape');
  assert.deepEqual(await result(), { attemptId: 'a1', isAuthorized: false, reason: 'cancelled' });
});

check('face: fake camera, a refusal hint, then approved', async () => {
  await start(['face_authentication']);
  await waitScreen('face');
  await waitFor(`${root}.querySelector('video').videoWidth > 0`, 'video frames');
  await shot('face-pt');
  assert.equal(await text('capture'), 'Tirar selfie');
  await click('capture');
  await waitScreen('face');
  await waitFor(`${root}.querySelector('[data-sa=hint]').textContent.startsWith('Não conseguimos ver um rosto')`, 'hint');
  await shot('face-hint-pt');
  await waitFor(`${root}.querySelector('video').videoWidth > 0`, 'video frames again');
  await click('capture');
  assert.deepEqual(await result(), { attemptId: 'a1', isAuthorized: true, attestation: 'att-face' });
  assert.equal(await evaluate(`document.querySelector('smartauth-dialog')`), null);
});

check('camera denied: a clear screen with back and close', async () => {
  await start(['face_authentication', 'email_authentication'], 'pt-BR');
  await waitScreen('choose');
  await evaluate(`navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('no', 'NotAllowedError'))`);
  await evaluate(`${root}.querySelector('[data-method=face_authentication]').click()`);
  await waitScreen('camera-denied');
  assert.equal(await text('title'), 'Permita o acesso à câmera');
  assert.equal(await evaluate(`!!${root}.querySelector('[data-sa=back]') && !${root}.querySelector('[data-sa=cancel]')`), true);
  assert.equal(await focused(), 'close');
  await shot('camera-denied-pt');
  await click('back');
  await waitScreen('choose');
  await press('Escape');
  assert.deepEqual(await result(), { attemptId: 'a1', isAuthorized: false, reason: 'cancelled' });
});

check('423 on send shows the locked screen, close resolves locked', async () => {
  await start(['sms_authentication'], 'en', { sendLocked: true });
  await waitScreen('locked');
  await shot('locked-en');
  await click('close');
  assert.deepEqual(await result(), { attemptId: 'a1', isAuthorized: false, reason: 'locked' });
});

let failed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n${e.stack}`);
    await shot(`FAIL-${checks.findIndex((c) => c[0] === name)}`).catch(() => {});
  }
}
console.log(failed ? `${failed} of ${checks.length} failed` : `all ${checks.length} passed`);
ws.close();
chrome.kill();
server.close();
process.exit(failed ? 1 : 0);
