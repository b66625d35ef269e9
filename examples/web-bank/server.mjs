// Banco Exemplo: a small bank backend that uses smartauth's web SDK before a Pix transfer.
// Node 20, standard library only (node:http, node:crypto, node:fs).
//
//   DEMO=1 CLIENT_ID=... CLIENT_SECRET=... SMARTAUTH_URL=http://127.0.0.1:8080 node server.mjs    (the demo, loopback only)
//   CLIENT_ID=... CLIENT_SECRET=... SMARTAUTH_URL=... node server.mjs     (no demo: plug your login in, createBank({authenticate}))
//
// What it does:
//   GET  /                     the page (public/), with a CSP that lets it load the SDK from SMARTAUTH_URL
//   GET  /api/config           where the SDK is, who is logged in (401 when nobody is)
//   POST /api/sdk-token        prepares the transfer and mints the SDK token bound to this person, policy and transfer
//   POST /api/transfer         {"attestation", "transaction"}: checks smartauth's attestation, then "executes" the transfer
// and only in demo mode (DEMO=1, which refuses to listen anywhere but on loopback):
//   GET  /api/config           also opens a session as the demo customer for whoever asks
//   POST /api/login            {"personId", "name"?} logs the browser in as that person (a real bank has its own login)
//   POST /sms                  the demo phone: smartauth's SMS gateway (SMARTAUTH_SMS_GATEWAY_URL=http://127.0.0.1:3000/sms?key=...)
//   GET  /api/inbox            the demo phone's messages to the logged-in person's number, newest last
//
// DEMO ONLY: NEVER COPY the demo handlers into a real bank. /api/login lets anyone become anyone, /sms is an
// SMS gateway anyone on the host can feed, and the inbox shows one-time codes in a web page. Without DEMO=1
// they do not exist; the codes then go through the real SMS gateway configured on the smartauth side.
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
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

/**
 * The personId as smartauth stores it, exactly as the server normalises it: a CPF written as
 * `ddd.ddd.ddd-dd` or as 11 digits becomes its 11 digits; anything else (`952360.980-76` included) is kept
 * as given (trimmed). The bank mints its SDK tokens with this form, and the attestation carries it back.
 */
export function normalizePerson(id) {
  const s = String(id ?? '').trim();
  return /^(?:\d{3}\.\d{3}\.\d{3}-\d{2}|\d{11})$/.test(s) ? s.replace(/\D/g, '') : s;
}

/** Whether `host` (a name or an address, IPv6 with or without brackets) is this machine's loopback. */
export function isLoopback(host) {
  const h = String(host ?? '').trim().replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1' || /^::ffff:127\.\d+\.\d+\.\d+$/.test(h) || /^(0+:){7}0*1$/.test(h);
  return false;
}

