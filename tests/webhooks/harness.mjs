// What the webhook tests run against: the real smartauth binary (a temp data dir, a free port, the same
// data dir and port again after a SIGKILL), a webhook receiver and an SMS gateway that capture what they
// get, backend tokens minted with node:crypto, and the tenant's verification snippets (snippets/).
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SAO_PAULO, call, freePort, must, sleep, waitFor } from '../common/harness.mjs';

export { SAO_PAULO, call, freePort, must, sleep, startSmsCapture, waitFor } from '../common/harness.mjs';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '../..');
export const OUT = path.join(REPO, 'target/webhooks');
export const PYTHON = process.env.WEBHOOK_TEST_PYTHON ?? path.join(REPO, 'data/.venv/bin/python');
export const PHONE = '5521982895497';

// ---------------------------------------------------------------------------------------------
// Receivers: webhooks and SMS

/** Captures every POST: path, lower-case headers, the raw body bytes. Answers 204. */
export async function startReceiver() {
  const received = [];
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    received.push({ path: req.url.slice(1), headers: { ...req.headers }, raw: Buffer.concat(chunks), at: Date.now() });
    res.writeHead(204).end();
  });
  server.keepAliveTimeout = 1000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    received,
    at: (p) => received.filter((r) => r.path === p),
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

/** The code in an SMS: the WebOTP line's (`@host #12345678`) when there is one, else the run of `length` digits. */
export function codeOf(message, length) {
  const webotp = /#(\d{4,10})\s*$/.exec(message);
  if (webotp) return webotp[1];
  const m = new RegExp(`(?<!\\d)\\d{${length}}(?!\\d)`).exec(message);
  if (!m) throw new Error(`no ${length}-digit code in the SMS: ${JSON.stringify(message)}`);
  return m[0];
}

// ---------------------------------------------------------------------------------------------
// smartauth

/** An empty folder for SMARTAUTH_INTEL_DIR / SMARTAUTH_MODELS_DIR: the server starts in under a second
 *  without its data sets (their fields stay null), which the crash test's restarts need. */
export function emptyDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'smartauth-webhooks-empty-'));
}

/**
 * A smartauth process that can be killed and started again on the same data dir, port and environment.
 * `env`: extra settings (SMARTAUTH_*), merged over the defaults below.
 */
export class Smartauth {
  constructor({ env = {}, name = 'smartauth' } = {}) {
    this.bin = path.resolve(REPO, process.env.SMARTAUTH_BIN ?? 'target/debug/smartauth');
    if (!fs.existsSync(this.bin)) throw new Error(`${this.bin} does not exist: build it (cargo build) or set SMARTAUTH_BIN`);
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'smartauth-webhooks-'));
    this.dataDir = path.join(this.root, 'data');
    this.adminToken = `webhook-test-${crypto.randomBytes(8).toString('hex')}`;
    fs.mkdirSync(OUT, { recursive: true });
    this.logPath = path.join(OUT, `${name}.log`);
    fs.writeFileSync(this.logPath, '');
    this.extraEnv = env;
    this.proc = null;
    this.starts = 0;
  }

  async start() {
    if (!this.port) this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    const env = {
      ...process.env,
      SMARTAUTH_DATA_DIR: this.dataDir,
      SMARTAUTH_LISTEN: `127.0.0.1:${this.port}`,
      SMARTAUTH_ADMIN_TOKEN: this.adminToken,
      SMARTAUTH_ALLOW_PRIVATE_TARGETS: 'true',
      SMARTAUTH_WEBHOOK_RETRY_SECONDS: '1,1,1',
      SMARTAUTH_WEBHOOK_TIMEOUT_SECONDS: '5',
      // Every request comes from 127.0.0.1: the per-address throttles would count the whole suite as one client.
      SMARTAUTH_THROTTLE_SDK_PER_MINUTE: '0',
      SMARTAUTH_THROTTLE_DEVICE_PER_MINUTE: '0',
      SMARTAUTH_THROTTLE_AUTH_FAILURES_PER_MINUTE: '0',
      SMARTAUTH_LOG_FORMAT: 'text',
      ...this.extraEnv,
    };
    delete env.SMARTAUTH_SMTP_URL;
    delete env.SMARTAUTH_DATABASE_URL;
    fs.appendFileSync(this.logPath, `\n===== start ${++this.starts} at ${new Date().toISOString()} =====\n`);
    const log = fs.openSync(this.logPath, 'a');
    const proc = spawn(this.bin, ['serve'], { env, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.proc = proc;
    proc.exited = null;
    proc.exitPromise = new Promise((r) => proc.once('exit', (code, sig) => { proc.exited = { code, sig }; r(proc.exited); }));
    await waitFor(
      async () => {
        if (proc.exited) throw new Error(`smartauth exited (${JSON.stringify(proc.exited)}); log ${this.logPath}:\n${fs.readFileSync(this.logPath, 'utf8').slice(-3000)}`);
        return (await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(2000) })).ok;
      },
      { timeout: 120000, interval: 100, what: `smartauth on ${this.url} (log: ${this.logPath})` },
    ).catch((e) => {
      proc.kill('SIGKILL');
      throw e;
    });
    return this;
  }

  /** SIGKILL: no shutdown, no flush, whatever was in flight is lost unless it was committed. */
  async kill() {
    const proc = this.proc;
    if (!proc || proc.exited) return;
    proc.kill('SIGKILL');
    await proc.exitPromise;
  }

  async stop() {
    const proc = this.proc;
    if (!proc || proc.exited) return;
    proc.kill('SIGTERM');
    await Promise.race([proc.exitPromise, sleep(10000)]);
    if (!proc.exited) await this.kill();
  }

  cleanup() {
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  admin(method, pathname, body) {
    return call(this.url, method, pathname, this.adminToken, body);
  }

  async newTenant(name = 'webhook tests') {
    const created = must(await this.admin('POST', '/admin/clients', { name }), 'POST /admin/clients');
    return new Tenant(this, created.clientId, created.clientSecret);
  }
}

