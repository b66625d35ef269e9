// Verifying a smartauth webhook delivery in Node (npm install standardwebhooks@1.1.1).
import crypto from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** The CloudEvent of a genuine delivery; throws WebhookVerificationError (answer 400) otherwise.
 *  rawBody: the request body exactly as received (a Buffer, not re-serialized JSON);
 *  headers: the request's headers (Node's lower-case names). */
export function verifyDelivery(rawBody, headers, webhookSecret /* "whsec_..." */) {
  return new Webhook(webhookSecret).verify(rawBody, {
    'webhook-id': headers['webhook-id'],
    'webhook-timestamp': headers['webhook-timestamp'],
    'webhook-signature': headers['webhook-signature'],
  });
}

/** X-Caf-Signature: hex HMAC-SHA256 of the raw body with the client secret. */
export function cafSignatureOk(rawBody, headers, clientSecret) {
  const expected = crypto.createHmac('sha256', clientSecret).update(rawBody).digest();
  const given = Buffer.from(String(headers['x-caf-signature'] ?? ''), 'hex');
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}
