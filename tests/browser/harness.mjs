// What the browser tests run against: the real smartauth binary (fresh data dir, free port), an SMS
// gateway that captures the messages, the web-bank example's backend (examples/web-bank/server.mjs,
// spawned as `node server.mjs`), and Debian's chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { signJwt } from '../../examples/web-bank/server.mjs';
import { SAO_PAULO, call, freePort, must, sleep, waitFor } from '../common/harness.mjs';

export { SAO_PAULO, call, freePort, must, sleep, startSmsCapture, waitFor } from '../common/harness.mjs';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const OUT = path.join(REPO, 'target/browser');
export const SHOTS = path.join(OUT, 'screenshots');
export const ADMIN_TOKEN = `browser-test-${crypto.randomBytes(8).toString('hex')}`;
/** The code of a message: the WebOTP line `@host #123456` ends it. */
export function codeOf(message) {
  const m = /@([^\s#]+) #(\d{4,10})\s*$/.exec(message);
  if (!m) throw new Error(`no WebOTP line at the end of the SMS: ${JSON.stringify(message)}`);
  return { host: m[1], code: m[2] };
}

// ---------------------------------------------------------------------------------------------
// smartauth

export async function startSmartauth({ smsUrl }) {
  const bin = path.resolve(REPO, process.env.SMARTAUTH_BIN ?? 'target/debug/smartauth');
  if (!fs.existsSync(bin)) throw new Error(`${bin} does not exist: build it (cargo build) or set SMARTAUTH_BIN`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'smartauth-browser-'));
  const port = await freePort();
  fs.mkdirSync(OUT, { recursive: true });
  const logPath = path.join(OUT, 'smartauth.log');
  const log = fs.openSync(logPath, 'w');
  const env = {
    ...process.env,
    SMARTAUTH_DATA_DIR: path.join(dataDir, 'data'),
    SMARTAUTH_LISTEN: `127.0.0.1:${port}`,
    SMARTAUTH_ADMIN_TOKEN: ADMIN_TOKEN,
    SMARTAUTH_SMS_GATEWAY_URL: smsUrl,
    SMARTAUTH_INTEL_DIR: process.env.SMARTAUTH_INTEL_DIR ?? path.join(REPO, 'data/intel'),
    SMARTAUTH_MODELS_DIR: process.env.SMARTAUTH_MODELS_DIR ?? path.join(REPO, 'data/models'),
    // Every request comes from 127.0.0.1: the per-address throttles would count the whole suite as one client.
    SMARTAUTH_THROTTLE_SDK_PER_MINUTE: '0',
    SMARTAUTH_THROTTLE_DEVICE_PER_MINUTE: '0',
    SMARTAUTH_THROTTLE_AUTH_FAILURES_PER_MINUTE: '0',
    SMARTAUTH_LOG_FORMAT: 'text',
  };
  delete env.SMARTAUTH_SMTP_URL;
  const proc = spawn(bin, ['serve'], { env, stdio: ['ignore', log, log] });
  const url = `http://127.0.0.1:${port}`;
  let exited = null;
  proc.on('exit', (code, sig) => (exited = { code, sig }));
  await waitFor(
    async () => {
      if (exited) throw new Error(`smartauth exited (${JSON.stringify(exited)}); log: ${logPath}\n${fs.readFileSync(logPath, 'utf8').slice(-3000)}`);
      return (await fetch(`${url}/health`)).ok;
    },
    { timeout: 120000, interval: 200, what: `smartauth on ${url} (log: ${logPath})` },
  ).catch((e) => {
    proc.kill('SIGKILL');
    throw e;
  });
  return {
    url,
    logPath,
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(5000)]);
        if (!exited) proc.kill('SIGKILL');
      }
      fs.closeSync(log);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A JSON call; returns {status, body, headers}. */