export class AttestationError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * Everything the bank checks before it moves money on smartauth's word. Throws AttestationError.
 * `personId` is the id the bank minted the SDK token for (normalizePerson's form), compared exactly.
 * `seen` (optional) is looked at, never written: an attestation already used is refused early with a clear
 * error; what marks it used is claimAttestation, right before the money moves.
 */
export function verifyAttestation(token, { secret, clientId, personId, policyId, transaction, seen, now = Date.now() / 1000, leeway = 5 }) {
  const c = verifyJwt(token, secret);
  if (c.iss !== 'smartauth') throw new AttestationError('bad_issuer', 'the attestation was not issued by smartauth');
  const aud = Array.isArray(c.aud) ? c.aud : [c.aud];
  if (!aud.includes(clientId)) throw new AttestationError('bad_audience', 'the attestation is for another client');
  if (typeof c.exp !== 'number' || c.exp + leeway <= now) throw new AttestationError('expired', 'the attestation has expired');
  if (typeof c.iat === 'number' && c.iat - leeway > now) throw new AttestationError('not_yet_valid', 'the attestation is issued in the future');
  if (c.isAuthorized !== true) throw new AttestationError('not_authorized', 'the attempt was not authorized');
  // Exactly the id the token was minted for: smartauth returns the personId it stored, which is the
  // normalised form the bank minted with. No loose matching of "the same digits" here.
  if (typeof c.personId !== 'string' || typeof personId !== 'string' || !personId || c.personId !== personId) {
    throw new AttestationError('wrong_person', 'the attestation is for another person');
  }
  if (c.policyId !== policyId) throw new AttestationError('wrong_policy', `the attestation is for policy ${c.policyId}, not ${policyId}`);
  // Transaction binding: the approval is for this transfer (amount, payee...) and no other.
  if (typeof c.transactionHash !== 'string' || c.transactionHash !== transactionHash(transaction)) {
    throw new AttestationError('transaction_mismatch', 'the attestation approves another transaction');
  }
  if (typeof c.attemptId !== 'string' || !c.attemptId) throw new AttestationError('malformed', 'the attestation has no attemptId');
  // Replay, early and read-only: a clear answer for an attestation posted twice. The decisive check is
  // claimAttestation's insert-if-absent, made after every other check.
  if (seen && replayKeys(c).some((k) => seen.has(k))) throw new AttestationError('replayed', 'this attestation was already used');
  return c;
}

function replayKeys(claims) {
  return [`attempt:${claims.attemptId}`, ...(typeof claims.jti === 'string' && claims.jti ? [`jti:${claims.jti}`] : [])];
}

/**
 * Marks a verified attestation used: an insert-if-absent on its attemptId (and jti). Returns false, and
 * marks nothing, when it was used already. Call it after every other check (a misrouted attestation must
 * not be burnt) and right before the money moves, with nothing asynchronous in between.
 *
 * `seen` is this process's memory: enough for this demo's one instance only (and forgotten on a restart,
 * while an attestation lives 120 s). Several instances behind a load balancer, or restarts, need a
 * store they all share, with an atomic insert-if-absent keyed on attemptId, never a read and then a
 * write: Redis `SET attempt:<attemptId> 1 NX EX <seconds until exp + 60>` (used when it answers nil), or
 * an INSERT into a table whose attemptId column is UNIQUE (used when it fails on the constraint), in the
 * same database transaction as the transfer.
 */
export function claimAttestation(seen, claims, now = Date.now() / 1000) {
  for (const [k, until] of seen) if (until < now) seen.delete(k);
  const keys = replayKeys(claims);
  if (keys.some((k) => seen.has(k))) return false;
  for (const k of keys) seen.set(k, (typeof claims.exp === 'number' ? claims.exp : now + 120) + 60);
  return true;
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
    language: options.language ?? env.BANK_LANGUAGE ?? 'pt-BR',
    tokenLifetime: Number(options.tokenLifetime ?? env.SDK_TOKEN_SECONDS ?? 300),
    // Demo mode: the demo login, the demo customer, the demo phone. Loopback only (see main and below).
    demo: options.demo ?? env.DEMO === '1',
    // Demo only: the customer anyone who opens the page becomes, and the key the demo phone's URL carries.
    personId: normalizePerson(options.personId ?? env.PERSON_ID ?? '952.360.980-76'),
    personName: options.personName ?? env.PERSON_NAME ?? 'Maria Silva',
    smsKey: options.smsKey ?? env.DEMO_SMS_KEY ?? '',
  };
  if (!cfg.clientId || !cfg.clientSecret) throw new Error('CLIENT_ID and CLIENT_SECRET are required');
  // The bank's own login, outside demo mode: (req) => {personId, name} for a logged-in customer, or null.
  const authenticate = options.authenticate ?? null;
  if (authenticate !== null && typeof authenticate !== 'function') throw new TypeError('authenticate must be a function (req) => {personId, name} | null');

  const sessions = new Map(); // demo only: session id -> {personId, name, pending: Map(transfer id -> transaction)}
  const people = new Map(); // with authenticate: personId -> {personId, name, pending}
  const seen = new Map(); // used attestations (one instance only: see claimAttestation)
  const inbox = []; // demo only: the demo phone's messages
  const transfers = []; // executed transfers

  function remember(map, key, value, max) {
    map.set(key, value);
    if (map.size > max) map.delete(map.keys().next().value);
    return value;
  }

  /** The logged-in person (and their prepared transfers), or null. */
  async function whoIs(req, res, { demoCreate = false } = {}) {
    if (cfg.demo) {
      // Demo only: never copy. The "login" is a cookie this server hands out to whoever asks.
      const cookie = /(?:^|;\s*)bank_session=([A-Za-z0-9_-]{43})/.exec(req.headers.cookie ?? '');
      const s = cookie && sessions.get(cookie[1]);
      if (s) return s;
      return demoCreate ? openDemoSession(res) : null;
    }
    if (!authenticate) return null;
    const who = await authenticate(req);
    if (!who || typeof who.personId !== 'string' || !who.personId.trim()) return null;
    const personId = normalizePerson(who.personId);
    const s = people.get(personId) ?? remember(people, personId, { personId, name: personId, pending: new Map() }, 10000);
    if (typeof who.name === 'string' && who.name.trim()) s.name = who.name.trim();
    return s;
  }

  /** Demo only: never copy. A new session as the demo customer. */
  function openDemoSession(res) {
    const id = base64url(crypto.randomBytes(32));
    const s = remember(sessions, id, { personId: cfg.personId, name: cfg.personName, pending: new Map(), phone: null }, 1000);
    res.setHeader('Set-Cookie', `bank_session=${id}; Path=/; HttpOnly; SameSite=Strict`);
    return s;
  }

  /** Demo only: the logged-in person's phone number (its digits), read from smartauth with a backend token. */
  async function phoneOf(s) {
    const now = Date.now();
    if (s.phone && s.phone.until > now) return s.phone.digits;
    let digits = null;
    try {
      const t = Math.floor(now / 1000);
      const backend = signJwt({ iss: cfg.clientId, iat: t, exp: t + 60 }, cfg.clientSecret);
      const r = await fetch(`${cfg.smartauthUrl}/identities/${encodeURIComponent(s.personId)}`, {
        headers: { Authorization: `Bearer ${backend}`, Accept: 'application/json' },
        signal: AbortSignal.timeout(3000),
      });
      if (r.ok) {
        const body = await r.json();
        digits = (typeof body.phone === 'string' && body.phone.replace(/\D/g, '')) || null;
      }
    } catch {
      /* smartauth does not answer: no messages this time */
    }
    s.phone = { digits, until: now + (digits ? 60000 : 5000) };
    return digits;
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

  // ---- demo only: never copy ------------------------------------------------------------------
  // These handlers exist only with DEMO=1, on loopback. In a real bank each one is a full bypass:
  // become anyone, feed SMS to anyone, read anyone's codes.
  async function handleDemo(route, req, res, url) {
    switch (route) {
      case 'POST /api/login': {
        // DEMO ONLY: NEVER COPY. Logs the browser in as whoever it names: it stands for the bank's own login,
        // so that the demo and the tests can switch customers.
        const body = await readJson(req);
        const personId = typeof body.personId === 'string' ? body.personId.trim() : '';
        if (!/^[A-Za-z0-9.\-_@+]{1,64}$/.test(personId)) return send(res, 400, { ok: false, error: 'personId is required' });
        const s = (await whoIs(req, res)) ?? openDemoSession(res);
        s.personId = normalizePerson(personId);
        s.name = typeof body.name === 'string' && body.name.trim() ? body.name.trim().slice(0, 100) : personId;
        s.pending.clear();
        s.phone = null;
        return send(res, 200, { ok: true, personId: s.personId, name: s.name });
      }
      case 'POST /sms': {
        // DEMO ONLY: NEVER COPY. The demo phone: smartauth's SMS gateway contract, {"to", "message"}; any 2xx
        // is success. With DEMO_SMS_KEY set (run.sh sets it), the gateway URL must carry ?key=<it>.
        if (cfg.smsKey) {
          const given = Buffer.from(url.searchParams.get('key') ?? '');
          const wanted = Buffer.from(cfg.smsKey);
          if (given.length !== wanted.length || !crypto.timingSafeEqual(given, wanted)) return send(res, 403, { ok: false, error: 'bad key' });
        }
        const body = await readJson(req);
        if (typeof body.to !== 'string' || typeof body.message !== 'string') return send(res, 400, { ok: false, error: 'to and message are required' });
        inbox.push({ at: new Date().toISOString(), to: body.to, digits: body.to.replace(/\D/g, ''), message: body.message });
        if (inbox.length > 200) inbox.shift();
        return send(res, 202, { ok: true });
      }
      case 'GET /api/inbox': {
        // DEMO ONLY: NEVER COPY. One-time codes belong on the person's phone, not in a web page. Even here,
        // only the messages to the logged-in person's own number (as smartauth has it).
        const s = await whoIs(req, res);
        if (!s) return send(res, 401, { ok: false, error: 'log in first' });
        const digits = await phoneOf(s);
        const mine = digits ? inbox.filter((m) => m.digits === digits) : [];
        return send(res, 200, { messages: mine.slice(-20).map(({ at, to, message }) => ({ at, to, message })) });
      }
      default:
        return false;
    }
  }
  // ---- end of demo only -----------------------------------------------------------------------

  async function handle(req, res) {
    const url = new URL(req.url, 'http://bank.invalid');
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /api/config': {
        // Demo only (never copy): in demo mode, whoever asks becomes the demo customer.
        const s = await whoIs(req, res, { demoCreate: true });
        if (!s) return send(res, 401, { ok: false, error: 'log in first', language: cfg.language });
        return send(res, 200, { smartauthUrl: cfg.smartauthUrl, personId: s.personId, name: s.name, language: cfg.language, policyId: cfg.policyId, demo: cfg.demo });
      }
      case 'POST /api/sdk-token': {
        await readJson(req);
        const s = await whoIs(req, res);
        if (!s) return send(res, 401, { ok: false, error: 'log in first' });
        // The bank decides what is being approved; the page only carries it to the SDK. The id makes
        // every transfer (and so its hash) unique, even for the same amount to the same payee.
        const transaction = { type: 'Pix', id: base64url(crypto.randomBytes(12)), amount: '150.00', currency: 'BRL', payee: 'João' };
        s.pending.set(transaction.id, transaction);
        if (s.pending.size > 20) s.pending.delete(s.pending.keys().next().value);
        const now = Math.floor(Date.now() / 1000);
        // s.personId is already in smartauth's stored form (normalizePerson): the attestation must carry it back unchanged.
        const token = signJwt(
          { iss: cfg.clientId, personId: s.personId, policyId: cfg.policyId, transactionHash: transactionHash(transaction), iat: now, exp: now + cfg.tokenLifetime },
          cfg.clientSecret,
        );
        return send(res, 200, { token, personId: s.personId, policyId: cfg.policyId, transaction });
      }
      case 'POST /api/transfer': {
        const body = await readJson(req);
        const s = await whoIs(req, res);
        if (!s) return send(res, 401, { ok: false, error: 'log in first' });
        const { attestation, transaction } = body;
        if (typeof attestation !== 'string' || !transaction || typeof transaction !== 'object' || Array.isArray(transaction)) {
          return send(res, 400, { ok: false, error: 'attestation (a JWT) and transaction (an object) are required' });
        }
        // From here to the transfer nothing is asynchronous: the checks, the claim and the transfer run as one step.
        let claims;
        try {
          claims = verifyAttestation(attestation, { secret: cfg.clientSecret, clientId: cfg.clientId, personId: s.personId, policyId: cfg.policyId, transaction, seen });
        } catch (e) {
          if (e instanceof AttestationError) return send(res, 403, { ok: false, error: e.code, message: e.message });
          return send(res, 400, { ok: false, error: 'bad_request', message: 'the transaction is not valid JSON data' });
        }
        // The hash matched, so this is the transfer the person approved; it must also be one this
        // session prepared (and not yet executed). Checked before the attestation is used up, so that an
        // attestation posted to the wrong place is refused without being burnt.
        const pending = s.pending.get(transaction.id);
        if (!pending || canonicalJson(pending) !== canonicalJson(transaction)) {
          return send(res, 400, { ok: false, error: 'unknown_transfer', message: 'this transfer was not prepared in this session' });
        }
        // Every check passed: use the attestation up (insert-if-absent on its attemptId), then execute.
        // Several instances need a shared store for this (see claimAttestation and the README).
        if (!claimAttestation(seen, claims)) return send(res, 403, { ok: false, error: 'replayed', message: 'this attestation was already used' });
        s.pending.delete(transaction.id);
        transfers.push({ at: new Date().toISOString(), personId: s.personId, attemptId: claims.attemptId, transaction });
        return send(res, 200, { ok: true, attemptId: claims.attemptId, isNewContext: claims.isNewContext ?? null, transaction });
      }
      default:
        if (cfg.demo && (await handleDemo(route, req, res, url)) !== false) return;
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
  if (cfg.demo) {
    // Demo mode never serves beyond this machine, however the server was started.
    server.on('listening', () => {
      const a = server.address();
      if (a && typeof a === 'object' && !isLoopback(a.address)) {
        server.close();
        throw new Error(`demo mode (DEMO=1) listens on loopback only, not on ${a.address}: its demo login and phone would let anyone in`);
      }
    });
  }

  return { server, config: cfg, inbox, transfers, sessions };
}

async function main() {
  const port = Number(process.env.PORT ?? 3000);
  const host = process.env.HOST ?? '127.0.0.1';
  const bank = createBank();
  if (bank.config.demo && !isLoopback(host)) {
    console.error(`server.mjs: demo mode (DEMO=1) refuses to listen on ${host}: only on loopback (127.0.0.1, ::1, localhost).`);
    console.error('Its demo login lets anyone become anyone and its demo phone shows the codes; never expose it.');
    process.exit(1);
  }
  if (!bank.config.demo) {
    console.log('No demo mode: /api/login, /sms and /api/inbox do not exist. Codes go through the SMS gateway configured on');
    console.log('the smartauth side (SMARTAUTH_SMS_GATEWAY_URL), and this server needs your login: createBank({authenticate}).');
  }
  bank.server.listen(port, host, () => {
    const { port: p } = bank.server.address();
    console.log(`Banco Exemplo on http://${host}:${p}/ (smartauth at ${bank.config.smartauthUrl}, policy ${bank.config.policyId}${bank.config.demo ? ', DEMO mode' : ''})`);
  });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => bank.server.close(() => process.exit(0)));
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
