// Banco Exemplo: a small bank backend that uses smartauth's web SDK before a Pix transfer.
// Node 20, standard library only (node:http, node:crypto, node:fs).
//
//   CLIENT_ID=... CLIENT_SECRET=... SMARTAUTH_URL=http://127.0.0.1:8080 node server.mjs
//
// What it does:
//   GET  /                     the page (public/), with a CSP that lets it load the SDK from SMARTAUTH_URL
//   GET  /api/config           where the SDK is, who is logged in
//   POST /api/login            demo only: {"personId", "name"?} logs the browser in as that person (a real bank has its own login)
//   POST /api/sdk-token        prepares the transfer and mints the SDK token bound to this person, policy and transfer
//   POST /api/transfer         {"attestation", "transaction"}: checks smartauth's attestation, then "executes" the transfer
//   POST /sms                  the demo phone: smartauth's SMS gateway (SMARTAUTH_SMS_GATEWAY_URL=http://127.0.0.1:3000/sms)
//   GET  /api/inbox            the demo phone's messages, newest last
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------------------------------------
// JWT (HS256) and the transaction hash

export function base64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

/** An HS256 JWT over `claims`, signed with `secret`. */
export function signJwt(claims, secret) {
  const head = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = base64url(JSON.stringify(claims));
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest();
  return `${head}.${body}.${base64url(sig)}`;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

/** Checks an HS256 JWT's form, header and signature (in constant time); returns its claims, or throws. */
export function verifyJwt(token, secret) {
  if (typeof token !== 'string' || token.length > 8192) throw new AttestationError('malformed', 'the attestation is not a JWT');
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p)) || !parts[0] || !parts[1]) {
    throw new AttestationError('malformed', 'the attestation is not a JWT');
  }
  let header;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
  } catch {
    throw new AttestationError('malformed', 'the attestation header is not JSON');
  }
  // Only HS256: "none", RS256 with the secret as a "public key" and the like are refused before anything else.
  if (!header || header.alg !== 'HS256') throw new AttestationError('bad_algorithm', 'the attestation must be HS256');
  if ('crit' in header) throw new AttestationError('bad_header', 'the attestation header has extensions (crit)');
  const expected = crypto.createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], 'base64url');
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    throw new AttestationError('bad_signature', 'the attestation signature is not valid');
  }
  let claims;
  try {
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    throw new AttestationError('malformed', 'the attestation claims are not JSON');
  }
  if (!claims || typeof claims !== 'object' || Array.isArray(claims)) throw new AttestationError('malformed', 'the attestation claims are not an object');
  return claims;
}

/**
 * RFC 8785 (JCS) canonical JSON. For JSON values made of objects, arrays, strings, integers and
 * booleans, ECMAScript's JSON.stringify of each primitive, with object members sorted by their
 * names' UTF-16 code units (what Array.prototype.sort compares), is exactly JCS.
 */
export function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('numbers must be finite');
  if (value === undefined || typeof value === 'function' || typeof value === 'bigint') throw new TypeError('not a JSON value');
  return JSON.stringify(value);
}

/** What smartauth puts in the attestation's transactionHash: lowercase hex SHA-256 of the JCS form. */
export function transactionHash(transaction) {
  return crypto.createHash('sha256').update(canonicalJson(transaction), 'utf8').digest('hex');
}

/** smartauth stores a CPF as its 11 digits; any other identifier as given. */
export function normalizePerson(id) {
  const s = String(id ?? '').trim();
  return /^\d{3}\.?\d{3}\.?\d{3}-?\d{2}$/.test(s) ? s.replace(/\D/g, '') : s;
}

export class AttestationError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * Everything the bank checks before it moves money on smartauth's word. Throws AttestationError.
 * `seen` remembers attestations already used (attemptId and jti), so that one approval moves money once.
 */