export class Tenant {
  constructor(api, clientId, secret) {
    Object.assign(this, { api, clientId, secret });
  }
  backend() {
    const now = Math.floor(Date.now() / 1000);
    return signJwt({ iss: this.clientId, iat: now, exp: now + 300 }, this.secret);
  }
  call(method, pathname, body) {
    return call(this.api, method, pathname, this.backend(), body);
  }
  /** The test policy: device key known + known place = passive; otherwise the given methods. */
  async setPolicy(policyId, { methods = ['sms_authentication'], allowAutomation = true, codes = {} } = {}) {
    const device = { enabled: true, maxDevicesPerIdentity: 3, maxIdentitiesPerDevice: 1000 };
    if (allowAutomation !== undefined && allowAutomation !== null) device.allowAutomation = allowAutomation;
    const policy = {
      name: 'Pix transfer (browser tests)',
      contexts: {
        device_context: device,
        location_context: { enabled: true, maxAllowedDistanceInMeters: 50000, maxTravelSpeedKmh: 900 },
        network_context: { enabled: true },
      },
      maxAttemptsPerIdentity: { limit: 100, windowSeconds: 3600 },
      reauthenticationMethods: methods,
      codes: { length: 6, ttlSeconds: 300, maxAttempts: 3, resendAfterSeconds: 30, ...codes },
    };
    return must(await this.call('PUT', `/policies/${policyId}`, policy), `PUT /policies/${policyId}`);
  }
  async createIdentity(person, { image } = {}) {
    const body = { personId: person.personId, name: person.name, phone: person.phone, email: person.email };
    if (image) body.image = fs.readFileSync(path.join(REPO, 'data/test-fixtures/faces', image)).toString('base64');
    return must(await this.call('POST', '/identities', body), `POST /identities ${person.personId}`);
  }
  async attempt(attemptId) {
    return must(await this.call('GET', `/authentications/${attemptId}`), `GET /authentications/${attemptId}`);
  }
}

export async function createTenant(api, { name, displayName, language, allowedOrigins }) {
  const created = must(await call(api, 'POST', '/admin/clients', ADMIN_TOKEN, { name }), 'POST /admin/clients');
  must(await call(api, 'PATCH', `/admin/clients/${created.clientId}`, ADMIN_TOKEN, { displayName, language, allowedOrigins }), 'PATCH /admin/clients');
  return new Tenant(api, created.clientId, created.clientSecret);
}

export async function patchClient(api, clientId, body) {
  return must(await call(api, 'PATCH', `/admin/clients/${clientId}`, ADMIN_TOKEN, body), `PATCH /admin/clients/${clientId}`);
}

let serial = 0;
/** A new customer: unique id, name and mobile number (the code caps count per person and per number). */
export function newPerson(label) {
  serial += 1;
  const n = String(Date.now() % 1e6).padStart(6, '0') + String(serial).padStart(2, '0');
  return { personId: `cliente-${label}-${n}`, name: `Cliente ${label}`, phone: `55119${n}`, email: `${label}-${n}@example.com` };
}

// ---------------------------------------------------------------------------------------------
// The bank

