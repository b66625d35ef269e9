// A demonstration, not a test (the kernel decides when a starved thread runs, so it cannot be made to
// happen on cue): a delivery that times out while the server's dispatcher waited for a CPU is `deferred`
// (sent again, not counted against the receiver). Pins the real binary's dispatcher thread (nice 19) to
// CPU 0 and adds busy processes there, 6 more every 20 s up to 36, until a deferral shows in the metrics;
// an event is made every second meanwhile. Then it frees the CPU, waits for every event, and prints each
// delivery's status and counted tries.
//   cargo build && node scripts/webhook-starvation-demo.mjs     (SMARTAUTH_BIN for another binary)
// Seen here (Linux 6.18, 2 cores), at 24 busy processes after 70 s: "waited 1058 of 1059 ms for a CPU";
// 71 deliveries of 70 events (the deferred one had reached the receiver: at least once), every delivery on
// its first counted try, no `failed` try. An earlier run at 18: "waited 24758 of 24811 ms".
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';

import { Smartauth, emptyDir, sleep, startReceiver } from '../tests/webhooks/harness.mjs';

let events = 0;
const receiver = await startReceiver();
const server = new Smartauth({
  name: 'starvation-demo',
  env: { SMARTAUTH_WEBHOOK_TIMEOUT_SECONDS: '1', SMARTAUTH_INTEL_DIR: emptyDir(), SMARTAUTH_MODELS_DIR: emptyDir() },
});
const hogs = [];
try {
  await server.start();
  const tenant = await server.newTenant();
  const hook = await tenant.subscribe(`${receiver.base}/hooks`, ['identity.created']);
  const metric = async (outcome) => {
    const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.adminToken}` } });
    const line = (await res.text()).split('\n').find((l) => l.startsWith(`smartauth_webhook_deliveries_total{outcome="${outcome}"}`));
    return Number(line?.split(' ').pop() ?? 0);
  };
  const task = `/proc/${server.proc.pid}/task`;
  const dispatcher = fs.readdirSync(task).find((tid) => fs.readFileSync(`${task}/${tid}/comm`, 'utf8').trim() === 'webhooks');
  execFileSync('taskset', ['-p', '-c', '0', dispatcher], { stdio: 'ignore' });
  const start = Date.now();
  while ((await metric('deferred')) === 0 && hogs.length < 36) {
    for (let i = 0; i < 6; i++) hogs.push(spawn('taskset', ['-c', '0', 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' }));
    console.log(`${hogs.length} busy processes on CPU 0`);
    // An event a second while the CPU is taken (the answering threads run on the other CPU).
    for (let s = 0; s < 20 && (await metric('deferred')) === 0; s++) {
      await tenant.createIdentity(`starved-${events++}`);
      await sleep(1000);
    }
  }
  console.log(`deferred: ${await metric('deferred')}, failed: ${await metric('failed')} after ${((Date.now() - start) / 1000).toFixed(0)} s`);
  hogs.splice(0).forEach((h) => h.kill('SIGKILL'));
  while (new Set(receiver.at('hooks').map((r) => r.headers['webhook-id'])).size < events) await sleep(200);
  await sleep(500);
  const tries = (await tenant.deliveries(hook.id)).map((d) => `${d.status} after ${d.tries}`);
  console.log(`received ${receiver.at('hooks').length} deliveries of ${events} events; deliveries: ${[...new Set(tries)].join(', ')}; failed: ${await metric('failed')}`);
  for (const line of fs.readFileSync(server.logPath, 'utf8').split('\n').filter((l) => l.includes('not counted against'))) {
    console.log(line.replace(/^.*error=/, '  '));
  }
} finally {
  hogs.forEach((h) => h.kill('SIGKILL'));
  await server.stop();
  server.cleanup();
  await receiver.close();
}