export function verifyAttestation(token, { secret, clientId, personId, policyId, transaction, seen, now = Date.now() / 1000, leeway = 5 }) {
  const c = verifyJwt(token, secret);
  if (c.iss !== 'smartauth') throw new AttestationError('bad_issuer', 'the attestation was not issued by smartauth');
  const aud = Array.isArray(c.aud) ? c.aud : [c.aud];
  if (!aud.includes(clientId)) throw new AttestationError('bad_audience', 'the attestation is for another client');
  if (typeof c.exp !== 'number' || c.exp + leeway <= now) throw new AttestationError('expired', 'the attestation has expired');
  if (typeof c.iat === 'number' && c.iat - leeway > now) throw new AttestationError('not_yet_valid', 'the attestation is issued in the future');
  if (c.isAuthorized !== true) throw new AttestationError('not_authorized', 'the attempt was not authorized');
  if (normalizePerson(c.personId) !== normalizePerson(personId)) {
    throw new AttestationError('wrong_person', 'the attestation is for another person');
  }
  if (c.policyId !== policyId) throw new AttestationError('wrong_policy', `the attestation is for policy ${c.policyId}, not ${policyId}`);
  // Transaction binding: the approval is for this transfer (amount, payee...) and no other.
  if (typeof c.transactionHash !== 'string' || c.transactionHash !== transactionHash(transaction)) {
    throw new AttestationError('transaction_mismatch', 'the attestation approves another transaction');
  }
  if (typeof c.attemptId !== 'string' || !c.attemptId) throw new AttestationError('malformed', 'the attestation has no attemptId');
  // Replay: an attestation lives 120 s; within that time it is accepted once.
  if (seen) {
    const keys = [`attempt:${c.attemptId}`, ...(typeof c.jti === 'string' ? [`jti:${c.jti}`] : [])];
    if (keys.some((k) => seen.has(k))) throw new AttestationError('replayed', 'this attestation was already used');
    for (const k of keys) seen.set(k, c.exp + 60);
    for (const [k, until] of seen) if (until < now) seen.delete(k);
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// The bank

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };

export function createBank(options = {}) {
  const env = process.env;
  const cfg = {
    clientId: options.clientId ?? env.CLIENT_ID,
    clientSecret: options.clientSecret ?? env.CLIENT_SECRET,
    smartauthUrl: (options.smartauthUrl ?? env.SMARTAUTH_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, ''),
    policyId: options.policyId ?? env.POLICY_ID ?? 'pix-transfer',
    personId: options.personId ?? env.PERSON_ID ?? '952.360.980-76',
    personName: options.personName ?? env.PERSON_NAME ?? 'Maria Silva',
    language: options.language ?? env.BANK_LANGUAGE ?? 'pt-BR',
    tokenLifetime: Number(options.tokenLifetime ?? env.SDK_TOKEN_SECONDS ?? 300),
  };
  if (!cfg.clientId || !cfg.clientSecret) throw new Error('CLIENT_ID and CLIENT_SECRET are required');

  const sessions = new Map(); // session id -> {personId, name, pending: Map(transfer id -> transaction)}
  const seen = new Map(); // used attestations
  const inbox = []; // the demo phone's messages
  const transfers = []; // executed transfers

  function session(req, res, create) {
    const cookie = /(?:^|;\s*)bank_session=([A-Za-z0-9_-]{43})/.exec(req.headers.cookie ?? '');
    let s = cookie && sessions.get(cookie[1]);
    if (!s && create) {
      const id = base64url(crypto.randomBytes(32));
      s = { personId: cfg.personId, name: cfg.personName, pending: new Map() };
      sessions.set(id, s);
      res.setHeader('Set-Cookie', `bank_session=${id}; Path=/; HttpOnly; SameSite=Strict`);
    }
    return s;
  }

  function send(res, status, body) {
    const data = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(data);
  }

  async function readJson(req) {
    const type = req.headers['content-type'] ?? '';
    // JSON only: a cross-site form cannot send it without a CORS preflight, which this server never allows.
    if (!type.startsWith('application/json')) throw Object.assign(new Error('send application/json'), { status: 415 });
    let size = 0;
    const chunks = [];
    for await (const chunk of req) {
      size += chunk.length;
      if (size > 64 * 1024) throw Object.assign(new Error('body too large'), { status: 413 });
      chunks.push(chunk);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    } catch {
      throw Object.assign(new Error('the body is not JSON'), { status: 400 });
    }
  }

  function serveStatic(req, res, pathname) {
    const name = pathname === '/' ? 'index.html' : pathname.slice(1);
    if (!/^[a-z0-9-]+\.(html|js|css|svg)$/.test(name)) return send(res, 404, { ok: false, error: 'not found' });
    const file = path.join(HERE, 'public', name);
    fs.readFile(file, (err, data) => {
      if (err) return send(res, 404, { ok: false, error: 'not found' });
      const sa = cfg.smartauthUrl;
      res.writeHead(200, {
        'Content-Type': TYPES[path.extname(name)],
        'Cache-Control': 'no-store',
        // The SDK is a module from smartauth's origin, calls it, and shows the camera in a video element.
        'Content-Security-Policy': `default-src 'self'; script-src 'self' ${sa}; connect-src 'self' ${sa}; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`,
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        'Permissions-Policy': 'camera=(self), geolocation=(self), otp-credentials=(self)',
      });
      res.end(data);
    });
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://bank.invalid');
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /api/config': {
        const s = session(req, res, true);
        return send(res, 200, { smartauthUrl: cfg.smartauthUrl, personId: s.personId, name: s.name, language: cfg.language, policyId: cfg.policyId });
      }
      case 'POST /api/login': {
        // Demo only: it stands for the bank's own login, so that one bank can show several customers.
        const body = await readJson(req);
        const personId = typeof body.personId === 'string' ? body.personId.trim() : '';
        if (!/^[A-Za-z0-9.\-_@+]{1,64}$/.test(personId)) return send(res, 400, { ok: false, error: 'personId is required' });
        const s = session(req, res, true);
        s.personId = personId;
        s.name = typeof body.name === 'string' && body.name.trim() ? body.name.trim().slice(0, 100) : personId;
        s.pending.clear();
        return send(res, 200, { ok: true, personId: s.personId, name: s.name });
      }
      case 'POST /api/sdk-token': {
        await readJson(req);
        const s = session(req, res, false);
        if (!s) return send(res, 401, { ok: false, error: 'log in first' });
        // The bank decides what is being approved; the page only carries it to the SDK. The id makes
        // every transfer (and so its hash) unique, even for the same amount to the same payee.
        const transaction = { type: 'Pix', id: base64url(crypto.randomBytes(12)), amount: '150.00', currency: 'BRL', payee: 'João' };
        s.pending.set(transaction.id, transaction);
        if (s.pending.size > 20) s.pending.delete(s.pending.keys().next().value);
        const now = Math.floor(Date.now() / 1000);
        const token = signJwt(
          { iss: cfg.clientId, personId: s.personId, policyId: cfg.policyId, transactionHash: transactionHash(transaction), iat: now, exp: now + cfg.tokenLifetime },
          cfg.clientSecret,
        );
        return send(res, 200, { token, personId: s.personId, policyId: cfg.policyId, transaction });
      }
      case 'POST /api/transfer': {
        const body = await readJson(req);
        const s = session(req, res, false);
        if (!s) return send(res, 401, { ok: false, error: 'log in first' });
        const { attestation, transaction } = body;
        if (typeof attestation !== 'string' || !transaction || typeof transaction !== 'object' || Array.isArray(transaction)) {
          return send(res, 400, { ok: false, error: 'attestation (a JWT) and transaction (an object) are required' });
        }
        let claims;
        try {
          claims = verifyAttestation(attestation, { secret: cfg.clientSecret, clientId: cfg.clientId, personId: s.personId, policyId: cfg.policyId, transaction, seen });
        } catch (e) {
          if (e instanceof AttestationError) return send(res, 403, { ok: false, error: e.code, message: e.message });
          return send(res, 400, { ok: false, error: 'bad_request', message: 'the transaction is not valid JSON data' });
        }
        // The hash matched, so this is the transfer the person approved; it must also be one this
        // session prepared (and not yet executed).
        const pending = s.pending.get(transaction.id);
        if (!pending || canonicalJson(pending) !== canonicalJson(transaction)) {
          return send(res, 400, { ok: false, error: 'unknown_transfer', message: 'this transfer was not prepared in this session' });
        }
        s.pending.delete(transaction.id);
        transfers.push({ at: new Date().toISOString(), personId: s.personId, attemptId: claims.attemptId, transaction });
        return send(res, 200, { ok: true, attemptId: claims.attemptId, isNewContext: claims.isNewContext ?? null, transaction });
      }
      case 'POST /sms': {
        // smartauth's SMS gateway contract: {"to", "message"}; any 2xx is success.
        const body = await readJson(req);
        if (typeof body.to !== 'string' || typeof body.message !== 'string') return send(res, 400, { ok: false, error: 'to and message are required' });
        inbox.push({ at: new Date().toISOString(), to: body.to, message: body.message });
        if (inbox.length > 100) inbox.shift();
        return send(res, 202, { ok: true });
      }
      case 'GET /api/inbox': {
        if (!session(req, res, false)) return send(res, 401, { ok: false, error: 'log in first' });
        return send(res, 200, { messages: inbox.slice(-20) });
      }
      default:
        if (req.method === 'GET' || req.method === 'HEAD') return serveStatic(req, res, url.pathname);
        return send(res, 404, { ok: false, error: 'not found' });
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) send(res, e.status ?? 500, { ok: false, error: e.status ? e.message : 'internal error' });
      else res.end();
    });
  });

  return { server, config: cfg, inbox, transfers, sessions };
}

async function main() {
  const bank = createBank();
  const port = Number(process.env.PORT ?? 3000);
  const host = process.env.HOST ?? '127.0.0.1';
  bank.server.listen(port, host, () => {
    const { port: p } = bank.server.address();
    console.log(`Banco Exemplo on http://${host}:${p}/ (smartauth at ${bank.config.smartauthUrl}, policy ${bank.config.policyId})`);
  });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => bank.server.close(() => process.exit(0)));
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