export async function startBank({ tenant, smartauthUrl, port, policyId }) {
  const logPath = path.join(OUT, `bank-${port}.log`);
  const log = fs.openSync(logPath, 'w');
  const proc = spawn(process.execPath, [path.join(REPO, 'examples/web-bank/server.mjs')], {
    // DEMO=1: the demo login (POST /api/login) the tests switch customers with; loopback only.
    env: { ...process.env, DEMO: '1', PORT: String(port), HOST: '127.0.0.1', CLIENT_ID: tenant.clientId, CLIENT_SECRET: tenant.secret, SMARTAUTH_URL: smartauthUrl, POLICY_ID: policyId, BANK_LANGUAGE: 'en' },
    stdio: ['ignore', log, log],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/style.css`)).ok, { timeout: 10000, what: `the bank on ${url} (log ${logPath})` });
  return {
    url,
    async stop() {
      proc.kill('SIGTERM');
      await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(3000)]);
      fs.closeSync(log);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The browser

export function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('chromium is not installed (apt-get install -y chromium), or set CHROMIUM');
  }
}

/** A chromium whose camera plays `video` (a y4m file); `camera: 'denied'` refuses the permission instead of granting it. */
export async function launchBrowser({ video, camera = 'granted' }) {
  const args = [
    '--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${video}`,
  ];
  // --use-fake-ui-for-media-stream accepts the camera prompt; without it, --deny-permission-prompts answers "Block".
  args.push(camera === 'granted' ? '--use-fake-ui-for-media-stream' : '--deny-permission-prompts');
  return chromium.launch({ executablePath: chromiumPath(), args, timeout: 60000 });
}

/** A fresh profile (no cookies, no IndexedDB: no device key) in São Paulo. */
export async function newProfile(browser, bankUrl, { locale = 'en-US' } = {}) {
  const context = await browser.newContext({
    viewport: { width: 1100, height: 820 },
    locale,
    timezoneId: 'America/Sao_Paulo',
    geolocation: SAO_PAULO,
  });
  await context.grantPermissions(['geolocation'], { origin: bankUrl });
  // Records every screen the SDK's dialog shows, so that a test can tell "no dialog appeared".
  await context.addInitScript(() => {
    window.__saScreens = [];
    setInterval(() => {
      const d = document.querySelector('smartauth-dialog')?.shadowRoot?.querySelector('[role=dialog]');
      const s = d?.getAttribute('data-screen');
      if (s && window.__saScreens.at(-1) !== s) window.__saScreens.push(s);
    }, 25);
  });
  context.setDefaultTimeout(20000);
  return context;
}

export async function login(context, bankUrl, person) {
  const r = await context.request.post(`${bankUrl}/api/login`, { data: { personId: person.personId, name: person.name } });
  if (r.status() !== 200) throw new Error(`bank login: ${r.status()} ${await r.text()}`);
}

/** Opens the bank's page and waits until the SDK is loaded (the transfer button is enabled). */
export async function openBank(context, bankUrl, { lang = 'en' } = {}) {
  const page = await context.newPage();
  page.__log = [];
  page.on('console', (m) => page.__log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => page.__log.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => page.__log.push(`requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) page.__log.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
  });
  await page.goto(`${bankUrl}/?lang=${lang}`);
  await waitFor(async () => (await page.locator('#transfer').isEnabled()) || (await page.locator('#result[data-state=error]').count()), { what: 'the SDK to load (transfer button enabled)' });
  const err = await page.locator('#result[data-state=error]').count();
  if (err) throw new Error(`the page failed to load the SDK: ${await page.locator('#result').textContent()}\n${page.__log.join('\n')}`);
  return page;
}

export const dialog = (page) => page.locator('smartauth-dialog [role=dialog]');
export const sa = (page, name) => page.locator(`smartauth-dialog [data-sa="${name}"]`);

export async function screenOf(page) {
  const d = dialog(page);
  if (!(await d.count())) return null;
  return d.first().getAttribute('data-screen');
}

export async function waitScreen(page, name, timeout = 20000) {
  await waitFor(async () => (await screenOf(page)) === name, { timeout, what: `the dialog's "${name}" screen (now: ${await screenOf(page).catch(() => '?')})` }).catch(async (e) => {
    e.message += `\nscreens seen: ${JSON.stringify(await page.evaluate(() => window.__saScreens).catch(() => null))}\n${page.__log?.join('\n') ?? ''}`;
    throw e;
  });
}

/** Waits for the page's result: {state, text, reason, verify, transfer}. */
export async function waitResult(page, timeout = 30000) {
  await page.locator('#result[data-state=approved], #result[data-state=refused], #result[data-state=error]').waitFor({ timeout }).catch(async (e) => {
    e.message += `\nscreen: ${await screenOf(page).catch(() => '?')}; screens seen: ${JSON.stringify(await page.evaluate(() => window.__saScreens).catch(() => null))}\n${page.__log?.join('\n') ?? ''}`;
    throw e;
  });
  return page.evaluate(() => {
    const r = document.querySelector('#result');
    return { state: r.dataset.state, text: r.textContent, reason: r.dataset.reason ?? null, verify: window.bankDemo.verify, transfer: window.bankDemo.transfer, last: window.bankDemo.last, screens: window.__saScreens };
  });
}

export async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

/** The element that has the focus, through the dialog's shadow root: {host, sa, tag}. */
export async function focused(page) {
  return page.evaluate(() => {
    let el = document.activeElement;
    let host = null;
    while (el?.shadowRoot?.activeElement) {
      host = el.tagName.toLowerCase();
      el = el.shadowRoot.activeElement;
    }
    return { host, tag: el?.tagName?.toLowerCase() ?? null, id: el?.id || null, sa: el?.getAttribute?.('data-sa') ?? null, method: el?.getAttribute?.('data-method') ?? null };
  });
}
