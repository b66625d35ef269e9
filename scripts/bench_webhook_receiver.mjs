// The webhook receiver of `scripts/bench.sh --webhooks` (Node 20, node:http only).
//
//   node scripts/bench_webhook_receiver.mjs PORT
//
// Answers every POST with 204 at once and keeps, for each one: when it arrived (ms since the epoch), its
// `webhook-id` and the CloudEvent's `time` and `type`. It does not verify signatures: the bench measures
// the server, and the tests (scripts/webhook-test.sh) check the signatures.
//   GET /count   {"received": deliveries, "distinct": distinct webhook-ids}
//   GET /dump    every delivery, one a line: "arrived_ms event_time_ms webhook-id type"
// Prints "listening PORT" once it listens.
import http from 'node:http';

const port = Number(process.argv[2]);
// performance.timeOrigin + performance.now(): sub-millisecond, and on the same clock as Date.now().
const now = () => performance.timeOrigin + performance.now();
const lines = [];
const seen = new Set();

const server = http.createServer((req, res) => {
  if (req.method === 'POST') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const arrived = now();
      const id = String(req.headers['webhook-id'] ?? '');
      let time = NaN;
      let type = '-';
      try {
        const event = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        time = Date.parse(event.time);
        type = event.type ?? '-';
      } catch {
        // counted, with no time: the report shows such deliveries as unparsed
      }
      lines.push(`${arrived.toFixed(3)} ${Number.isNaN(time) ? '-' : time} ${id || '-'} ${type}`);
      seen.add(id);
      res.writeHead(204);
      res.end();
    });
    return;
  }
  if (req.url === '/count') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ received: lines.length, distinct: seen.size }));
    return;
  }
  if (req.url === '/dump') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(lines.length ? lines.join('\n') + '\n' : '');
    return;
  }
  res.writeHead(404);
  res.end();
});
// The server's fetcher may keep connections open between deliveries; keep them as long as it wants.
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => console.log(`listening ${port}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