/** A JSON call; returns {status, body}. */
const b64url = (x) => Buffer.from(x).toString('base64url');

/** An HS256 JWT. */
export function signJwt(claims, secret) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  return `${head}.${body}.${crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url')}`;
}

export class Tenant {
  constructor(server, clientId, secret) {
    Object.assign(this, { server, clientId, secret });
  }
  /** A backend token: iss = clientId, no personId (the whole tenant). */
  backend() {
    const now = Math.floor(Date.now() / 1000);
    return signJwt({ iss: this.clientId, iat: now, exp: now + 300 }, this.secret);
  }
  call(method, pathname, body, opts) {
    return call(this.server.url, method, pathname, this.backend(), body, opts);
  }
  async setPolicy(policyId, overrides = {}) {
    const policy = {
      name: 'Pix transfer (webhook tests)',
      contexts: {
        device_context: { enabled: true, maxDevicesPerIdentity: 3, maxIdentitiesPerDevice: 1000 },
        location_context: { enabled: true, maxAllowedDistanceInMeters: 50000, maxTravelSpeedKmh: 900 },
        network_context: { enabled: true },
      },
      maxAttemptsPerIdentity: { limit: 100, windowSeconds: 3600 },
      reauthenticationMethods: ['sms_authentication'],
      codes: { length: 8, ttlSeconds: 300, maxAttempts: 3, resendAfterSeconds: 30 },
      ...overrides,
    };
    return must(await this.call('PUT', `/policies/${policyId}`, policy), `PUT /policies/${policyId}`);
  }
  async createIdentity(personId, extra = {}) {
    const body = { personId, name: 'John Doe', phone: PHONE, ...extra };
    return must(await this.call('POST', '/identities', body), `POST /identities ${personId}`);
  }
  /** POST /authentications with the backend token and personId in the body. */
  attempt(personId, policyId, fingerPrint, location = SAO_PAULO, opts) {
    return this.call('POST', '/authentications', {
      personId,
      policyId,
      context: {
        device: { type: 'web', fingerPrint, userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/127.0.0.0' },
        location,
      },
    }, opts);
  }
  async subscribe(url, events) {
    const hook = must(await this.call('POST', '/webhooks', { url, events, description: 'webhook tests' }), 'POST /webhooks');
    if (!/^whsec_/.test(hook.secret)) throw new Error(`the webhook secret is not whsec_...: ${JSON.stringify(hook)}`);
    return hook;
  }
  /** Every delivery of a subscription, following the cursor. */
  async deliveries(webhookId) {
    const all = [];
    let cursor = null;
    for (;;) {
      const q = `limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = must(await this.call('GET', `/webhooks/${webhookId}/deliveries?${q}`), 'GET deliveries');
      all.push(...page.items);
      if (!page.nextCursor) return all;
      cursor = page.nextCursor;
    }
  }
  /** A pending attempt stepped up by SMS: send, read the code from the capture, verify. Returns the verify answer. */
  async approveBySms(attemptId, sms) {
    const before = sms.messages.length;
    must(await this.call('POST', `/authentications/${attemptId}/methods/sms_authentication/send`, {}), 'sms send');
    const message = await waitFor(() => sms.messages[before], { what: 'the SMS' });
    const code = codeOf(message.message, 8);
    return must(await this.call('POST', `/authentications/${attemptId}/methods/sms_authentication/verify`, { code }), 'sms verify');
  }
}

// ---------------------------------------------------------------------------------------------
// Checking a delivery with the Python snippet (PyPI standardwebhooks)

/** Pipes one delivery (raw body, headers) to verify_cli.py, which runs snippets/verify_delivery.py. */
export function pythonVerify(raw, headers, secrets, clientSecret) {
  const input = JSON.stringify({ body: raw.toString('base64'), headers, secrets, clientSecret });
  const r = spawnSync(PYTHON, [path.join(HERE, 'verify_cli.py')], { input, encoding: 'utf8', timeout: 30000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  if (r.status !== 0) throw new Error(`verify_cli.py failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}
