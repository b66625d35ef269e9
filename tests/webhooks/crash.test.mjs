// At-least-once under SIGKILL: parallel loops of POST /authentications while the server is killed (SIGKILL)
// at random moments and started again on the same data dir, port and master key. Every attempt that was
// answered 2xx must exist afterwards with the same status, and its authentication.<status> event must have
// reached the receiver at least once (duplicates, deduplicated by webhook-id, are allowed and counted).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';

import { verifyDelivery } from './snippets/verify_delivery.mjs';
import { OUT, SAO_PAULO, Smartauth, emptyDir, must, sleep, startReceiver, startSmsCapture, waitFor } from './harness.mjs';

const KILLS = Number(process.env.WEBHOOK_CRASH_KILLS ?? 6);
const LOOPS = Number(process.env.WEBHOOK_CRASH_LOOPS ?? 4);
const PERSONS = ['p0', 'p1', 'p2', 'p3'];
const RIO = { latitude: -22.9068, longitude: -43.1729, accuracy: 20 };

let server;
let receiver;
let sms;
after(async () => {
  await server?.stop();
  if (process.env.WEBHOOK_KEEP_DATA !== '1') server?.cleanup();
  await receiver?.close();
  await sms?.close();
});

test(`every answered attempt survives ${KILLS} SIGKILLs and its event arrives at least once`, { timeout: 600000 }, async (t) => {
  receiver = await startReceiver();
  sms = await startSmsCapture();
  server = new Smartauth({
    name: 'crash',
    env: {
      SMARTAUTH_SMS_GATEWAY_URL: sms.url,
      // One key for every start (else the first start writes master.key, which would do as well).
      SMARTAUTH_MASTER_KEY: crypto.randomBytes(32).toString('base64'),
      SMARTAUTH_INTEL_DIR: emptyDir(),
      SMARTAUTH_MODELS_DIR: emptyDir(),
    },
  });
  await server.start();
  const tenant = await server.newTenant('crash');
  // pix: a known device at a known place is approved at once, anything else pending;
  // tight: two attempts per person an hour, then reproved (a hard block).
  await tenant.setPolicy('pix', { maxAttemptsPerIdentity: { limit: 100000, windowSeconds: 3600 } });
  await tenant.setPolicy('tight', { maxAttemptsPerIdentity: { limit: 2, windowSeconds: 3600 } });
  for (const p of PERSONS) {
    await tenant.createIdentity(p);
    const first = must(await tenant.attempt(p, 'pix', `known-${p}`), `first attempt of ${p}`);
    assert.equal((await tenant.approveBySms(first.attemptId, sms)).status, 'approved');
  }
  const hook = await tenant.subscribe(`${receiver.base}/crash`, ['authentication.approved', 'authentication.pending', 'authentication.reproved']);

  // The load: each loop picks a person and one of three kinds of attempt, and records every 2xx.
  const answered = new Map(); // attemptId -> status
  const counts = { sent: 0, ok: 0, refused: 0, failed: 0, non2xx: {} };
  let stop = false;
  const loop = async (n) => {
    let i = 0;
    while (!stop) {
      const p = PERSONS[(n + i) % PERSONS.length];
      const kind = i++ % 3;
      const [policy, fp, at] = kind === 0 ? ['pix', `known-${p}`, SAO_PAULO] : kind === 1 ? ['pix', `new-${p}-${n}-${i}`, RIO] : ['tight', `known-${p}`, SAO_PAULO];
      counts.sent++;
      try {
        const a = await tenant.attempt(p, policy, fp, at, { timeout: 10000 });
        if (a.status >= 200 && a.status < 300) {
          counts.ok++;
          assert.ok(a.body.attemptId && a.body.status, JSON.stringify(a.body));
          answered.set(a.body.attemptId, a.body.status);
        } else {
          counts.non2xx[a.status] = (counts.non2xx[a.status] ?? 0) + 1;
          await sleep(50);
        }
      } catch {
        counts.failed++; // the server is down or was killed mid-request: the answer is lost, nothing is claimed
        await sleep(50);
      }
    }
  };
  const loops = Array.from({ length: LOOPS }, (_, n) => loop(n));

  const kills = [];
  for (let k = 0; k < KILLS; k++) {
    const wait = 300 + Math.floor(Math.random() * 1700);
    await sleep(wait);
    const before = answered.size;
    await server.kill();
    kills.push({ after: wait, answeredSoFar: before });
    await sleep(100 + Math.floor(Math.random() * 200));
    await server.start();
  }
  await sleep(1000); // some load after the last restart
  stop = true;
  await Promise.all(loops);
  t.diagnostic(`load: ${counts.sent} sent, ${counts.ok} answered 2xx, ${counts.failed} refused or cut off by the kills and restarts, non-2xx ${JSON.stringify(counts.non2xx)}; kills after ${kills.map((k) => k.after).join(', ')} ms`);
  assert.equal(kills.length, KILLS);
  assert.ok(answered.size >= 50, `enough load to mean something: ${answered.size} attempts answered`);
  const statuses = {};
  for (const s of answered.values()) statuses[s] = (statuses[s] ?? 0) + 1;
  t.diagnostic(`answered attempts by status: ${JSON.stringify(statuses)}`);

  // Every 2xx attempt exists, with the status it was answered with.
  const ids = [...answered.keys()];
  const wrong = [];
  for (let i = 0; i < ids.length; i += 8) {
    await Promise.all(ids.slice(i, i + 8).map(async (id) => {
      const a = await tenant.call('GET', `/authentications/${id}`);
      if (a.status !== 200 || a.body.status !== answered.get(id)) wrong.push({ id, answered: answered.get(id), now: a.status === 200 ? a.body.status : `HTTP ${a.status}` });
    }));
  }
  assert.deepEqual(wrong, [], `answered attempts missing or changed after the kills (${wrong.length} of ${ids.length})`);

  // The queue drains (a delivery leased by a killed process waits for its lease, 60 s, before another try).
  const drainStart = Date.now();
  let pending = [];
  await waitFor(async () => {
    const ds = await tenant.deliveries(hook.id);
    pending = ds.filter((d) => d.status === 'pending');
    return pending.length === 0 && ds;
  }, { timeout: 120000, interval: 1000, what: 'no pending delivery' }).catch((e) => {
    t.diagnostic(`still pending: ${pending.length}: ${JSON.stringify(pending.slice(0, 3))}`);
    throw e;
  });
  const drained = Date.now() - drainStart;
  const listed = await tenant.deliveries(hook.id);
  const failedDeliveries = listed.filter((d) => d.status !== 'delivered');
  assert.deepEqual(failedDeliveries, [], 'every delivery is delivered in the end');

  // What the receiver got: verified, deduplicated by webhook-id.
  const byId = new Map();
  let duplicates = 0;
  for (const r of receiver.at('crash')) {
    const event = verifyDelivery(r.raw, r.headers, hook.secret); // npm standardwebhooks, the tenant's snippet
    if (byId.has(r.headers['webhook-id'])) {
      duplicates++;
      assert.deepEqual(event, byId.get(r.headers['webhook-id']), 'a duplicate carries the same event');
    } else {
      byId.set(r.headers['webhook-id'], event);
    }
  }
  const byAttempt = new Map();
  for (const e of byId.values()) {
    const list = byAttempt.get(e.data.attemptId) ?? [];
    list.push(e.type);
    byAttempt.set(e.data.attemptId, list);
  }
  const missing = ids.filter((id) => !(byAttempt.get(id) ?? []).includes(`authentication.${answered.get(id)}`));
  // Events of attempts whose answer was lost in a kill: they were committed, so they exist too.
  const unanswered = [...byAttempt.keys()].filter((id) => !answered.has(id));
  for (const id of unanswered) {
    const a = await tenant.call('GET', `/authentications/${id}`);
    assert.equal(a.status, 200, `an event's attempt ${id} exists`);
  }
  const twice = [...byAttempt.entries()].filter(([, types]) => types.length > 1);
  const figures = {
    attempts2xx: ids.length,
    kills: kills.length,
    deliveriesReceived: receiver.at('crash').length,
    distinctEvents: byId.size,
    duplicates,
    missing: missing.length,
    eventsForUnansweredAttempts: unanswered.length,
    attemptsWithTwoEventIds: twice.length,
    deliveriesListed: listed.length,
    drainMs: drained,
    answeredByStatus: statuses,
    requestsRefusedOrCutByKills: counts.failed,
  };
  t.diagnostic(`crash figures: ${JSON.stringify(figures)}`);
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, 'crash-figures.json'), JSON.stringify({ ...figures, kills, counts }, null, 2));
  assert.deepEqual(missing.slice(0, 10), [], `answered attempts whose event never arrived: ${missing.length} of ${ids.length}`);
  assert.deepEqual(twice.slice(0, 5), [], 'one event per attempt (a created attempt is not stepped up here)');
  assert.equal(listed.length, byId.size, 'the server lists as many deliveries as distinct events arrived');

  // The database is intact.
  await server.stop();
  const db = path.join(server.dataDir, 'smartauth.db');
  const check = execFileSync('python3', ['-c', 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); print(c.execute("PRAGMA integrity_check").fetchone()[0])', db], { encoding: 'utf8' }).trim();
  t.diagnostic(`PRAGMA integrity_check: ${check}`);
  assert.equal(check, 'ok');
});
