// Creates the example's policy and customer in smartauth, with a backend token (HS256, iss = CLIENT_ID,
// no personId). Run by run.sh: CLIENT_ID=... CLIENT_SECRET=... SMARTAUTH_URL=... node setup.mjs
import { signJwt } from './server.mjs';

const { CLIENT_ID, CLIENT_SECRET } = process.env;
const API = (process.env.SMARTAUTH_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const POLICY_ID = process.env.POLICY_ID ?? 'pix-transfer';
const now = Math.floor(Date.now() / 1000);
const backend = signJwt({ iss: CLIENT_ID, iat: now, exp: now + 300 }, CLIENT_SECRET);

async function call(method, path, body, okStatuses = [200]) {
  const r = await fetch(API + path, { method, headers: { Authorization: `Bearer ${backend}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!okStatuses.includes(r.status)) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(data)}`);
  return { status: r.status, data };
}

// A Pix transfer: passive when the device (its key), the place and the network are known; otherwise
// a code by SMS (or email, when the server has SMTP).
const policy = await call('PUT', `/policies/${POLICY_ID}`, {
  name: 'Pix transfer',
  contexts: {
    device_context: { enabled: true, maxDevicesPerIdentity: 3, maxIdentitiesPerDevice: 2 },
    location_context: { enabled: true, maxAllowedDistanceInMeters: 50000, maxTravelSpeedKmh: 900 },
    network_context: { enabled: true, allowProxyOrVpn: false, allowTor: false, allowHosting: false },
  },
  maxAttemptsPerIdentity: { limit: 20, windowSeconds: 3600 },
  reauthenticationMethods: ['sms_authentication', 'email_authentication'],
  codes: { length: 6, ttlSeconds: 300, maxAttempts: 3, resendAfterSeconds: 30 },
});
for (const w of policy.data.warnings ?? []) console.log(`policy note: ${typeof w === 'string' ? w : JSON.stringify(w)}`);

const person = await call(
  'POST',
  '/identities',
  { personId: process.env.PERSON_ID ?? '952.360.980-76', name: process.env.PERSON_NAME ?? 'Maria Silva', phone: process.env.PERSON_PHONE ?? '5521982895497', email: 'maria@example.com' },
  [200, 409],
);
console.log(`policy ${POLICY_ID} and customer ${person.status === 409 ? 'already there' : 'created'}`);
