// What the browser tests (tests/browser) and the webhook tests (tests/webhooks) share: waiting, free ports,
// an SMS gateway that captures what it gets, and JSON calls to the API. Node's built-ins only, so that each
// suite imports it without packages of its own.
import http from 'node:http';
import net from 'node:net';

export const SAO_PAULO = { latitude: -23.56, longitude: -46.6376, accuracy: 20 };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** Polls `fn` until it returns a truthy value; throws with `what` after `timeout` ms. */
export async function waitFor(fn, { timeout = 15000, interval = 100, what = 'a condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await sleep(interval);
  }
}

/** An SMS gateway on a free port: keeps every `{to, message}` it is sent, and answers 202. */
export async function startSmsCapture() {
  const messages = [];
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    try {
      messages.push({ ...JSON.parse(Buffer.concat(chunks).toString('utf8')), at: Date.now() });
      res.writeHead(202, { 'Content-Type': 'application/json' }).end('{"ok":true}');
    } catch {
      res.writeHead(400).end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const digits = (s) => String(s).replace(/\D/g, '');
  return {
    url: `http://127.0.0.1:${server.address().port}/sms`,
    messages,
    /** The messages sent to `phone` so far. */
    to: (phone) => messages.filter((m) => digits(m.to) === digits(phone)),
    /** Waits for the `n`-th (1-based) message to `phone`. */
    async nth(phone, n, timeout = 15000) {
      return waitFor(() => this.to(phone)[n - 1], { timeout, what: `SMS number ${n} to ${phone}` });
    },
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

/** A JSON call: the status, the body (parsed when it is JSON) and the headers. */
export async function call(url, method, pathname, token, body, { timeout = 15000 } = {}) {
  const r = await fetch(url + pathname, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(timeout),
  });
  const text = await r.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: r.status, body: parsed, headers: r.headers };
}

/** The body of `answer`, when its status is one of `statuses`; else an error naming `what`. */
export function must(answer, what, statuses = [200]) {
  if (!statuses.includes(answer.status)) throw new Error(`${what}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}
